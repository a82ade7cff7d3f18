// SPDX-License-Identifier: Apache-2.0
// Private: a small pool of hiredis connections shared by the threads using
// one RedisStore.
#pragma once

#include "detail/redis_connection.hpp"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include <sys/types.h>

namespace proxystore::detail {

/// Up to `capacity` connections to one endpoint, opened lazily. A caller
/// borrows one for one operation through a Lease; when all are busy it
/// waits for one to come back (each holder's I/O is bounded by the
/// timeouts, so the wait is too). The mutex guards only the bookkeeping:
/// connecting and every round trip happen outside it.
///
/// A connection that failed, or still owes replies, is closed instead of
/// returned; an I/O failure also closes the idle ones (the server has
/// probably gone away or restarted), so the next operation reconnects.
///
/// Fork: the pool remembers the process that opened its connections. In
/// a forked child the first borrow forgets every inherited connection
/// (closing only the child's copy of each socket, which sends nothing, so
/// the parent's connections are undisturbed) and opens its own: two
/// processes never share a hiredis socket. As with any library, fork while
/// another thread is inside the pool is not supported.
class RedisConnectionPool {
 public:
  RedisConnectionPool(RedisEndpoint endpoint, std::size_t capacity);
  RedisConnectionPool(const RedisConnectionPool&) = delete;
  RedisConnectionPool& operator=(const RedisConnectionPool&) = delete;
  ~RedisConnectionPool() = default;

  /// A borrowed connection; gives it back (or closes it) when destroyed.
  class Lease {
   public:
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Lease(Lease&& other) noexcept
        : pool_(std::exchange(other.pool_, nullptr)),
          connection_(std::move(other.connection_)),
          reused_(other.reused_),
          generation_(other.generation_) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (pool_ != nullptr)
        pool_->give_back(std::move(connection_), generation_);
    }

    RedisConnection& operator*() const noexcept { return *connection_; }
    RedisConnection* operator->() const noexcept { return connection_.get(); }
    /// Whether the connection was opened by an earlier operation (and so
    /// may have been dropped by the server while idle).
    [[nodiscard]] bool reused() const noexcept { return reused_; }

   private:
    friend class RedisConnectionPool;
    Lease(RedisConnectionPool* pool, std::unique_ptr<RedisConnection> connection, bool reused,
          std::uint64_t generation)
        : pool_(pool),
          connection_(std::move(connection)),
          reused_(reused),
          generation_(generation) {}

    RedisConnectionPool* pool_;
    std::unique_ptr<RedisConnection> connection_;
    bool reused_;
    std::uint64_t generation_;  // the pool's generation when borrowed
  };

  /// An idle connection, or a new one (connecting outside the lock).
  /// @throws ConnectionError / TimeoutError if a new one cannot connect.
  Lease borrow();

  [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return endpoint_; }

  /// Open connections (idle and borrowed); for tests and diagnostics.
  [[nodiscard]] std::size_t open_connections() const;

 private:
  void give_back(std::unique_ptr<RedisConnection> connection, std::uint64_t generation) noexcept;
  /// In a forked child: forgets the parent's connections (mutex_ held).
  /// Returns them, to be closed after unlocking.
  std::vector<std::unique_ptr<RedisConnection>> leave_parent_locked();

  const RedisEndpoint endpoint_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<RedisConnection>> idle_;  // guarded by mutex_
  std::size_t open_ = 0;                                // guarded by mutex_
  pid_t pid_;                     // the process the connections belong to; guarded by mutex_
  std::uint64_t generation_ = 0;  // bumped on fork; guarded by mutex_
};

}  // namespace proxystore::detail
