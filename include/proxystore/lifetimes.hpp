// SPDX-License-Identifier: Apache-2.0
/// \file
/// Lifetimes: objects registered with a lifetime are evicted when it ends.
#pragma once

// A Lifetime collects (store, key) pairs and evicts them all when it ends.
// Give one to a store through ProxyOptions::lifetime and every object that
// `store.proxy()` / `proxy_batch()` / `owned_proxy()` creates is registered
// with it:
//
//   auto scope = std::make_shared<ContextLifetime>();
//   ProxyOptions options;
//   options.lifetime = scope;
//   auto p = store->proxy(big, options);   // evicted when `scope` ends
//
// Lifetimes are shared (std::shared_ptr) because options are copied; a
// lifetime ends at `close()`, or when the last shared_ptr to it is
// released, whichever comes first. Ending is idempotent. Registering with a
// lifetime that has ended throws LifetimeError (and the store evicts the
// object it just wrote, so nothing leaks).
//
//   ContextLifetime  a scope: ends when the scope's shared_ptr dies (also
//                    during exception unwinding) or at close().
//   LeaseLifetime    ends `duration` after creation unless extend()ed. On a
//                    store with server-side expiry (RedisStore,
//                    RedisClusterStore) every write carries the lease's TTL
//                    in the same command (`SET ... PX`, also for chunks and
//                    a future's result), so the *server* expires the
//                    objects and a producer killed with SIGKILL at any
//                    point leaks nothing; on other stores one timer thread
//                    per lease evicts them at the deadline (the objects
//                    leak if the process dies first).
//   StaticLifetime   one per process: ends at normal process exit.
//
// A lifetime holds a shared_ptr to each store it has objects in, so the
// stores live until it ends. Create stores with std::make_shared: a store
// not owned by a shared_ptr is referenced without ownership and must
// outlive the lifetime.

#include <proxystore/key.hpp>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace proxystore {

class Store;

/// Base of every lifetime: the set of objects it will evict when it ends.
/// Thread-safe.
class Lifetime {
 public:
  Lifetime(const Lifetime&) = delete;
  Lifetime& operator=(const Lifetime&) = delete;
  Lifetime(Lifetime&&) = delete;
  Lifetime& operator=(Lifetime&&) = delete;
  /// Ends the lifetime if it has not ended (errors are reported to stderr,
  /// never thrown).
  virtual ~Lifetime();

  /// The clock deadlines are measured on.
  using clock = std::chrono::steady_clock;

  /// The expiry a store writes new objects of this lifetime with.
  struct WriteExpiry {
    /// The time to live to write with (positive).
    std::chrono::milliseconds ttl;
    /// The lifetime's deadline `ttl` was computed from; handed back to
    /// add() so the lifetime knows whether it moved meanwhile.
    clock::time_point deadline;
  };

  /// Registers `key` of `store`: it is evicted when the lifetime ends.
  /// (A LeaseLifetime also gives the key its TTL now; a key with no value
  /// yet, e.g. a future's, keeps the lease on the server side so the value
  /// is written with it.)
  /// @throws LifetimeError if the lifetime has ended, or (LeaseLifetime)
  ///         `store` is not the store it leases from.
  void add(Store& store, const Key& key);

  /// Registers `key` of `store`, already written with the TTL of
  /// `expiry_for(store)` whose deadline was `written_until`: nothing more
  /// is sent unless the deadline has moved since.
  /// @throws LifetimeError as add(store, key).
  void add(Store& store, const Key& key, clock::time_point written_until);

  /// The TTL new objects of `store` should be written with so that the
  /// server expires them with this lifetime (LeaseLifetime on its own
  /// store, while it runs), or nullopt: write without one (other
  /// lifetimes, other stores, an ended lease).
  virtual std::optional<WriteExpiry> expiry_for(const Store& store) const;

  /// Ends the lifetime now: evicts every registered object. Idempotent.
  /// Tries every object, then rethrows the first eviction failure.
  void close();

  /// Whether the lifetime has ended.
  bool done() const;

  /// Objects registered and not yet evicted.
  std::size_t size() const;

  /// What the lifetime is, for messages (e.g. "context lifetime").
  const std::string& description() const noexcept { return description_; }

 protected:
  /// A live lifetime; `description` names it in messages.
  explicit Lifetime(std::string description);

  /// Called after `key` was registered (outside the lock).
  virtual void on_add(Store& store, const Key& key);
  /// Called after `key`, written with the TTL of the deadline
  /// `written_until` (nullopt: without a TTL), was registered (outside the
  /// lock). The default calls on_add(store, key).
  virtual void on_add_written(Store& store, const Key& key,
                              std::optional<clock::time_point> written_until);
  /// Called once, when the lifetime ends, before its objects are evicted.
  virtual void on_end() noexcept {}

  /// close() that reports a failure to stderr instead of throwing.
  void close_quietly() noexcept;

  /// Guards the state below and that of derived classes.
  mutable std::mutex mutex_;
  /// Whether the lifetime has ended (guarded by mutex_).
  bool done_ = false;
  /// The registered objects not yet evicted (guarded by mutex_).
  std::vector<std::pair<std::shared_ptr<Store>, Key>> objects_;

 private:
  void add_object(Store& store, const Key& key, std::optional<clock::time_point> written_until);

  const std::string description_;
};

/// A scope: every object created with it is evicted when it ends — when
/// the last shared_ptr to it dies (scope exit, also while unwinding an
/// exception) or at `close()`.
class ContextLifetime final : public Lifetime {
 public:
  ContextLifetime();
  ~ContextLifetime() override;

  ContextLifetime(const ContextLifetime&) = delete;
  ContextLifetime& operator=(const ContextLifetime&) = delete;
  ContextLifetime(ContextLifetime&&) = delete;
  ContextLifetime& operator=(ContextLifetime&&) = delete;
};

/// A lease on `store`: its objects are evicted `duration` after the lease
/// was created, unless extend()ed, or at close() / destruction, whichever
/// comes first. On a store with server-side expiry (RedisStore) every
/// object also carries the lease's deadline as a server TTL, so nothing
/// outlives the lease even if this process is killed; on other stores a
/// timer thread (one per lease, joined by the destructor) evicts them.
class LeaseLifetime final : public Lifetime {
 public:
  /// @throws Error if `store` is null or `duration` is not positive.
  LeaseLifetime(std::shared_ptr<Store> store, std::chrono::milliseconds duration);
  ~LeaseLifetime() override;

  LeaseLifetime(const LeaseLifetime&) = delete;
  LeaseLifetime& operator=(const LeaseLifetime&) = delete;
  LeaseLifetime(LeaseLifetime&&) = delete;
  LeaseLifetime& operator=(LeaseLifetime&&) = delete;

  /// Moves the deadline `duration` later (and the objects' server TTLs).
  /// @throws LifetimeError if the lease has already ended.
  void extend(std::chrono::milliseconds duration);

  /// Time left until the deadline (zero once it has passed).
  std::chrono::milliseconds remaining() const;

  /// The store the lease covers.
  const std::shared_ptr<Store>& store() const noexcept { return store_; }

  /// The time left, with the deadline, for writes to the leased store
  /// while the lease runs; nullopt for another store or once it has ended.
  std::optional<WriteExpiry> expiry_for(const Store& store) const override;

 protected:
  void on_add(Store& store, const Key& key) override;
  void on_add_written(Store& store, const Key& key,
                      std::optional<clock::time_point> written_until) override;
  void on_end() noexcept override;

 private:
  void run_timer() noexcept;
  std::chrono::milliseconds remaining_locked() const;

  std::shared_ptr<Store> store_;
  clock::time_point deadline_;  // guarded by mutex_
  std::condition_variable wake_;
  struct Timer;  // the timer thread (lifetimes.cpp: keeps <thread> out of here)
  std::unique_ptr<Timer> timer_;
};

/// Until normal process exit: one lifetime per process, ended by a hook
/// registered with std::atexit when it is first used.
///
/// Caveats: the hook runs only on a normal exit (return from main or
/// exit()); abort(), quick_exit(), _exit(), a crash or a signal skip it and
/// the objects stay in the store. The hook evicts through the stores it
/// holds (they are kept alive for it), so a remote store must still be
/// reachable at exit. Objects of a LocalStore die with the process anyway.
/// `close()` on the instance evicts now and ends it for the rest of the
/// process.
class StaticLifetime final : public Lifetime {
 public:
  /// The process's static lifetime.
  static std::shared_ptr<StaticLifetime> instance();

  ~StaticLifetime() override;

  StaticLifetime(const StaticLifetime&) = delete;
  StaticLifetime& operator=(const StaticLifetime&) = delete;
  StaticLifetime(StaticLifetime&&) = delete;
  StaticLifetime& operator=(StaticLifetime&&) = delete;

 private:
  StaticLifetime();
};

}  // namespace proxystore
