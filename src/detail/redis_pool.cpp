// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_pool.hpp"

#include "detail/current_pid.hpp"

#include <unistd.h>

namespace proxystore::detail {

RedisConnectionPool::RedisConnectionPool(RedisEndpoint endpoint, std::size_t capacity)
    : endpoint_(std::move(endpoint)),
      capacity_(capacity == 0 ? 1 : capacity),
      pid_(current_pid()) {}

std::vector<std::unique_ptr<RedisConnection>> RedisConnectionPool::leave_parent_locked() {
  // The idle connections' sockets are shared with the parent: using one
  // would interleave two processes' commands and replies. Closing our copy
  // of the descriptor (all redisFree does; it sends nothing) leaves the
  // parent's connection intact. Connections the parent had borrowed at the
  // fork never come back here: their slots are forgotten too.
  pid_ = current_pid();
  ++generation_;
  open_ = 0;
  return std::exchange(idle_, {});
}

RedisConnectionPool::Lease RedisConnectionPool::borrow() {
  std::vector<std::unique_ptr<RedisConnection>> inherited;  // closed after unlocking
  std::uint64_t generation = 0;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (pid_ != current_pid())
      inherited = leave_parent_locked();
    returned_.wait(lock, [this] { return !idle_.empty() || open_ < capacity_; });
    generation = generation_;
    if (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return {this, std::move(connection), true, generation};
    }
    ++open_;  // reserve the slot; connect without the lock
  }
  inherited.clear();
  try {
    return {this, RedisConnection::open(endpoint_), false, generation};
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (generation == generation_)
        --open_;
    }
    returned_.notify_one();
    throw;
  }
}

void RedisConnectionPool::give_back(std::unique_ptr<RedisConnection> connection,
                                    std::uint64_t generation) noexcept {
  std::vector<std::unique_ptr<RedisConnection>> closing;  // closed after unlocking
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (generation != generation_ || pid_ != current_pid()) {
      // Borrowed before a fork: not ours to pool (nor to count).
    } else if (connection && connection->usable()) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
      if (connection && connection->failure() != RedisFailure::none) {
        // The server dropped or stalled this connection: the idle ones
        // most likely share its fate, so reconnect afresh next time.
        open_ -= idle_.size();
        closing = std::move(idle_);
        idle_.clear();
      }
    }
  }
  // Wake everyone if slots were freed in bulk.
  if (closing.empty()) {
    returned_.notify_one();
  } else {
    returned_.notify_all();
  }
  connection.reset();
}

std::size_t RedisConnectionPool::open_connections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return open_;
}

}  // namespace proxystore::detail
