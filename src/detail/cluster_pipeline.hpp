// SPDX-License-Identifier: Apache-2.0
// Private: runs single-key commands on a Redis Cluster — each on the
// primary that owns its key's slot, pipelined per node, nodes in parallel —
// and follows the cluster's redirections until every command has its
// reply.
#pragma once

#include "detail/cluster_topology.hpp"
#include "detail/redis_connection.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::detail {

/// One command for one slot, and (after run_cluster_commands) its reply
/// and the node that gave it.
struct ClusterCommand {
  ClusterCommand(int command_slot, RedisArgs command_args)
      : slot(command_slot), args(std::move(command_args)) {}

  int slot;
  RedisArgs args;
  /// A command on several keys of the slot (MSET, MGET). Mid-migration
  /// Redis cannot run one (ASK, then TRYAGAIN on the importing node until
  /// the migration ends): such a reply is left for the caller, who splits
  /// the command into single-key ones (unstable_multi_key).
  bool multi_key = false;
  RedisReplyPtr reply;                // filled by run_cluster_commands
  std::shared_ptr<ClusterNode> node;  // the node that answered
};

/// How run_cluster_commands behaves.
struct ClusterRunOptions {
  /// Retries (redirections, failover, TRYAGAIN/CLUSTERDOWN) stop at this
  /// bound from the start of the run; then the last failure is thrown.
  std::chrono::milliseconds retry_budget{10000};
  /// Writes only: after a node's commands, WAIT for this many replicas to
  /// acknowledge them (0: do not wait).
  int wait_replicas = 0;
  /// Writes only: WAIT's own timeout.
  std::chrono::milliseconds wait_timeout{1000};
  /// Set (when not null) once a command written to a node whose connection
  /// then failed is sent again: it may have run twice.
  bool* resent = nullptr;
};

/// Sends every command to the primary owning its slot and collects the
/// replies. Commands for one node are pipelined on one pooled connection,
/// in order; the nodes' pipelines run in parallel: all are written first,
/// then all replies read, from the calling thread (no thread per call) —
/// only a run carrying many megabytes writes each node from a thread of
/// its own, so the servers receive it at once. Redirections are followed
/// per command: MOVED updates the slot map and resends; ASK resends once
/// to the named node after ASKING. Connection failures (a primary killed,
/// a failover) and TRYAGAIN / CLUSTERDOWN are retried with backoff (10 ms
/// doubling to 250 ms, reloading the slot map) within the retry budget.
///
/// Other error replies are left in place for the caller to check: every
/// command is answered or this throws. Commands must be idempotent (a
/// command may run twice when a connection breaks after sending it).
///
/// @throws ConnectionError / TimeoutError naming host:port when a node
///         stays unreachable past the budget; ConnectionError naming the
///         slot when no node covers it; StoreOperationError when fewer
///         replicas than `wait_replicas` acknowledged a write.
void run_cluster_commands(ClusterTopology& topology, std::vector<ClusterCommand>& commands,
                          const RedisOperation& operation, const ClusterRunOptions& options,
                          bool writes);

/// Checks a command's reply as RedisConnection::check would: throws
/// StoreOperationError for an error reply (ConnectionError for refused
/// credentials), or for a reply of another type than `expected` (NIL is
/// accepted where `nil_ok`); messages name the node that answered.
/// Whether `command` is a multi-key command Redis refused because its slot
/// is being migrated (ASK or TRYAGAIN): run its keys one by one instead.
bool unstable_multi_key(const ClusterCommand& command);

const redisReply& check_cluster_reply(const ClusterCommand& command,
                                      const RedisOperation& operation, int expected,
                                      bool nil_ok = false);

}  // namespace proxystore::detail
