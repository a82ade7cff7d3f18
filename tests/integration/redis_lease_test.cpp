// SPDX-License-Identifier: Apache-2.0
// Leases leak nothing, whatever the order and whenever the producer dies
// (issue 12, items 12-15): every leased write carries its TTL in the write
// command itself (no PEXPIRE after it), a future's result is written with
// the lease it was registered with (in either order), waiters never
// recreate the wake-up list without its TTL, and a cluster write that WAIT
// cannot confirm is removed before the error names its keys.
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ChildResult;
using proxystore::test::MessageContains;
using proxystore::test::RedisCluster;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;
using proxystore::test::run_child;
using proxystore::test::unique_name;

namespace redis_lease_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

RedisOptions lease_options(const std::string& prefix) {
  RedisOptions options;
  options.connect_timeout = milliseconds(2000);
  options.command_timeout = milliseconds(5000);
  options.key_prefix = prefix;
  options.chunk_size = std::size_t{128} << 10U;  // a 300 KB value: 3 chunks
  return options;
}

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& prefix) {
  return std::make_shared<RedisStore>(unique_name("redis-lease"), server.host(), server.port(),
                                      lease_options(prefix));
}

long long pttl(const RedisServer& server, const std::string& key) {
  const RespReply reply = server.command({"PTTL", key});
  REQUIRE(reply.type == RespReply::Type::integer);
  return reply.integer;
}

/// Every key matching `pattern` expires within `lease` (none is missing a
/// TTL: PTTL -1); returns how many there are.
std::size_t check_all_expire(const RedisServer& server, const std::string& pattern,
                             milliseconds lease) {
  const std::vector<std::string> keys = server.keys(pattern);
  for (const std::string& key : keys) {
    INFO("key " << key);
    const long long left = pttl(server, key);
    CHECK(left > 0);
    CHECK(left <= lease.count());
  }
  return keys.size();
}

/// Waits until `count()` is zero or `limit` passes; the last count.
template <class Count>
std::size_t zero_within(Count count, milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  std::size_t left = count();
  while (left != 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(50));
    left = count();
  }
  return left;
}

template <class T>
std::string key_of(const Proxy<T>& proxy) {
  return get_factory(proxy).template target<StoreFactory<T>>()->key().id;
}

RedisCluster::Options no_replicas() {
  RedisCluster::Options options;
  options.primaries = 3;
  options.replicas_per_primary = 0;
  return options;
}

/// Keys matching `pattern` on every node of `cluster`, with the node.
std::vector<std::pair<std::size_t, std::string>> cluster_keys(RedisCluster& cluster,
                                                              const std::string& pattern) {
  std::vector<std::pair<std::size_t, std::string>> out;
  for (std::size_t node = 0; node < cluster.size(); ++node) {
    for (std::string& key : cluster.server(node).keys(pattern))
      out.emplace_back(node, std::move(key));
  }
  return out;
}

long long cluster_calls(RedisCluster& cluster, const std::string& command) {
  long long calls = 0;
  for (std::size_t node = 0; node < cluster.size(); ++node)
    calls += cluster.server(node).command_calls(command);
  return calls;
}

/// What write_leased wrote: a proxy per write path.
struct LeasedWrites {
  Proxy<std::string> small;
  std::vector<Proxy<std::string>> batch;
  Proxy<std::vector<char>> large;
  Proxy<std::string> chunked;
};

/// Keys write_leased writes: small 1, batch 3, large 1, chunked 3 + 1.
constexpr std::size_t leased_keys = 1 + 3 + 1 + (3 + 1);

/// One leased write through each path: a small value, a batch, a large
/// value (the writev path on RedisStore) and a chunked one.
LeasedWrites write_leased(Store& store, const std::shared_ptr<Lifetime>& lease) {
  ProxyOptions options;
  options.lifetime = lease;
  return {store.proxy(std::string("small"), options),
          store.proxy_batch(std::vector<std::string>{"a", "b", "c"}, options),
          store.proxy(std::vector<char>(std::size_t{100} << 10U, 'L'), options),
          store.proxy(std::string(std::size_t{300} << 10U, 'C'), options)};
}

}  // namespace redis_lease_test

using namespace redis_lease_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("RedisStore: every leased write carries its TTL in the write command",
          "[lifetime][redis][lease]") {
  RedisServer server;
  auto store = make_store(server, "px:");
  const milliseconds lease_time(30000);
  auto lease = std::make_shared<LeaseLifetime>(store, lease_time);
  ProxyOptions options;
  options.lifetime = lease;
  server.reset_stats();
  const LeasedWrites written = write_leased(*store, lease);
  const auto owned = store->owned_proxy(std::string("owned"), options);
  // One command per key: SET ... PX; never a PEXPIRE (or MSET) after it.
  CHECK(server.command_calls("pexpire") == 0);
  CHECK(server.command_calls("mset") == 0);
  CHECK(server.command_calls("eval") == 0);
  CHECK(server.command_calls("set") == leased_keys + 1);
  CHECK(check_all_expire(server, "px:*", lease_time) == leased_keys + 1);
  CHECK(*written.large == std::vector<char>(std::size_t{100} << 10U, 'L'));
  CHECK(*written.chunked == std::string(std::size_t{300} << 10U, 'C'));
  // A lease that moved since is applied after the write, as before.
  lease->extend(milliseconds(30000));
  CHECK(pttl(server, "px:" + key_of(written.small)) > 30000);
  CHECK(pttl(server, "px:" + key_of(written.chunked) + ":chunk:2") > 30000);
  lease->close();
  CHECK(server.keys("px:*").empty());
}

TEST_CASE("RedisStore: a future registered with a lease writes its result with the TTL",
          "[lifetime][future][redis][lease]") {
  RedisServer server;
  auto store = make_store(server, "fl:");
  const milliseconds lease_time(30000);
  auto lease = std::make_shared<LeaseLifetime>(store, lease_time);

  SECTION("registered before set_result (the lease first)") {
    Future<std::string> future = store->future<std::string>();
    lease->add(*store, future.key());  // no value yet
    future.set_result("later");
    const std::string key = "fl:" + future.key().id;
    CHECK(pttl(server, key) > 0);
    CHECK(pttl(server, key) <= lease_time.count());
    CHECK(pttl(server, key + ":ready") > 0);
    CHECK(check_all_expire(server, "fl:*", lease_time) == 3);  // value, token, lease marker
    CHECK(*future.proxy() == "later");
    lease->extend(milliseconds(30000));
    CHECK(pttl(server, key) > 30000);
    CHECK(pttl(server, key + ":ready") > 30000);
  }
  SECTION("registered before set_result, a chunked result") {
    Future<std::string> future = store->future<std::string>();
    lease->add(*store, future.key());
    future.set_result(std::string(std::size_t{300} << 10U, 'F'));
    CHECK(check_all_expire(server, "fl:*", lease_time) == 1 + 3 + 1 + 1);
    CHECK(future.proxy()->size() == std::size_t{300} << 10U);
  }
  SECTION("registered before set_result, a large result (written from its own memory)") {
    Future<std::string> future = store->future<std::string>();
    lease->add(*store, future.key());
    future.set_result(std::string(std::size_t{100} << 10U, 'D'));
    CHECK(check_all_expire(server, "fl:*", lease_time) == 3);  // value, token, lease marker
    CHECK(future.proxy()->size() == std::size_t{100} << 10U);
  }
  SECTION("FutureOptions::lifetime") {
    FutureOptions options;
    options.lifetime = lease;
    Future<std::string> future = store->future<std::string>(options);
    CHECK(lease->size() == 1);
    server.reset_stats();
    future.set_result("with the lease");
    CHECK(server.command_calls("eval") == 1);  // value and token in one script
    const std::string key = "fl:" + future.key().id;
    CHECK(pttl(server, key) > 0);
    CHECK(pttl(server, key) <= lease_time.count());
    CHECK(pttl(server, key + ":ready") > 0);
    CHECK(*future.proxy() == "with the lease");
  }
  SECTION("an ended lifetime refuses the result and writes nothing") {
    FutureOptions options;
    options.lifetime = lease;
    Future<std::string> future = store->future<std::string>(options);
    lease->close();
    CHECK_THROWS_MATCHES(future.set_result("too late"), LifetimeError,
                         MessageContains({"lease lifetime", future.key().id, "ended"}));
    CHECK(server.keys("fl:*").empty());
  }
  lease->close();
  CHECK(server.keys("fl:*").empty());  // value, chunks, token and marker
}

TEST_CASE("RedisStore: a producer SIGKILLed after leased writes of every kind leaks nothing",
          "[lifetime][future][redis][lease]") {
  RedisServer server;
  const milliseconds lease_time(8000);
  const ChildResult result =
      run_child(PROXYSTORE_HELPER_LIFETIME_PRODUCER,
                {"lease-all-redis", server.host(), std::to_string(server.port()),
                 "killed-all:", std::to_string(lease_time.count())},
                "");
  INFO(result.describe());
  REQUIRE(result.signal == SIGKILL);
  REQUIRE(result.out == "written\n");
  // small 1, batch 3, large 1, chunked 1+3, leased future 1+1 (value,
  // token), future added first 1+3+1+1 (manifest, chunks, token, marker).
  CHECK(check_all_expire(server, "killed-all:*", lease_time) == 1 + 3 + 1 + 4 + 2 + 6);
  CHECK(zero_within([&] { return server.keys("killed-all:*").size(); }, milliseconds(15000)) == 0);
}

TEST_CASE("RedisClusterStore: leased writes carry their TTL; a SIGKILLed producer leaks nothing",
          "[lifetime][redis][redis-cluster][lease]") {
  RedisCluster cluster(no_replicas());
  const milliseconds lease_time(8000);
  {
    auto store = std::make_shared<RedisClusterStore>(unique_name("cluster-lease"), cluster.seeds(),
                                                     lease_options("cpx:"));
    auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(30000));
    for (std::size_t node = 0; node < cluster.size(); ++node)
      cluster.server(node).reset_stats();
    const LeasedWrites written = write_leased(*store, lease);
    CHECK(cluster_calls(cluster, "pexpire") == 0);
    const auto keys = cluster_keys(cluster, "cpx:*");
    CHECK(keys.size() == leased_keys);
    for (const auto& [node, key] : keys) {
      INFO("node " << node << " key " << key);
      const long long left = cluster.server(node).command({"PTTL", key}).integer;
      CHECK(left > 0);
      CHECK(left <= 30000);
    }
  }
  CHECK(cluster_keys(cluster, "cpx:*").empty());  // the lease ended with its scope

  const ChildResult result = run_child(PROXYSTORE_HELPER_LIFETIME_PRODUCER,
                                       {"lease-all-cluster", cluster.seeds().front(),
                                        "ckilled:", std::to_string(lease_time.count())},
                                       "");
  INFO(result.describe());
  REQUIRE(result.signal == SIGKILL);
  REQUIRE(result.out == "written\n");
  const auto keys = cluster_keys(cluster, "ckilled:*");
  CHECK(keys.size() == 1 + 3 + 1 + 4 + 2 + 6);
  for (const auto& [node, key] : keys) {
    INFO("node " << node << " key " << key);
    const long long left = cluster.server(node).command({"PTTL", key}).integer;
    CHECK(left > 0);
    CHECK(left <= lease_time.count());
  }
  CHECK(zero_within([&] { return cluster_keys(cluster, "ckilled:*").size(); },
                    milliseconds(15000)) == 0);
}

TEST_CASE("RedisClusterStore: a write WAIT cannot confirm is removed and its error names it",
          "[redis][redis-cluster][lease]") {
  RedisCluster cluster(no_replicas());  // WAIT 1 can never be satisfied
  RedisClusterOptions durable;
  durable.wait_replicas = 1;
  durable.wait_timeout = milliseconds(100);
  auto store = std::make_shared<RedisClusterStore>(unique_name("cluster-wait"), cluster.seeds(),
                                                   lease_options("wait:"), durable);
  const auto started = Clock::now();
  CHECK_THROWS_MATCHES(
      store->set(std::string("not durable")), StoreOperationError,
      MessageContains({"0 of 1 required replicas", "removed the key(s)", "\"wait:{"}));
  CHECK_THROWS_MATCHES(store->set_batch(std::vector<std::string>{"x", "y", "z"}),
                       StoreOperationError, MessageContains({"removed the key(s)", "wait:{"}));
  CHECK_THROWS_MATCHES(store->set(std::string(std::size_t{300} << 10U, 'W')), StoreOperationError,
                       MessageContains({"removed the key(s)", ":chunk:"}));
  Future<std::string> pending = make_future<std::string>(*store);
  CHECK_THROWS_MATCHES(pending.set_result("result"), StoreOperationError,
                       MessageContains({"removed the key(s)", pending.key().id}));
  CHECK(Clock::now() - started < milliseconds(10000));
  // Nothing written stays behind: no value, chunk, token or manifest.
  CHECK(cluster_keys(cluster, "wait:*").empty());
}
