// SPDX-License-Identifier: Apache-2.0
// The resolution state one Proxy<T> shares with all of its copies.
#pragma once

#include <proxystore/detail/background.hpp>
#include <proxystore/fwd.hpp>

#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <utility>

// Marks the rarely taken paths of an access (first resolution, an empty
// proxy's error) so the compiler keeps them out of line: the inlined fast
// path then needs no stack frame of its own — one load of the state, one
// acquire load of the target pointer, the target's own code.
#if defined(__GNUC__) || defined(__clang__)
#define PROXYSTORE_DETAIL_COLD __attribute__((noinline, cold))
#elif defined(_MSC_VER)
#define PROXYSTORE_DETAIL_COLD __declspec(noinline)
#else
#define PROXYSTORE_DETAIL_COLD
#endif

namespace proxystore::detail {

/// Holds the factory and, once resolved, the target. `target_` is the fast
/// path: a resolved access is one acquire load and a dereference. Every
/// other transition happens under `mutex_`, which is per proxy (never
/// global), so at most one thread runs the factory at a time and a
/// successful resolution happens exactly once.
template <class T>
class ProxyState {
 public:
  explicit ProxyState(Factory<T> factory) : factory_(std::move(factory)) {}

  /// Already resolved to `target` (populate_target).
  ProxyState(Factory<T> factory, T&& target) : factory_(std::move(factory)) {
    value_.emplace(std::move(target));
    target_.store(&*value_, std::memory_order_release);
  }

  ProxyState(const ProxyState&) = delete;
  ProxyState& operator=(const ProxyState&) = delete;

  /// Waits for a background resolution still queued or running, so no
  /// task outlives the state it writes to.
  ~ProxyState() {
    std::unique_lock<std::mutex> lock(mutex_);
    task_done_.wait(lock, [this] { return !task_pending_; });
  }

  T& get() {
    if (T* target = target_.load(std::memory_order_acquire))
      return *target;
    return resolve_slow();
  }

  bool resolved() const noexcept { return target_.load(std::memory_order_acquire) != nullptr; }

  const Factory<T>& factory() const noexcept { return factory_; }

  /// Starts resolving on the background pool unless resolved, started, or
  /// being resolved right now: then the mutex is held for the whole factory
  /// call, and resolve_async must return at once, not wait for it.
  void resolve_async() {
    {
      std::unique_lock<std::mutex> lock(mutex_, std::try_to_lock);
      if (!lock || resolved() || task_pending_)
        return;
      task_pending_ = true;
      task_error_ = nullptr;
    }
    try {
      run_in_background([this]() noexcept { run_task(); });
    } catch (...) {  // not queued: the destructor must not wait for it
      std::lock_guard<std::mutex> lock(mutex_);
      task_pending_ = false;
      task_done_.notify_all();
      throw;
    }
  }

 private:
  PROXYSTORE_DETAIL_COLD T& resolve_slow() {
    std::lock_guard<std::mutex> lock(mutex_);  // a running task holds it: we wait for it
    if (T* target = target_.load(std::memory_order_relaxed))
      return *target;
    if (task_error_) {  // the background attempt failed: report it once
      std::rethrow_exception(std::exchange(task_error_, nullptr));
    }
    return resolve_locked();
  }

  T& resolve_locked() {
    value_.emplace(factory_());
    target_.store(&*value_, std::memory_order_release);
    return *value_;
  }

  void run_task() noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!resolved()) {
      try {
        resolve_locked();
      } catch (...) {
        task_error_ = std::current_exception();
      }
    }
    task_pending_ = false;
    task_done_.notify_all();
  }

  Factory<T> factory_;
  std::atomic<T*> target_{nullptr};
  std::optional<T> value_;

  std::mutex mutex_;
  std::condition_variable task_done_;
  bool task_pending_ = false;      // a background task is queued or running
  std::exception_ptr task_error_;  // its failure, until one access reports it
};

}  // namespace proxystore::detail
