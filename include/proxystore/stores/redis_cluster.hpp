// SPDX-License-Identifier: Apache-2.0
/// \file
/// RedisClusterStore: objects in a Redis Cluster (or Valkey/KeyDB in cluster
/// mode), over hiredis.
#pragma once

#include <proxystore/store.hpp>
#include <proxystore/stores/redis.hpp>

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

/// Cluster-only settings of a RedisClusterStore.
struct RedisClusterOptions {
  /// After each write, wait until this many replicas of the primary have
  /// acknowledged it (Redis's WAIT), and fail the write with
  /// StoreOperationError when fewer do within `wait_timeout`. 0 (the
  /// default) does not wait: Redis replicates asynchronously, so a write
  /// acknowledged just before its primary dies can be missing from the
  /// replica that takes over. With 1 on a cluster with one replica per
  /// primary, an acknowledged write survives the failover of its primary.
  int wait_replicas = 0;
  /// How long WAIT waits for the replicas: at most half the command
  /// timeout (so its answer comes before the read times out), at least
  /// 1 ms (Redis's WAIT would take 0 as "forever").
  std::chrono::milliseconds wait_timeout{1000};
};

/// A store on a Redis Cluster. Consumer code does not change: proxies of a
/// cluster store resolve like any other, in any process that can reach
/// one of the seed nodes.
///
/// The store learns the slot map (CLUSTER SLOTS) from any reachable seed
/// on its first operation, keeps a connection pool per primary, and
/// computes each key's slot locally (CRC16, hash tags), so a command goes
/// straight to its primary. It follows MOVED (updating its map) and ASK
/// (one ASKING, map unchanged), and retries connection failures, TRYAGAIN
/// and CLUSTERDOWN with backoff — reloading the map, so a failover is
/// followed — for at most the command timeout; then it throws
/// ConnectionError / TimeoutError naming the node's host:port (or the
/// slot no node serves).
///
/// Keys: an object's key is `<key_prefix>{<id>}`, so the key and its
/// future companion `<key_prefix>{<id>}:ready` share a slot; chunks of a
/// large value (`<key_prefix><id>:chunk:<i>`) are not tagged, so they
/// spread over the slots and a large get reads them from several primaries
/// in parallel. Batches are grouped by node and pipelined, nodes in
/// parallel: no batch ever fails with CROSSSLOT. A batch is not atomic
/// (neither is one on RedisStore).
///
/// Config: type "redis-cluster", options `seeds` (comma-separated
/// host:port), username, key_prefix, connect_timeout_ms,
/// command_timeout_ms, wait_replicas, wait_timeout_ms — never the password
/// (a rebuilding process binds a password to each node's host:port with
/// PROXYSTORE_REDIS_AUTH or PROXYSTORE_REDIS_AUTH_FILE, see RedisStore).
class RedisClusterStore : public Store {
 public:
  /// A store on the cluster reachable through any of `seed_nodes`
  /// ("host:port", IPv6 as "[::1]:7000"). Does not connect.
  /// @throws Error on invalid arguments: no seeds, a malformed seed,
  ///         db other than 0 (a cluster has only database 0), a key_prefix
  ///         containing '{' or '}' (it would change which slot keys hash
  ///         to), negative timeouts, zero pool size, chunk size outside
  ///         [RedisOptions::min_chunk_size, RedisOptions::max_chunk_size],
  ///         negative wait_replicas.
  RedisClusterStore(std::string name, std::vector<std::string> seed_nodes,
                    RedisOptions options = {}, RedisClusterOptions cluster = {});
  ~RedisClusterStore() override;
  RedisClusterStore(const RedisClusterStore&) = delete;
  RedisClusterStore& operator=(const RedisClusterStore&) = delete;

  StoreConfig config() const override;

  /// Rebuilds a store from `config()` output. Each node, seed or learned,
  /// gets only the password bound to its own host:port by
  /// PROXYSTORE_REDIS_AUTH or PROXYSTORE_REDIS_AUTH_FILE (as for
  /// RedisStore::from_config); timeouts are capped by
  /// StorePolicy::max_timeout.
  /// @throws Error if an option is missing or malformed.
  static std::shared_ptr<RedisClusterStore> from_config(const StoreConfig& config);

  /// The seed nodes, as given.
  const std::vector<std::string>& seed_nodes() const noexcept;

  /// Installs a check run before the store first connects to any node —
  /// a seed or one the cluster named (slot map, redirection). It throws
  /// (preferably ForbiddenStoreError) to refuse the node. A store rebuilt
  /// by get_or_create_store() gets the store policy's host check, so a
  /// forged proxy cannot steer it to a host the policy forbids.
  void set_node_check(std::function<void(const std::string& host, int port)> check);

  /// The cluster slot (0-16383) `key` is stored in.
  int slot_for_key(const Key& key) const;

  /// "host:port" of the primary serving `key`'s slot in the store's
  /// current slot map (loaded if needed; not refreshed).
  /// @throws ConnectionError if the map cannot be loaded or no node
  ///         serves the slot.
  std::string node_for_key(const Key& key);

  /// "host:port" of every primary in the current slot map (loaded if needed).
  std::vector<std::string> primaries();

  /// Reloads the slot map now (operations also do it by themselves when
  /// the cluster changes).
  void refresh_slot_map();

 protected:
  // Reads.
  std::optional<Bytes> do_get(const Key& key) override;
  /// A large value's payload is received straight into the caller's object
  /// from its primary (the chunks of a chunked one from all primaries).
  /// (In a class derived from RedisClusterStore, reads go through do_get.)
  bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume) override;
  /// One MGET per slot (a batch minted by this store has one slot per
  /// primary), the primaries' pipelines driven together from this thread.
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys) override;
  bool do_exists(const Key& key) override;
  /// Loads the slot map and PINGs every primary.
  void do_ping() override;

  // Writes.
  /// Keys for a batch, in one group per primary: the ids of a group share
  /// a hash tag naming one slot that primary serves, so its share of the
  /// batch goes in one MSET. (In a derived class: its do_new_key each.)
  std::vector<Key> do_new_keys(std::size_t count) override;
  void do_put(const Key& key, std::string_view bytes) override;
  /// A large value is written to its primary with one writev from `body`'s
  /// memory (no copy), unless replicas must acknowledge it (wait_replicas).
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  /// One MSET per slot (see do_new_keys), pipelined per primary.
  void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) override;
  /// SET ... PX for every value (MSET takes no TTL), pipelined per primary.
  void do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                             std::chrono::milliseconds ttl) override;
  /// SET ... PX on the key and every chunk (no key without its TTL); a
  /// large value from its own memory, as do_put_parts.
  void do_put_with_ttl(const Key& key, std::string_view bytes,
                       std::chrono::milliseconds ttl) override;
  /// As do_put_parts, with SET ... PX (the parts joined where the direct
  /// write does not apply).
  void do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                             std::chrono::milliseconds ttl) override;

  // Lifetimes and futures.
  void do_evict(const Key& key) override;
  /// PEXPIRE on the key, its chunk keys, its future companion key and its
  /// lease marker (so a future's result written later carries the TTL).
  bool do_expire(const Key& key, std::chrono::milliseconds ttl) override;
  /// The value (chunks first if large) and a token on `<key>:ready` in one
  /// script, with the lease marker's TTL when the key has one; then WAIT.
  void do_put_result(const Key& key, std::string_view bytes) override;
  /// As do_put_result, the value and the token written with `ttl`.
  void do_put_result_with_ttl(const Key& key, std::string_view bytes,
                              std::chrono::milliseconds ttl) override;
  /// GET, else BRPOPLPUSH from the companion list `<key>:ready` to itself
  /// (the token stays for every waiter; on a dedicated
  /// connection to the primary of its slot), then GET.
  std::optional<Bytes> do_wait_get(const Key& key, std::chrono::milliseconds timeout) override;

 private:
  /// Whether this object is a RedisClusterStore itself, not a derived class.
  bool is_plain_cluster_store() const noexcept;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace proxystore
