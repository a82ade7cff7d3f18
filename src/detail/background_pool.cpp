// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/background.hpp>

#include "detail/current_pid.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <unistd.h>

namespace proxystore::detail {
namespace {

/// A fixed set of worker threads draining one FIFO queue. Bounded in
/// threads, so a burst of resolve_async() calls cannot spawn a thread each.
class BackgroundPool {
 public:
  explicit BackgroundPool(std::size_t threads) {
    workers_.reserve(threads);
    for (std::size_t i = 0; i < threads; ++i)
      workers_.emplace_back([this] { work(); });
  }

  BackgroundPool(const BackgroundPool&) = delete;
  BackgroundPool& operator=(const BackgroundPool&) = delete;

  ~BackgroundPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (auto& worker : workers_)
      worker.join();  // drains the queue first
  }

  void submit(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(task));
    }
    ready_.notify_one();
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (queue_.empty())
          return;  // stopping and drained
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

std::size_t pool_size() {
  const std::size_t cores = std::max(1U, std::thread::hardware_concurrency());
  return std::clamp<std::size_t>(cores, 2, 8);
}

/// The process's pool, restarted in a forked child: threads do not survive
/// fork(), so the inherited pool has workers that will never run a task.
class PoolSlot {
 public:
  PoolSlot() = default;
  PoolSlot(const PoolSlot&) = delete;
  PoolSlot& operator=(const PoolSlot&) = delete;
  ~PoolSlot() {
    // At exit of a child that never submitted: the inherited pool's
    // threads are not ours to join; leave it (its memory goes with us).
    if (pid_ != current_pid())
      (void)pool_.release();  // NOLINT(bugprone-unused-return-value): deliberate leak
  }

  void submit(std::function<void()> task) {
    BackgroundPool* pool = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!pool_ || pid_ != current_pid()) {
        // Never join or destroy the parent's pool here: its threads do
        // not exist in this process and its mutex may be held forever.
        (void)pool_.release();  // NOLINT(bugprone-unused-return-value): deliberate leak
        pool_ = std::make_unique<BackgroundPool>(pool_size());
        pid_ = current_pid();
      }
      pool = pool_.get();
    }
    pool->submit(std::move(task));
  }

 private:
  std::mutex mutex_;
  std::unique_ptr<BackgroundPool> pool_;
  pid_t pid_ = 0;
};

}  // namespace

void run_in_background(std::function<void()> task) {
  static PoolSlot slot;
  slot.submit(std::move(task));
}

}  // namespace proxystore::detail
