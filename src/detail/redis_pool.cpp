// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_pool.hpp"

namespace proxystore::detail {

RedisConnectionPool::Lease RedisConnectionPool::borrow() {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    returned_.wait(lock, [this] { return !idle_.empty() || open_ < capacity_; });
    if (!idle_.empty()) {
      std::unique_ptr<RedisConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return {this, std::move(connection), true};
    }
    ++open_;  // reserve the slot; connect without the lock
  }
  try {
    return {this, RedisConnection::open(endpoint_), false};
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --open_;
    }
    returned_.notify_one();
    throw;
  }
}

void RedisConnectionPool::give_back(std::unique_ptr<RedisConnection> connection) noexcept {
  std::vector<std::unique_ptr<RedisConnection>> closing;  // closed after unlocking
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (connection && connection->usable()) {
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
