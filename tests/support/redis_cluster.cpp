// SPDX-License-Identifier: Apache-2.0
#include "support/redis_cluster.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace proxystore::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int slot_count = 16384;

std::runtime_error failure(const std::string& what) {
  return std::runtime_error("RedisCluster: " + what);
}

/// Polls `ready` every 20 ms until it returns true or `timeout` passes
/// (then throws, describing `what` was awaited).
template <class Predicate>
void wait_for(std::chrono::milliseconds timeout, const std::string& what, Predicate ready) {
  const auto deadline = Clock::now() + timeout;
  while (!ready()) {
    if (Clock::now() > deadline)
      throw failure("timed out after " + std::to_string(timeout.count()) + " ms waiting for " +
                    what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling interval
  }
}

}  // namespace

RedisCluster::RedisCluster() : RedisCluster(Options{}) {}

RedisCluster::RedisCluster(Options options) : options_(options) {
  const std::size_t primaries = options_.primaries;
  const std::size_t total = primaries * (1 + options_.replicas_per_primary);
  if (primaries == 0)
    throw failure("a cluster needs at least one primary");
  RedisServer::Options server_options;
  server_options.extra_args = {
      "--cluster-enabled",          "yes",
      "--cluster-config-file",      "nodes.conf",
      "--cluster-node-timeout",     std::to_string(options_.node_timeout.count()),
      "--repl-diskless-sync-delay", "0",
      "--repl-ping-replica-period", "1"};
  server_options.companion_port_offset = 10000;  // the cluster bus port
  for (std::size_t i = 0; i < total; ++i) {
    servers_.push_back(std::make_unique<RedisServer>(server_options));
    ids_.push_back(must(i, {"CLUSTER", "MYID"}).text);
    replica_of_.push_back(i < primaries ? total : (i - primaries) % primaries);
  }
  // Slots in even ranges; distinct config epochs (as redis-cli does), so
  // no epoch collision has to be resolved before the cluster is usable.
  for (std::size_t p = 0; p < primaries; ++p) {
    const int first = static_cast<int>(p * slot_count / primaries);
    const int last = static_cast<int>((p + 1) * slot_count / primaries) - 1;
    must(p, {"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)});
  }
  for (std::size_t i = 0; i < total; ++i)
    must(i, {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)});
  for (std::size_t i = 1; i < total; ++i)
    must(0, {"CLUSTER", "MEET", server(i).host(), std::to_string(server(i).port())});
  wait_for(options_.ready_timeout, "every node to know every other", [&] {
    for (std::size_t i = 0; i < total; ++i) {
      if (info_field(i, "cluster", "cluster_known_nodes") != std::to_string(total))
        return false;
      // REPLICATE needs the primary to be fully known (no handshake).
      const std::string nodes = must(i, {"CLUSTER", "NODES"}).text;
      if (nodes.find("handshake") != std::string::npos || nodes.find("noaddr") != std::string::npos)
        return false;
    }
    return true;
  });
  for (std::size_t i = primaries; i < total; ++i)
    must(i, {"CLUSTER", "REPLICATE", ids_[replica_of_[i]]});
  wait_until_ok();
}

RedisCluster::~RedisCluster() = default;  // each RedisServer kills its process

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& server : servers_)
    out.push_back(server->address());
  return out;
}

std::size_t RedisCluster::index_of(const std::string& address) const {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->address() == address)
      return i;
  }
  throw failure("no node at " + address);
}

RespReply RedisCluster::command(std::size_t index, const std::vector<std::string>& args) const {
  return servers_.at(index)->command(args);
}

RespReply RedisCluster::must(std::size_t index, const std::vector<std::string>& args) const {
  RespReply reply = command(index, args);
  if (reply.type == RespReply::Type::error) {
    std::string joined;
    for (const std::string& arg : args)
      joined += (joined.empty() ? "" : " ") + arg;
    throw failure("node " + servers_.at(index)->address() + ": " + joined + ": " + reply.text);
  }
  return reply;
}

std::string RedisCluster::info_field(std::size_t index, const std::string& section,
                                     const std::string& field) const {
  const RespReply reply =
      section == "cluster" ? must(index, {"CLUSTER", "INFO"}) : must(index, {"INFO", section});
  std::istringstream lines(reply.text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return line.substr(field.size() + 1);
  }
  return {};
}

std::size_t RedisCluster::any_live_node() const {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->running())
      return i;
  }
  throw failure("no live node");
}

std::size_t RedisCluster::owner_of(int slot) const {
  const RespReply slots = must(any_live_node(), {"CLUSTER", "SLOTS"});
  for (const RespReply& range : slots.elements) {
    if (range.elements.size() >= 3 && range.elements[0].integer <= slot &&
        slot <= range.elements[1].integer) {
      return index_of(range.elements[2].elements.at(0).text + ":" +
                      std::to_string(range.elements[2].elements.at(1).integer));
    }
  }
  throw failure("no node serves slot " + std::to_string(slot));
}

std::vector<std::size_t> RedisCluster::live_primaries() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->running() && must(i, {"ROLE"}).elements.at(0).text == "master")
      out.push_back(i);
  }
  return out;
}

void RedisCluster::wait_until_ok() const {
  wait_for(options_.ready_timeout, "cluster_state:ok on every node and replicas in sync", [&] {
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i]->running())
        continue;
      if (info_field(i, "cluster", "cluster_state") != "ok" ||
          info_field(i, "cluster", "cluster_slots_ok") != std::to_string(slot_count)) {
        return false;
      }
      if (info_field(i, "replication", "role") == "slave" &&
          info_field(i, "replication", "master_link_status") != "up") {
        return false;
      }
    }
    return true;
  });
}

void RedisCluster::begin_migration(int slot, std::size_t from, std::size_t to) {
  const std::string s = std::to_string(slot);
  must(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", ids_.at(from)});
  must(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", ids_.at(to)});
}

void RedisCluster::migrate_keys(int slot, std::size_t from, std::size_t to) {
  for (;;) {
    const RespReply keys = must(from, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), "1000"});
    if (keys.elements.empty())
      return;
    std::vector<std::string> args{
        "MIGRATE", server(to).host(), std::to_string(server(to).port()), "", "0", "5000", "KEYS"};
    for (const RespReply& key : keys.elements)
      args.push_back(key.text);
    must(from, args);
  }
}

void RedisCluster::finish_migration(int slot, std::size_t to) {
  const std::string s = std::to_string(slot);
  must(to, {"CLUSTER", "SETSLOT", s, "NODE", ids_.at(to)});
  for (const std::size_t p : live_primaries()) {
    if (p != to)
      must(p, {"CLUSTER", "SETSLOT", s, "NODE", ids_.at(to)});
  }
}

void RedisCluster::kill(std::size_t index) {
  servers_.at(index)->kill(SIGKILL);
}

std::size_t RedisCluster::wait_for_promotion(std::size_t index) {
  std::size_t promoted = servers_.size();
  wait_for(options_.ready_timeout, "a replica of node " + std::to_string(index) + " to take over",
           [&] {
             for (std::size_t i = 0; i < servers_.size(); ++i) {
               if (replica_of_[i] == index && servers_[i]->running() &&
                   must(i, {"ROLE"}).elements.at(0).text == "master") {
                 promoted = i;
                 return true;
               }
             }
             return false;
           });
  wait_until_ok();
  return promoted;
}

}  // namespace proxystore::test
