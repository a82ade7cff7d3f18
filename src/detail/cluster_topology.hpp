// SPDX-License-Identifier: Apache-2.0
// Private: what a RedisClusterStore knows about its cluster — the nodes
// (one connection pool each), which primary owns each slot, and how to
// read the redirections (MOVED, ASK) and transient refusals (TRYAGAIN,
// CLUSTERDOWN) a node answers with.
#pragma once

#include "detail/cluster_replies.hpp"
#include "detail/redis_node.hpp"
#include "detail/redis_pool.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proxystore::detail {

/// One cluster node: the Redis node layer (redis_node.hpp) on it, with its
/// connection pool.
class ClusterNode {
 public:
  ClusterNode(RedisEndpoint endpoint, std::size_t pool_size, RedisValueLimits limits = {})
      : node_(std::move(endpoint), pool_size, limits) {}

  [[nodiscard]] RedisConnectionPool& pool() noexcept { return node_.pool(); }
  /// The node layer: what is done on this one server (direct I/O, PING).
  [[nodiscard]] RedisNode& redis() noexcept { return node_; }
  [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return node_.endpoint(); }
  /// "host:port".
  [[nodiscard]] std::string address() const {
    return HostPort{endpoint().host, endpoint().port}.address();
  }

 private:
  RedisNode node_;
};

/// The slot map and the nodes. Thread-safe: lookups copy a shared pointer
/// to an immutable map under a short lock; refreshes build a new map
/// outside it.
class ClusterTopology {
 public:
  /// Called before the first connection to a node the cluster told us
  /// about (slot map, redirection); throws to refuse it.
  using NodeCheck = std::function<void(const std::string& host, int port)>;

  /// `base` gives credentials, timeouts and the store name; its host and
  /// port are ignored. Nothing connects yet.
  ClusterTopology(RedisEndpoint base, std::vector<HostPort> seeds, std::size_t pool_size,
                  RedisValueLimits limits = {});

  /// Called on a node's endpoint (a copy of `base` with the node's host and
  /// port) before its pool is created: sets per-node credentials.
  using NodeCredentials = std::function<void(RedisEndpoint& endpoint)>;

  /// Installs the check on learned nodes (seeds are checked too when they
  /// are first connected to).
  void set_node_check(NodeCheck check);

  /// Installs the per-node credentials hook (a store rebuilt from a config
  /// binds each node's password to its host:port).
  void set_node_credentials(NodeCredentials credentials);

  /// The primary owning `slot` in the current map (loading the map first
  /// if there is none yet); null when no node covers the slot.
  /// @throws ConnectionError if no map was ever loaded and none can be.
  std::shared_ptr<ClusterNode> owner(int slot);

  /// The node at `where`, created (after the node check) on first use.
  std::shared_ptr<ClusterNode> node(const HostPort& where);

  /// Records a MOVED: `slot` is served by `target` from now on.
  void moved(int slot, const std::shared_ptr<ClusterNode>& target);

  /// Reloads the slot map (CLUSTER SLOTS) from the first node that
  /// answers with full coverage — known primaries first, then the seeds;
  /// keeps the best partial map when none covers every slot.
  /// @throws ConnectionError naming every node tried when none answers.
  void refresh();

  /// The primaries of the current map, in slot order (loads it if needed).
  std::vector<std::shared_ptr<ClusterNode>> primaries();

  /// For each primary of the current map (loaded if needed), in slot
  /// order, one slot it serves: the `random % n`-th of its n slots.
  std::vector<int> slot_per_primary(std::uint64_t random);

  [[nodiscard]] const std::vector<HostPort>& seeds() const noexcept { return seeds_; }
  /// The endpoint nodes are derived from (for messages: the store name).
  [[nodiscard]] const RedisEndpoint& base() const noexcept { return base_; }

 private:
  /// Owner of each slot as an index into `nodes` (`none`: uncovered).
  struct SlotMap {
    static constexpr std::uint16_t none = 0xffff;
    std::vector<std::uint16_t> owner;
    std::vector<std::shared_ptr<ClusterNode>> nodes;
    std::size_t covered = 0;
  };

  std::shared_ptr<const SlotMap> current();
  /// CLUSTER SLOTS from `node`, as a map.
  std::shared_ptr<SlotMap> load_from(ClusterNode& node);

  const RedisEndpoint base_;
  const std::vector<HostPort> seeds_;
  const std::size_t pool_size_;
  const RedisValueLimits limits_;

  std::mutex mutex_;  // guards the members below; never held across I/O
  NodeCheck check_;
  NodeCredentials credentials_;
  std::map<std::string, std::shared_ptr<ClusterNode>> nodes_;  // by address
  std::shared_ptr<const SlotMap> map_;

  std::mutex refresh_mutex_;  // one refresh at a time
};

}  // namespace proxystore::detail
