// SPDX-License-Identifier: Apache-2.0
// Test harness: a throwaway Redis Cluster of RedisServer processes on
// loopback ports (3 primaries + 3 replicas by default), with helpers to
// migrate a slot, kill a primary and wait for its replica's promotion.
#pragma once

#include "support/redis_server.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace proxystore::test {

/// A private Redis Cluster, for tests only. The constructor starts the
/// servers (`--cluster-enabled yes`, each with its own nodes.conf in its
/// private directory and a short node timeout so failover is quick),
/// assigns the slots evenly to the primaries (CLUSTER ADDSLOTSRANGE),
/// joins the nodes (CLUSTER MEET), attaches the replicas (CLUSTER
/// REPLICATE) and waits until every node reports `cluster_state:ok` and
/// every replica is in sync. The destructor kills every server. Throws
/// std::runtime_error (so the test fails) when the cluster does not form.
class RedisCluster {
 public:
  struct Options {
    std::size_t primaries = 3;
    std::size_t replicas_per_primary = 1;
    /// --cluster-node-timeout: how soon a silent primary is failed over.
    std::chrono::milliseconds node_timeout{1000};
    /// Bound on forming the cluster and on each wait_* helper.
    std::chrono::milliseconds ready_timeout{30000};
  };

  RedisCluster();
  explicit RedisCluster(Options options);
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;
  ~RedisCluster();

  /// Servers, primaries first (node i < primaries() started as primary i;
  /// node primaries() + r * primaries + p as a replica of primary p).
  std::size_t size() const noexcept { return servers_.size(); }
  RedisServer& server(std::size_t index) { return *servers_.at(index); }
  /// "127.0.0.1:<port>" of every node, as seeds for a store.
  std::vector<std::string> seeds() const;
  /// The node's cluster id (CLUSTER MYID; remembered, so also for a dead node).
  const std::string& node_id(std::size_t index) const { return ids_.at(index); }
  /// The index of the node at "host:port"; throws if none.
  std::size_t index_of(const std::string& address) const;
  /// The node currently serving `slot`, as one live node sees the cluster.
  std::size_t owner_of(int slot) const;
  /// Indices of the live nodes whose ROLE is master.
  std::vector<std::size_t> live_primaries() const;

  /// Starts moving `slot` from `from` to `to` (SETSLOT IMPORTING on the
  /// target, MIGRATING on the source): keys not yet moved stay readable on
  /// the source, others get ASK redirections.
  void begin_migration(int slot, std::size_t from, std::size_t to);
  /// MIGRATEs every key of `slot` still on `from` to `to`.
  void migrate_keys(int slot, std::size_t from, std::size_t to);
  /// Ends the move: SETSLOT NODE on every live primary (target first); the
  /// source now answers MOVED.
  void finish_migration(int slot, std::size_t to);

  /// SIGKILLs node `index`.
  void kill(std::size_t index);
  /// Waits until a replica of the (killed) primary `index` is a primary
  /// and every live node reports cluster_state:ok; returns its index.
  std::size_t wait_for_promotion(std::size_t index);
  /// Waits until every live node reports cluster_state:ok and every live
  /// replica's link to its primary is up.
  void wait_until_ok() const;

  /// The value of `field` in `INFO <section>` or CLUSTER INFO of a node.
  std::string info_field(std::size_t index, const std::string& section,
                         const std::string& field) const;

 private:
  RespReply command(std::size_t index, const std::vector<std::string>& args) const;
  /// Runs a command that must succeed; throws with the reply otherwise.
  RespReply must(std::size_t index, const std::vector<std::string>& args) const;
  std::size_t any_live_node() const;

  Options options_;
  std::vector<std::unique_ptr<RedisServer>> servers_;
  std::vector<std::string> ids_;
  std::vector<std::size_t> replica_of_;  // per node: its first primary, or size() for a primary
};

}  // namespace proxystore::test
