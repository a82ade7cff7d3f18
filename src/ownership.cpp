// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/ownership.hpp>

#include <cstdio>
#include <exception>
#include <optional>
#include <utility>

namespace proxystore {

namespace {

void print_violation(const BorrowViolation& violation) {
  std::fprintf(stderr, "proxystore: %s\n", violation.message.c_str());
}

std::mutex& handler_mutex() {
  static std::mutex mutex;
  return mutex;
}

BorrowViolationHandler& handler_slot() {
  static BorrowViolationHandler handler;  // empty: print_violation
  return handler;
}

void report(const BorrowViolation& violation) noexcept {
  try {
    BorrowViolationHandler handler;
    {
      std::lock_guard<std::mutex> lock(handler_mutex());
      handler = handler_slot();
    }
    if (handler)
      handler(violation);
    else
      print_violation(violation);
  } catch (...) {  // NOLINT(bugprone-empty-catch): called from a destructor; must not throw
  }
}

}  // namespace

BorrowViolationHandler set_borrow_violation_handler(BorrowViolationHandler handler) {
  std::lock_guard<std::mutex> lock(handler_mutex());
  return std::exchange(handler_slot(), std::move(handler));
}

namespace detail {

Ownership::Ownership(std::shared_ptr<Store> store, Key key)
    : store_(std::move(store)), key_(std::move(key)) {}

std::string Ownership::describe_locked() const {
  if (mutable_)
    return "a mutable borrow is live";
  return fmt::format("{} shared borrow{} live", shared_, shared_ == 1 ? " is" : "s are");
}

void Ownership::acquire_shared() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mutable_) {
    throw BorrowError(fmt::format("store '{}' key '{}': cannot borrow it (shared): {}",
                                  detail::printable(store_->name()), detail::printable(key_.id),
                                  describe_locked()));
  }
  ++shared_;
}

void Ownership::release_shared() noexcept {
  bool evict = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    --shared_;
    evict = !owner_alive_ && shared_ == 0 && !mutable_;
  }
  if (evict)
    evict_quietly();
}

void Ownership::acquire_mut() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mutable_ || shared_ > 0) {
    throw BorrowError(fmt::format("store '{}' key '{}': cannot borrow it mutably: {}",
                                  detail::printable(store_->name()), detail::printable(key_.id),
                                  describe_locked()));
  }
  mutable_ = true;
}

void Ownership::release_mut() noexcept {
  bool evict = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    mutable_ = false;
    evict = !owner_alive_ && shared_ == 0;
  }
  if (evict)
    evict_quietly();
}

void Ownership::check_owner_access() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (mutable_) {
    throw BorrowError(fmt::format("store '{}' key '{}': cannot use the owner: {}",
                                  detail::printable(store_->name()), detail::printable(key_.id),
                                  describe_locked()));
  }
}

void Ownership::release_owner() noexcept {
  bool borrowed = false;
  std::optional<BorrowViolation> violation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    owner_alive_ = false;
    borrowed = shared_ > 0 || mutable_;
    if (borrowed) {
      try {
        violation = BorrowViolation{
            store_->name(), key_, shared_, mutable_,
            fmt::format("store '{}' key '{}': the owner was destroyed while borrowed ({}); the "
                        "object is evicted when the last borrow ends",
                        detail::printable(store_->name()), detail::printable(key_.id),
                        describe_locked())};
      } catch (...) {  // NOLINT(bugprone-empty-catch): out of memory; the eviction still waits
      }
    }
  }
  if (!borrowed) {
    evict_quietly();  // the last borrow evicts otherwise
    return;
  }
  if (violation)
    report(*violation);
}

void Ownership::evict_quietly() noexcept {
  try {
    store_->evict(key_);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "proxystore: store '%s' key '%s': evicting an owned object failed: %s\n",
                 store_->name().c_str(), key_.id.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "proxystore: store '%s' key '%s': evicting an owned object failed\n",
                 store_->name().c_str(), key_.id.c_str());
  }
}

}  // namespace detail
}  // namespace proxystore
