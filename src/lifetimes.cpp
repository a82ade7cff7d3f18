// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/lifetimes.hpp>
#include <proxystore/store.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <thread>

namespace proxystore {

// --- Lifetime -------------------------------------------------------------------

Lifetime::Lifetime(std::string description) : description_(std::move(description)) {}

Lifetime::~Lifetime() {
  close_quietly();
}

void Lifetime::add(Store& store, const Key& key) {
  add_object(store, key, std::nullopt);
}

void Lifetime::add(Store& store, const Key& key, clock::time_point written_until) {
  add_object(store, key, written_until);
}

void Lifetime::add_object(Store& store, const Key& key,
                          std::optional<clock::time_point> written_until) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_) {
      throw LifetimeError(fmt::format("{}: cannot take key '{}' of store '{}': it has ended",
                                      description_, detail::printable(key.id),
                                      detail::printable(store.name())));
    }
    objects_.emplace_back(detail::StoreAccess::shared(store), key);
  }
  on_add_written(store, key, written_until);
}

std::optional<Lifetime::WriteExpiry> Lifetime::expiry_for(const Store& store) const {
  (void)store;
  return std::nullopt;
}

void Lifetime::on_add(Store& store, const Key& key) {
  (void)store;
  (void)key;
}

void Lifetime::on_add_written(Store& store, const Key& key,
                              std::optional<clock::time_point> written_until) {
  (void)written_until;
  on_add(store, key);
}

void Lifetime::close() {
  std::vector<std::pair<std::shared_ptr<Store>, Key>> objects;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_)
      return;
    done_ = true;
    objects.swap(objects_);
  }
  on_end();
  std::exception_ptr first;
  for (auto& [store, key] : objects) {
    try {
      store->evict(key);
    } catch (...) {
      if (!first)
        first = std::current_exception();
    }
  }
  if (first)
    std::rethrow_exception(first);
}

void Lifetime::close_quietly() noexcept {
  try {
    close();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "proxystore: %s: evicting its objects failed: %s\n", description_.c_str(),
                 e.what());
  } catch (...) {
    std::fprintf(stderr, "proxystore: %s: evicting its objects failed\n", description_.c_str());
  }
}

bool Lifetime::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

std::size_t Lifetime::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return objects_.size();
}

// --- ContextLifetime ------------------------------------------------------------

ContextLifetime::ContextLifetime() : Lifetime("context lifetime") {}

ContextLifetime::~ContextLifetime() {
  close_quietly();
}

// --- LeaseLifetime --------------------------------------------------------------

struct LeaseLifetime::Timer {
  std::thread thread;
};

namespace {
std::shared_ptr<Store> checked_store(std::shared_ptr<Store> store) {
  if (!store)
    throw Error("lease lifetime: the store is null");
  return store;
}
}  // namespace

LeaseLifetime::LeaseLifetime(std::shared_ptr<Store> store, std::chrono::milliseconds duration)
    : Lifetime(fmt::format("lease lifetime on store '{}'", checked_store(store)->name())),
      store_(std::move(store)),
      deadline_(clock::now() + duration) {
  if (duration.count() <= 0) {
    throw Error(fmt::format("{}: the duration must be positive, got {} ms", description(),
                            duration.count()));
  }
  timer_ = std::make_unique<Timer>();
  timer_->thread = std::thread([this] { run_timer(); });
}

LeaseLifetime::~LeaseLifetime() {
  close_quietly();  // wakes the timer (on_end)
  if (timer_ && timer_->thread.joinable())
    timer_->thread.join();
}

std::optional<Lifetime::WriteExpiry> LeaseLifetime::expiry_for(const Store& store) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (done_ || &store != store_.get())
    return std::nullopt;
  const std::chrono::milliseconds left = remaining_locked();
  if (left.count() <= 0)
    return std::nullopt;  // running out: add() then evicts at once
  return WriteExpiry{left, deadline_};
}

void LeaseLifetime::on_add(Store& store, const Key& key) {
  on_add_written(store, key, std::nullopt);
}

void LeaseLifetime::on_add_written(Store& store, const Key& key,
                                   std::optional<clock::time_point> written_until) {
  if (&store != store_.get()) {
    // Not ours: take it back out, then refuse it.
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = objects_.begin(); it != objects_.end(); ++it) {
        if (it->first.get() == &store && it->second == key) {
          objects_.erase(it);
          break;
        }
      }
    }
    throw LifetimeError(fmt::format("{}: cannot take key '{}' of another store '{}'", description(),
                                    detail::printable(key.id), detail::printable(store.name())));
  }
  std::chrono::milliseconds left{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Written with the TTL of the current deadline: nothing to send.
    if (written_until && *written_until == deadline_)
      return;
    left = remaining_locked();
  }
  // Without a value yet (a future's key) the store keeps the lease beside
  // the key, and the value is written with it (RedisStore: `<key>:lease`).
  detail::StoreAccess::expire(store, key, left);
}

void LeaseLifetime::extend(std::chrono::milliseconds duration) {
  std::vector<Key> keys;
  std::chrono::milliseconds left{};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (done_) {
      throw LifetimeError(fmt::format("{}: cannot extend it: it has ended", description()));
    }
    deadline_ += duration;
    left = remaining_locked();
    keys.reserve(objects_.size());
    for (const auto& object : objects_)
      keys.push_back(object.second);
  }
  wake_.notify_all();
  for (const Key& key : keys)
    detail::StoreAccess::expire(*store_, key, left);
}

std::chrono::milliseconds LeaseLifetime::remaining() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return remaining_locked();
}

std::chrono::milliseconds LeaseLifetime::remaining_locked() const {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - clock::now());
  return left.count() > 0 ? left : std::chrono::milliseconds(0);
}

void LeaseLifetime::on_end() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);  // orders the notify after done_ = true
  wake_.notify_all();
}

void LeaseLifetime::run_timer() noexcept {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!done_) {
    if (clock::now() >= deadline_) {
      lock.unlock();
      close_quietly();  // objects on a server-expiring store are already gone
      return;
    }
    wake_.wait_until(lock, deadline_);
  }
}

// --- StaticLifetime -------------------------------------------------------------

StaticLifetime::StaticLifetime() : Lifetime("static lifetime") {}

StaticLifetime::~StaticLifetime() {
  close_quietly();
}

std::shared_ptr<StaticLifetime> StaticLifetime::instance() {
  static const std::shared_ptr<StaticLifetime> lifetime(new StaticLifetime());
  // Registered after `lifetime` is complete, so it runs before `lifetime`
  // is destroyed.
  static const bool hooked = [] {
    std::atexit([] { lifetime->close_quietly(); });
    return true;
  }();
  (void)hooked;
  return lifetime;
}

}  // namespace proxystore
