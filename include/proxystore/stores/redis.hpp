// SPDX-License-Identifier: Apache-2.0
/// \file
/// RedisStore: objects in a Redis server, over hiredis.
#pragma once

#include <proxystore/store.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proxystore {

/// How a RedisStore connects and stores.
struct RedisOptions {
  /// ACL user (empty: the default user).
  std::string username;
  /// AUTH password. Never part of config(): a process that rebuilds the
  /// store from a proxy takes only the password bound to the store's
  /// host:port by PROXYSTORE_REDIS_AUTH or PROXYSTORE_REDIS_AUTH_FILE.
  std::string password;
  /// Database index (SELECT).
  int db = 0;
  /// Bound on establishing a connection.
  std::chrono::milliseconds connect_timeout{5000};
  /// Bound on each command's reply.
  std::chrono::milliseconds command_timeout{10000};
  /// Prepended to every key the store writes; the store never touches
  /// keys outside its prefix.
  std::string key_prefix = "proxystore:";
  /// Connections kept open for concurrent callers.
  std::size_t pool_size = 4;
  /// Values larger than this are split into chunks of this size (Redis
  /// refuses bulk strings over 512 MB by default). Must lie in
  /// [min_chunk_size, max_chunk_size]: a reader refuses a chunk manifest
  /// outside that range, so a forged manifest cannot make it send a GET
  /// per byte or reserve a chunk larger than Redis can hold.
  std::size_t chunk_size = std::size_t{256} << 20U;
  /// The smallest chunk_size a store accepts, and a manifest may name.
  static constexpr std::size_t min_chunk_size = std::size_t{1} << 10U;
  /// The largest chunk_size a store accepts, and a manifest may name
  /// (Redis's default limit on one bulk string).
  static constexpr std::size_t max_chunk_size = std::size_t{512} << 20U;
  /// Cache, metrics and limits.
  StoreOptions store;
};

/// A store on a Redis server. Thread-safe: callers share a small pool of
/// connections and no lock is held across a round trip. The constructor
/// does not connect; the first operation does, and raises ConnectionError
/// (naming host:port) if the server is unreachable. After the server comes
/// back the same store works again. Config: type "redis", options
/// hostname, port, db, username, key_prefix, connect_timeout_ms,
/// command_timeout_ms (never the password).
class RedisStore : public Store {
 public:
  /// A store on the Redis server at `hostname`:`port`. Does not connect.
  /// @throws Error on invalid arguments (empty hostname, port outside
  ///         1-65535, negative db or timeouts, zero pool size, chunk size outside
  ///         [RedisOptions::min_chunk_size, RedisOptions::max_chunk_size]).
  RedisStore(std::string name, std::string hostname, int port, RedisOptions options = {});
  ~RedisStore() override;
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  StoreConfig config() const override;

  /// Rebuilds a store from `config()` output. The password is the one
  /// bound to exactly this hostname:port by PROXYSTORE_REDIS_AUTH
  /// (comma-separated `host:port=password` or `host:port=user:password`)
  /// or PROXYSTORE_REDIS_AUTH_FILE (one entry per line; refused unless
  /// only its owner can access it), else none: a forged config naming
  /// another endpoint never receives it. An entry's user replaces the
  /// config's username. Timeouts are capped by StorePolicy::max_timeout
  /// (a config's 0 becomes the cap).
  /// @throws Error if an option is missing or malformed, or a credentials
  ///         entry or file is.
  static std::shared_ptr<RedisStore> from_config(const StoreConfig& config);

  /// The server's hostname, as given.
  const std::string& hostname() const noexcept;
  /// The server's port.
  int port() const noexcept;

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  std::optional<Bytes> do_get(const Key& key) override;
  /// Large values skip hiredis: the SET is one writev from `body`'s memory.
  /// (In a class derived from RedisStore, the parts are joined and go
  /// through its do_put, which it may have overridden.)
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  /// A large value's payload is received straight into the caller's object.
  /// (In a class derived from RedisStore, reads go through its do_get.)
  bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume) override;
  /// Random keys like do_new_key()'s, their bits drawn in one getrandom().
  /// (In a class derived from RedisStore, each comes from its do_new_key.)
  std::vector<Key> do_new_keys(std::size_t count) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;
  /// PING on a pooled connection (connecting first if none is open).
  void do_ping() override;
  void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) override;
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys) override;
  /// PEXPIRE on the key, its chunk keys and its future companion key; the
  /// lease marker `<key>:lease` gets the TTL too, so a future's result
  /// written later under the key is written with it.
  bool do_expire(const Key& key, std::chrono::milliseconds ttl) override;
  /// GET, else BRPOPLPUSH from the companion list `<key>:ready` to itself
  /// (the token stays for every waiter; on a dedicated connection, so a
  /// long wait never holds a pooled one), then GET.
  std::optional<Bytes> do_wait_get(const Key& key, std::chrono::milliseconds timeout) override;
  /// The value (chunks first if large) and a token on `<key>:ready` in one
  /// script, with the lease marker's TTL when the key has one.
  void do_put_result(const Key& key, std::string_view bytes) override;
  /// SET ... PX: the value and its TTL in one command (also for chunks and
  /// the large-value writev path). In a derived class: its do_put, then
  /// do_expire.
  void do_put_with_ttl(const Key& key, std::string_view bytes,
                       std::chrono::milliseconds ttl) override;
  /// As do_put_parts, with SET ... PX.
  void do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                             std::chrono::milliseconds ttl) override;
  /// Pipelined SET ... PX, one per value (MSET takes no TTL).
  void do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                             std::chrono::milliseconds ttl) override;
  /// As do_put_result, the value and the token written with `ttl`.
  void do_put_result_with_ttl(const Key& key, std::string_view bytes,
                              std::chrono::milliseconds ttl) override;

 private:
  /// Whether this object is a RedisStore itself, not a derived class.
  bool is_plain_redis_store() const noexcept;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxystore
