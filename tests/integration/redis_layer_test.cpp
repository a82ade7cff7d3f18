// SPDX-License-Identifier: Apache-2.0
// The shared Redis node layer as the backends use it: a cluster batch is
// one MSET / MGET per primary (counted by each server), a batch during a
// slot migration (ASK, TRYAGAIN, MOVED), the cluster's direct large-value
// path, Store::ping(), and a ConnectionError met while resolving a proxy.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::RedisCluster;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;
using proxystore::test::unique_name;

namespace redis_layer_test {

using std::chrono::milliseconds;

RedisOptions layer_options(const std::string& prefix) {
  RedisOptions options;
  options.connect_timeout = milliseconds(2000);
  options.command_timeout = milliseconds(10000);
  options.key_prefix = prefix;
  options.store.cache_size = 0;  // every read reaches the servers
  return options;
}

std::shared_ptr<RedisClusterStore> cluster_store(const RedisCluster& cluster,
                                                 const std::string& prefix) {
  return std::make_shared<RedisClusterStore>(unique_name("layer"), cluster.seeds(),
                                             layer_options(prefix));
}

/// A cluster store whose batches all land in one chosen slot (ids
/// `<tag>}<n>` with a tag hashing to it), to aim a batch at a migration.
class OneSlotStore : public RedisClusterStore {
 public:
  using RedisClusterStore::RedisClusterStore;
  std::string tag;
  int next = 0;

 protected:
  std::vector<Key> do_new_keys(std::size_t count) override {
    std::vector<Key> keys;
    for (std::size_t i = 0; i < count; ++i)
      keys.push_back(Key{tag + "}" + std::to_string(next++)});
    return keys;
  }
};

std::vector<std::string> small_values(std::size_t count, const std::string& stem) {
  std::vector<std::string> values;
  for (std::size_t i = 0; i < count; ++i)
    values.push_back(stem + std::string(90, static_cast<char>('a' + i % 26)) + std::to_string(i));
  return values;
}

/// `values` as get_batch returns them when every key is found.
std::vector<std::optional<std::string>> found_all(const std::vector<std::string>& values) {
  return {values.begin(), values.end()};
}

}  // namespace redis_layer_test

using namespace redis_layer_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Redis layer: a cluster batch is one MSET and one MGET per primary",
          "[redis][redis-cluster][redis-layer]") {
  RedisCluster cluster;
  auto store = cluster_store(cluster, "perNode:");
  const std::vector<std::size_t> primaries = cluster.live_primaries();
  REQUIRE(primaries.size() == 3);
  const std::vector<std::string> values = small_values(1000, "v");
  store->ping();  // the slot map is loaded: keys are minted per primary

  for (const std::size_t p : primaries)
    cluster.server(p).reset_stats();
  const std::vector<Key> keys = store->set_batch(values);
  for (const std::size_t p : primaries) {
    INFO("primary " << cluster.server(p).address());
    CHECK(cluster.server(p).command_calls("mset") == 1);
    CHECK(cluster.server(p).command_calls("set") == 0);
    CHECK(cluster.server(p).keys("perNode:*").size() > 300);  // every primary its share
  }

  for (const std::size_t p : primaries)
    cluster.server(p).reset_stats();
  const auto fetched = store->get_batch<std::string>(keys);
  for (const std::size_t p : primaries) {
    INFO("primary " << cluster.server(p).address());
    CHECK(cluster.server(p).command_calls("mget") == 1);
    CHECK(cluster.server(p).command_calls("get") == 0);
  }
  REQUIRE(fetched.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    CHECK(fetched[i] == values[i]);

  // Proxies of a batch go the same way, and each resolves alone.
  for (const std::size_t p : primaries)
    cluster.server(p).reset_stats();
  const std::vector<Proxy<std::string>> proxies = store->proxy_batch(small_values(300, "p"));
  for (const std::size_t p : primaries)
    CHECK(cluster.server(p).command_calls("mset") == 1);
  CHECK(*proxies[299] == small_values(300, "p")[299]);
}

TEST_CASE("Redis layer: a cluster batch during a slot migration (ASK, TRYAGAIN, MOVED)",
          "[redis][redis-cluster][redis-layer]") {
  RedisCluster cluster;
  auto store = std::make_shared<OneSlotStore>(unique_name("migrate"), cluster.seeds(),
                                              layer_options("mig:"));
  for (int n = 0; store->tag.empty(); ++n) {
    if (store->slot_for_key(Key{"t" + std::to_string(n)}) == 1234)
      store->tag = "t" + std::to_string(n);
  }
  const std::vector<std::string> before = small_values(40, "before");
  const std::vector<Key> old_keys = store->set_batch(before);
  for (const Key& key : old_keys)
    REQUIRE(store->slot_for_key(key) == 1234);
  const std::size_t source = cluster.owner_of(1234);
  std::size_t target = source;
  for (const std::size_t p : cluster.live_primaries()) {
    if (p != source)
      target = p;
  }
  REQUIRE(target != source);
  const auto count_on = [&](std::size_t node) {
    return cluster.server(node).command({"CLUSTER", "COUNTKEYSINSLOT", "1234"}).integer;
  };

  cluster.begin_migration(1234, source, target);
  // Nothing moved yet: the source serves the MGET.
  CHECK(store->get_batch<std::string>(old_keys) == found_all(before));
  // New keys are missing on the source (ASK) and the importing target
  // refuses a multi-key write of missing keys (TRYAGAIN): written key by key.
  const std::vector<std::string> during = small_values(30, "during");
  const std::vector<Key> new_keys = store->set_batch(during);
  CHECK(count_on(target) == 30);
  CHECK(count_on(source) == 40);

  // One old key moved: the source has some keys of the MGET, not all
  // (TRYAGAIN): asked key by key, each following ASK.
  const std::string moved_key = "mig:{" + old_keys.front().id + "}";
  const RespReply migrated = cluster.server(source).command(
      {"MIGRATE", "127.0.0.1", std::to_string(cluster.server(target).port()), moved_key, "0",
       "5000"});
  REQUIRE(migrated.type == RespReply::Type::status);
  CHECK(store->get_batch<std::string>(old_keys) == found_all(before));

  cluster.migrate_keys(1234, source, target);
  CHECK(store->get_batch<std::string>(new_keys) == found_all(during));
  cluster.finish_migration(1234, target);
  // MOVED: the map follows, and the batch is one MGET on the new owner again.
  CHECK(store->get_batch<std::string>(old_keys) == found_all(before));
  cluster.server(target).reset_stats();
  CHECK(store->get_batch<std::string>(old_keys) == found_all(before));
  CHECK(cluster.server(target).command_calls("mget") == 1);
  CHECK(cluster.index_of(store->node_for_key(old_keys.front())) == target);
}

TEST_CASE("Redis layer: a large cluster value takes the direct path both ways",
          "[redis][redis-cluster][redis-layer]") {
  RedisCluster cluster;
  auto store = cluster_store(cluster, "direct:");
  std::vector<char> value(std::size_t{3} << 19U);
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<char>(i * 31 % 251);
  const Key key = store->set(value);
  const std::size_t owner = cluster.index_of(store->node_for_key(key));
  CHECK(cluster.server(owner).keys("direct:*").size() == 1);  // one value, no chunks
  CHECK(store->get<std::vector<char>>(key) == value);
  CHECK_THROWS_AS(store->get<std::string>(key), SerializationError);
}

TEST_CASE("Redis layer: ping() answers or names host:port", "[redis][redis-layer]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>(unique_name("ping"), server.host(), server.port(),
                                            layer_options("ping:"));
  CHECK_NOTHROW(store->ping());
  CHECK(server.command_calls("ping") >= 1);

  const int port = server.port();
  server.kill();
  auto down = std::make_shared<RedisStore>(unique_name("ping-down"), "127.0.0.1", port,
                                           layer_options("ping:"));
  CHECK_THROWS_MATCHES(down->ping(), ConnectionError,
                       MessageContains("127.0.0.1:" + std::to_string(port)));

  LocalStore local(unique_name("ping-local"));
  CHECK_NOTHROW(local.ping());
}

TEST_CASE("Redis layer: a cluster's ping() reaches every primary or names the seeds",
          "[redis][redis-cluster][redis-layer]") {
  RedisCluster cluster;
  auto store = cluster_store(cluster, "cping:");
  for (const std::size_t p : cluster.live_primaries())
    cluster.server(p).reset_stats();
  CHECK_NOTHROW(store->ping());
  for (const std::size_t p : cluster.live_primaries())
    CHECK(cluster.server(p).command_calls("ping") == 1);

  RedisServer gone;
  const std::string seed = gone.address();
  gone.kill();
  auto down = std::make_shared<RedisClusterStore>(
      unique_name("cping-down"), std::vector<std::string>{seed}, layer_options("cping:"));
  CHECK_THROWS_MATCHES(down->ping(), ConnectionError, MessageContains(seed));
}

TEST_CASE("Redis layer: a ConnectionError while resolving names type, key and host:port",
          "[redis][redis-layer]") {
  RedisServer server;
  RedisOptions options = layer_options("resolve:");
  auto store =
      std::make_shared<RedisStore>(unique_name("resolve"), server.host(), server.port(), options);
  Proxy<std::vector<double>> proxy = store->proxy(std::vector<double>{1.0, 2.0});
  const Key key = get_factory(proxy).target<StoreFactory<std::vector<double>>>()->key();
  server.kill();
  CHECK_THROWS_MATCHES(resolve(proxy), ConnectionError,
                       MessageContains({"Proxy<vector<f64>>", key.id, server.address()}));
  CHECK_FALSE(is_resolved(proxy));
}
