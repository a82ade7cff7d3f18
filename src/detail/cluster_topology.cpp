// SPDX-License-Identifier: Apache-2.0
#include "detail/cluster_topology.hpp"

#include "detail/cluster_slots.hpp"

#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <exception>
#include <set>

namespace proxystore::detail {
namespace {

std::string_view text_of(const redisReply& reply) {
  return {reply.str != nullptr ? reply.str : "", reply.len};
}

}  // namespace

ClusterTopology::ClusterTopology(RedisEndpoint base, std::vector<HostPort> seeds,
                                 std::size_t pool_size, RedisValueLimits limits)
    : base_(std::move(base)), seeds_(std::move(seeds)), pool_size_(pool_size), limits_(limits) {}

void ClusterTopology::set_node_check(NodeCheck check) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_ = std::move(check);
}

void ClusterTopology::set_node_credentials(NodeCredentials credentials) {
  std::lock_guard<std::mutex> lock(mutex_);
  credentials_ = std::move(credentials);
}

std::shared_ptr<ClusterNode> ClusterTopology::node(const HostPort& where) {
  const std::string address = where.address();
  NodeCheck check;
  NodeCredentials credentials;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = nodes_.find(address); it != nodes_.end())
      return it->second;
    check = check_;
    credentials = credentials_;
  }
  if (check)
    check(where.host, where.port);  // throws to refuse the node
  RedisEndpoint endpoint = base_;
  endpoint.host = where.host;
  endpoint.port = where.port;
  if (credentials)
    credentials(endpoint);
  auto created = std::make_shared<ClusterNode>(std::move(endpoint), pool_size_, limits_);
  std::lock_guard<std::mutex> lock(mutex_);
  return nodes_.try_emplace(address, std::move(created)).first->second;
}

std::shared_ptr<const ClusterTopology::SlotMap> ClusterTopology::current() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_)
      return map_;
  }
  refresh();
  std::lock_guard<std::mutex> lock(mutex_);
  return map_;
}

std::shared_ptr<ClusterNode> ClusterTopology::owner(int slot) {
  const std::shared_ptr<const SlotMap> map = current();
  const std::uint16_t index = map->owner[static_cast<std::size_t>(slot)];
  return index == SlotMap::none ? nullptr : map->nodes[index];
}

void ClusterTopology::moved(int slot, const std::shared_ptr<ClusterNode>& target) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto map = map_ ? std::make_shared<SlotMap>(*map_) : std::make_shared<SlotMap>();
  if (map->owner.empty())
    map->owner.assign(cluster_slot_count, SlotMap::none);
  std::size_t index = 0;
  while (index < map->nodes.size() && map->nodes[index] != target)
    ++index;
  if (index == map->nodes.size())
    map->nodes.push_back(target);
  std::uint16_t& owner = map->owner[static_cast<std::size_t>(slot)];
  if (owner == SlotMap::none)
    ++map->covered;
  owner = static_cast<std::uint16_t>(index);
  map_ = std::move(map);
}

std::shared_ptr<ClusterTopology::SlotMap> ClusterTopology::load_from(ClusterNode& node) {
  const RedisOperation op{"CLUSTER SLOTS"};
  RedisConnectionPool::Lease lease = node.pool().borrow();
  RedisArgs args(2);
  args.add("CLUSTER").add("SLOTS");
  RedisReplyPtr reply = lease->check(op, lease->command(op, args), REDIS_REPLY_ARRAY);
  auto map = std::make_shared<SlotMap>();
  map->owner.assign(cluster_slot_count, SlotMap::none);
  std::map<std::string, std::uint16_t> index_of;
  for (std::size_t r = 0; r < reply->elements; ++r) {
    const redisReply& range = *reply->element[r];
    if (range.type != REDIS_REPLY_ARRAY || range.elements < 3 ||
        range.element[0]->type != REDIS_REPLY_INTEGER ||
        range.element[1]->type != REDIS_REPLY_INTEGER ||
        range.element[2]->type != REDIS_REPLY_ARRAY || range.element[2]->elements < 2) {
      throw StoreOperationError(
          fmt::format("{}: CLUSTER SLOTS failed: malformed reply", node.endpoint().subject()));
    }
    const long long first = range.element[0]->integer;
    const long long last = range.element[1]->integer;
    const redisReply& primary = *range.element[2];
    if (first < 0 || last >= cluster_slot_count || first > last ||
        primary.element[0]->type != REDIS_REPLY_STRING ||
        primary.element[1]->type != REDIS_REPLY_INTEGER) {
      throw StoreOperationError(
          fmt::format("{}: CLUSTER SLOTS failed: malformed slot range", node.endpoint().subject()));
    }
    // An empty host means "the address you reached me at"; "?" an
    // unknown one (such a range is left uncovered).
    std::string host(text_of(*primary.element[0]));
    if (host == "?")
      continue;
    if (host.empty())
      host = node.endpoint().host;
    const HostPort where{host, static_cast<int>(primary.element[1]->integer)};
    auto [it, added] = index_of.try_emplace(where.address(), map->nodes.size());
    if (added)
      map->nodes.push_back(this->node(where));
    for (long long slot = first; slot <= last; ++slot) {
      std::uint16_t& owner = map->owner[static_cast<std::size_t>(slot)];
      if (owner == SlotMap::none)
        ++map->covered;
      owner = it->second;
    }
  }
  return map;
}

void ClusterTopology::refresh() {
  std::lock_guard<std::mutex> serial(refresh_mutex_);
  // Candidates: the primaries we know (they answer with the freshest map),
  // then the seeds; each tried once.
  std::vector<std::shared_ptr<ClusterNode>> candidates;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (map_)
      candidates = map_->nodes;
  }
  std::exception_ptr refused;  // a node check that refused a seed
  for (const HostPort& seed : seeds_) {
    try {
      candidates.push_back(node(seed));
    } catch (const ForbiddenStoreError&) {
      refused = std::current_exception();
    }
  }
  std::set<const ClusterNode*> tried;
  std::shared_ptr<SlotMap> best;
  std::string failures;
  for (const std::shared_ptr<ClusterNode>& candidate : candidates) {
    if (!tried.insert(candidate.get()).second)
      continue;
    try {
      std::shared_ptr<SlotMap> map = load_from(*candidate);
      if (!best || map->covered > best->covered)
        best = std::move(map);
      if (best->covered == static_cast<std::size_t>(cluster_slot_count))
        break;
    } catch (const ForbiddenStoreError&) {
      throw;  // the cluster named a node we may not reach: never silently skip
    } catch (const Error& e) {
      failures += fmt::format("\n  {}", e.what());
    }
  }
  if (!best) {
    if (refused && tried.empty())
      std::rethrow_exception(refused);
    throw ConnectionError(fmt::format(
        "redis cluster store \"{}\": no node answered CLUSTER SLOTS (seeds {}):{}",
        base_.store_name,
        [&] {
          std::string list;
          for (const HostPort& seed : seeds_)
            list += (list.empty() ? "" : ",") + seed.address();
          return list;
        }(),
        failures));
  }
  std::lock_guard<std::mutex> lock(mutex_);
  map_ = std::move(best);
}

std::vector<std::shared_ptr<ClusterNode>> ClusterTopology::primaries() {
  const std::shared_ptr<const SlotMap> map = current();
  std::vector<std::shared_ptr<ClusterNode>> out;
  std::vector<bool> seen(map->nodes.size(), false);
  for (const std::uint16_t index : map->owner) {
    if (index != SlotMap::none && !seen[index]) {
      seen[index] = true;
      out.push_back(map->nodes[index]);
    }
  }
  return out;
}

std::vector<int> ClusterTopology::slot_per_primary(std::uint64_t random) {
  const std::shared_ptr<const SlotMap> map = current();
  std::vector<std::size_t> served(map->nodes.size(), 0);
  std::vector<std::uint16_t> order;  // node indices, in slot order
  for (const std::uint16_t index : map->owner) {
    if (index == SlotMap::none)
      continue;
    if (served[index]++ == 0)
      order.push_back(index);
  }
  std::vector<std::size_t> wanted(map->nodes.size(), 0);
  for (const std::uint16_t index : order)
    wanted[index] = static_cast<std::size_t>(random % served[index]);
  std::vector<int> picked(map->nodes.size(), -1);
  for (int slot = 0; slot < cluster_slot_count; ++slot) {
    const std::uint16_t index = map->owner[static_cast<std::size_t>(slot)];
    if (index != SlotMap::none && picked[index] < 0 && wanted[index]-- == 0)
      picked[index] = slot;
  }
  std::vector<int> out;
  out.reserve(order.size());
  for (const std::uint16_t index : order)
    out.push_back(picked[index]);
  return out;
}

}  // namespace proxystore::detail
