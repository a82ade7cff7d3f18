// SPDX-License-Identifier: Apache-2.0
// RedisClusterStore against a real local Redis Cluster (3 primaries + 3
// replicas started by the harness): objects spread over every primary,
// cross-slot batches, chunks spread over nodes, a slot migrated during a
// run (ASK then MOVED), a primary killed and its replica promoted, proxies
// resolved in another process, futures and lifetimes, many threads.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/redis_cluster.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <exception>
#include <map>
#include <memory>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::ProcessResult;
using proxystore::test::RedisCluster;
using proxystore::test::RespReply;
using proxystore::test::run_process;
using proxystore::test::unique_name;

namespace redis_cluster_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

RedisOptions options_for(const std::string& prefix,
                         std::size_t chunk_size = std::size_t{1} << 20U) {
  RedisOptions options;
  options.connect_timeout = milliseconds(2000);
  options.command_timeout = milliseconds(10000);
  options.key_prefix = prefix;
  options.chunk_size = chunk_size;
  return options;
}

std::shared_ptr<RedisClusterStore> make_store(const RedisCluster& cluster,
                                              const std::string& prefix,
                                              std::size_t chunk_size = std::size_t{1} << 20U,
                                              RedisClusterOptions cluster_options = {}) {
  return std::make_shared<RedisClusterStore>(unique_name("cluster"), cluster.seeds(),
                                             options_for(prefix, chunk_size), cluster_options);
}

/// Keys matching `pattern` on each node, by node index.
std::map<std::size_t, std::vector<std::string>> keys_by_node(RedisCluster& cluster,
                                                             const std::vector<std::size_t>& nodes,
                                                             const std::string& pattern) {
  std::map<std::size_t, std::vector<std::string>> out;
  for (const std::size_t node : nodes)
    out[node] = cluster.server(node).keys(pattern);
  return out;
}

/// A cluster store whose next key is chosen by the test (to aim at a slot).
class ChosenKeyStore : public RedisClusterStore {
 public:
  using RedisClusterStore::RedisClusterStore;
  std::string next_id;

 protected:
  Key do_new_key() override { return Key{next_id}; }
};

std::size_t total_keys(RedisCluster& cluster, const std::string& pattern) {
  std::size_t total = 0;
  for (const auto& [node, keys] : keys_by_node(cluster, cluster.live_primaries(), pattern))
    total += keys.size();
  return total;
}

/// A live primary other than `source` (`source` itself if there is none).
std::size_t other_primary(const RedisCluster& cluster, std::size_t source) {
  std::size_t other = source;
  for (const std::size_t p : cluster.live_primaries()) {
    if (p != source)
      other = p;
  }
  return other;
}

/// A thread running `body` whose exception is kept in `failure` for the
/// test to rethrow after join(): one escaping a std::thread would
/// terminate the whole run instead of failing this test.
template <class Body>
std::thread guarded_thread(std::exception_ptr& failure, Body body) {
  return std::thread([&failure, body] {
    try {
      body();
    } catch (...) {
      failure = std::current_exception();
    }
  });
}

void rethrow_any(const std::vector<std::exception_ptr>& failures) {
  for (const std::exception_ptr& failure : failures) {
    if (failure)
      std::rethrow_exception(failure);
  }
}

}  // namespace redis_cluster_test

using namespace redis_cluster_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("RedisClusterStore: objects land on every primary and read back",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "spread:");
  std::vector<std::string> values;
  for (int i = 0; i < 300; ++i)
    values.push_back("value-" + std::to_string(i));
  const std::vector<Key> keys = store->set_batch(values);
  REQUIRE(keys.size() == values.size());

  // The store's own slot computation agrees with the server's, and each
  // object sits on the primary the store says serves it.
  const std::vector<std::size_t> primaries = cluster.live_primaries();
  REQUIRE(primaries.size() == 3);
  CHECK(store->primaries().size() == 3);
  std::map<std::size_t, std::size_t> per_node;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string redis_key = "spread:{" + keys[i].id + "}";
    const RespReply slot = cluster.server(0).command({"CLUSTER", "KEYSLOT", redis_key});
    REQUIRE(slot.type == RespReply::Type::integer);
    CHECK(store->slot_for_key(keys[i]) == slot.integer);
    const std::size_t node = cluster.index_of(store->node_for_key(keys[i]));
    CHECK(cluster.server(node).command({"EXISTS", redis_key}).integer == 1);
    ++per_node[node];
  }
  CHECK(per_node.size() == 3);  // 300 random keys: every primary holds some
  for (const auto& [node, count] : per_node) {
    INFO("node " << node);
    CHECK(count > 50);
    CHECK(cluster.server(node).keys("spread:*").size() == count);
  }

  for (std::size_t i = 0; i < keys.size(); ++i) {
    CHECK(store->get<std::string>(keys[i]) == values[i]);
    CHECK(store->exists(keys[i]));
  }
  for (std::size_t i = 0; i < keys.size(); i += 2)
    store->evict(keys[i]);
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(store->exists(keys[i]) == (i % 2 == 1));
  CHECK(total_keys(cluster, "spread:*") == 150);
  CHECK_FALSE(store->get<std::string>(Key{"never-stored"}));
}

TEST_CASE("RedisClusterStore: cross-slot batches never fail with CROSSSLOT",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "batch:", 4096);
  // Small values and a few chunked ones (over 4 KiB), in one batch.
  std::vector<std::vector<double>> values;
  for (int i = 0; i < 200; ++i)
    values.emplace_back(i % 50 == 0 ? 2000 : 8, static_cast<double>(i));
  std::vector<Proxy<std::vector<double>>> proxies = store->proxy_batch(values);
  REQUIRE(proxies.size() == values.size());
  std::vector<Key> keys;
  for (std::size_t i = 0; i < proxies.size(); ++i) {
    CHECK(*proxies[i] == values[i]);
    keys.push_back(get_factory(proxies[i]).target<StoreFactory<std::vector<double>>>()->key());
  }
  // A batch's keys are minted one hash-tagged slot per primary (so each
  // node's share is one MSET): spread over every primary, not one.
  std::set<std::string> nodes;
  for (const Key& key : keys)
    nodes.insert(store->node_for_key(key));
  CHECK(nodes.size() == 3);

  // A multi-key get in one call, with a missing key among them.
  std::vector<Key> wanted = keys;
  wanted.push_back(Key{"missing-key"});
  const auto fetched = store->get_batch<std::vector<double>>(wanted);
  REQUIRE(fetched.size() == wanted.size());
  for (std::size_t i = 0; i < values.size(); ++i)
    CHECK(fetched[i] == values[i]);
  CHECK_FALSE(fetched.back());
  for (const Key& key : keys)
    store->evict(key);
  CHECK(total_keys(cluster, "batch:*") == 0);
}

TEST_CASE("RedisClusterStore: a large value's chunks spread over the primaries",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "big:", 64 << 10);
  std::string value(std::size_t{2} << 20U, '\0');
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<char>(i * 7 + i / 4096);
  // A lease is a TTL on the manifest and on every chunk, wherever they live.
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(60000));
  ProxyOptions leased;
  leased.lifetime = lease;
  const Proxy<std::string> proxy = store->proxy(value, leased);
  const Key key = get_factory(proxy).target<StoreFactory<std::string>>()->key();
  const auto by_node = keys_by_node(cluster, cluster.live_primaries(), "big:*:chunk:*");
  std::size_t chunks = 0;
  for (const auto& [node, keys] : by_node) {
    INFO("node " << node);
    CHECK(keys.size() > 3);  // 33 chunks over 3 primaries: each holds several
    chunks += keys.size();
  }
  CHECK(chunks == 33);  // 2 MiB + the header, in 64 KiB chunks
  CHECK(store->get<std::string>(key) == value);

  for (const auto& [node, keys] : keys_by_node(cluster, cluster.live_primaries(), "big:*")) {
    for (const std::string& k : keys) {
      INFO(k);
      const long long left = cluster.server(node).command({"PTTL", k}).integer;
      CHECK(left > 0);
      CHECK(left <= 60000);
    }
  }
  store->evict(key);
  CHECK(total_keys(cluster, "big:*") == 0);
  CHECK_FALSE(store->get<std::string>(key));
  lease->close();
}

TEST_CASE("RedisClusterStore: a slot migrated during a run (ASK, then MOVED)",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store =
      std::make_shared<ChosenKeyStore>(unique_name("move"), cluster.seeds(), options_for("move:"));
  store->next_id = "first";
  const Key key = store->set(std::string("migrating object"));
  const int slot = store->slot_for_key(key);
  const std::size_t source = cluster.owner_of(slot);
  CHECK(cluster.index_of(store->node_for_key(key)) == source);
  const std::size_t target = other_primary(cluster, source);
  REQUIRE(target != source);

  cluster.begin_migration(slot, source, target);
  CHECK(store->get<std::string>(key) == "migrating object");  // not moved yet: the source serves it
  // A new key in the migrating slot does not exist on the source: ASK.
  std::string id;
  for (int i = 0; id.empty(); ++i) {
    if (store->slot_for_key(Key{"new-" + std::to_string(i)}) == slot)
      id = "new-" + std::to_string(i);
  }
  cluster.server(target).reset_stats();
  store->next_id = id;
  const Key fresh = store->set(std::string("written mid-migration"));  // via ASK to the target
  CHECK(cluster.server(target).command_calls("asking") >= 1);
  // (Without ASKING the target would answer MOVED: count the slot's keys instead.)
  CHECK(cluster.server(target)
            .command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)})
            .integer == 1);
  CHECK(cluster.server(source)
            .command({"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)})
            .integer == 1);

  cluster.migrate_keys(slot, source, target);
  CHECK(cluster.server(source).keys("move:*").empty());
  CHECK(store->get<std::string>(key) == "migrating object");  // ASK: the key moved
  CHECK(store->exists(fresh));
  // The map is unchanged by ASK ...
  CHECK(cluster.index_of(store->node_for_key(key)) == source);

  cluster.finish_migration(slot, target);
  CHECK(store->get<std::string>(key) == "migrating object");  // MOVED
  CHECK(store->get<std::string>(fresh) == "written mid-migration");
  // ... MOVED updates it.
  CHECK(cluster.index_of(store->node_for_key(key)) == target);
  store->evict(key);
  store->evict(fresh);
  CHECK(total_keys(cluster, "move:*") == 0);
}

TEST_CASE("RedisClusterStore: a killed primary's replica takes over, nothing acknowledged lost",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  RedisClusterOptions durable;
  durable.wait_replicas = 1;  // each write acknowledged by a replica before set() returns
  auto store = make_store(cluster, "fail:", 4096, durable);
  std::vector<std::string> values;
  for (int i = 0; i < 150; ++i)
    values.push_back(std::string(i % 30 == 0 ? 10000 : 20, static_cast<char>('a' + i % 26)));
  const std::vector<Key> keys = store->set_batch(values);

  const std::size_t victim = cluster.index_of(store->node_for_key(keys.front()));
  cluster.kill(victim);
  const auto killed_at = Clock::now();
  // Every acknowledged object is read back through the same store, which
  // follows the failover by itself (its reads retry within the command
  // timeout while the replica is elected).
  for (std::size_t i = 0; i < keys.size(); ++i) {
    INFO("object " << i);
    CHECK(store->get<std::string>(keys[i]) == values[i]);
  }
  const auto resumed = std::chrono::duration_cast<milliseconds>(Clock::now() - killed_at);
  INFO("reads resumed " << resumed.count() << " ms after the kill");
  CHECK(resumed < milliseconds(20000));
  const std::size_t promoted = cluster.wait_for_promotion(victim);
  CHECK(cluster.index_of(store->node_for_key(keys.front())) == promoted);

  // The promoted primary has no replica left: a write that demands one
  // fails clearly (stored, but not durable) ...
  std::vector<std::string> more(30, "after the failover");
  CHECK_THROWS_MATCHES(
      store->set_batch(more), StoreOperationError,
      MessageContains({cluster.server(promoted).address(), "1 required replicas"}));
  // ... and a store that does not wait writes everywhere again.
  auto plain = make_store(cluster, "fail:");
  const std::vector<Key> later = plain->set_batch(more);
  for (const Key& key : later)
    CHECK(plain->get<std::string>(key) == "after the failover");
}

TEST_CASE("RedisClusterStore: a proxy resolves in a separate process", "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "xproc:");
  auto consume = [&](const std::string& type, const std::string& serialized) {
    ProcessResult result = run_process(PROXYSTORE_HELPER_PROXY_CONSUMER, {type}, serialized,
                                       {"PROXYSTORE_REDIS_AUTH"}, milliseconds(20000));
    INFO("consumer stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE_FALSE(result.timed_out);
    CHECK(result.exit_code == 0);
    return result.out;
  };
  const std::string text = "from the producer, through the cluster";
  const std::string serialized = serialize(store->proxy(text));
  CHECK(serialized.size() < 1024);
  CHECK(consume("string", serialized) == text);
  std::vector<double> numbers(300000);  // chunked (1 MiB chunks): read from several nodes
  std::iota(numbers.begin(), numbers.end(), 0.0);
  CHECK(consume("vector_f64", serialize(store->proxy(numbers))) == "size=300000 sum=4.49998e+10");

  // Any one reachable seed is enough: the first seeds here are dead.
  RedisOptions options = options_for("xproc:");
  std::vector<std::string> seeds{"127.0.0.1:" + std::to_string(test::free_loopback_port())};
  seeds.push_back(cluster.seeds().back());
  auto via_one_seed = std::make_shared<RedisClusterStore>(unique_name("one-seed"), seeds, options);
  CHECK(consume("string", serialize(via_one_seed->proxy(std::string("one seed")))) == "one seed");
}

TEST_CASE("RedisClusterStore: a rebuilt store may reach only nodes the store policy allows",
          "[redis][redis-cluster][security]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "policy:");
  const Key key = store->set(std::string("guarded"));
  const std::string seed = cluster.server(0).address();
  // As a consumer that trusts only one node: the seed passes the policy,
  // but the cluster names the other primaries, which do not.
  StoreConfig config = store->config();
  config.name = unique_name("policy-rebuilt");
  config.options["seeds"] = seed;
  // Restored however the test ends: a leaked policy would fail later tests.
  struct PolicyRestore {
    StorePolicy saved = store_policy();
    PolicyRestore() = default;
    PolicyRestore(const PolicyRestore&) = delete;
    PolicyRestore& operator=(const PolicyRestore&) = delete;
    ~PolicyRestore() { set_store_policy(saved); }
  } restore;
  StorePolicy only_seed;
  only_seed.allow_loopback = false;
  only_seed.allowed_hosts = {seed};
  set_store_policy(only_seed);
  auto rebuilt = get_or_create_store(config);
  CHECK_THROWS_MATCHES(rebuilt->exists(key), ForbiddenStoreError,
                       MessageContains({config.name, "host is not allowed"}));
  unregister_store(config.name);
  // With every node allowed, the same config works.
  StorePolicy all_nodes = only_seed;
  all_nodes.allowed_hosts = cluster.seeds();
  set_store_policy(all_nodes);
  CHECK(get_or_create_store(config)->get<std::string>(key) == "guarded");
  unregister_store(config.name);
}

TEST_CASE("RedisClusterStore: futures and leases work on a cluster",
          "[redis][redis-cluster][future][lifetime][concurrency]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "fut:", 4096);
  FutureOptions future_options;
  future_options.timeout = milliseconds(10000);
  Future<std::string> future = store->future<std::string>(future_options);
  const Proxy<std::string> proxy = future.proxy();
  std::vector<std::string> got(3);
  std::vector<std::thread> waiters;
  std::vector<std::exception_ptr> failures(got.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    waiters.push_back(guarded_thread(failures[i], [&, i] {
      auto mine = deserialize<Proxy<std::string>>(serialize(proxy));
      got[i] = *mine;
    }));
  }
  std::this_thread::sleep_for(milliseconds(200));  // let them block (not required for correctness)
  const std::string result(10000, 'r');            // chunked: the result spreads too
  future.set_result(result);
  for (auto& waiter : waiters)
    waiter.join();
  rethrow_any(failures);
  for (const std::string& value : got)
    CHECK(value == result);
  store->evict(future.key());
  CHECK(total_keys(cluster, "fut:*") == 0);

  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(500));
  ProxyOptions options;
  options.lifetime = lease;
  const auto leased = store->proxy(std::string(20000, 'l'), options);
  CHECK(total_keys(cluster, "fut:*") == 6);  // manifest + 5 chunks
  // Expired by the servers themselves, chunks included.
  const auto deadline = Clock::now() + milliseconds(5000);
  while (total_keys(cluster, "fut:*") != 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(50));
  CHECK(total_keys(cluster, "fut:*") == 0);
}

TEST_CASE("RedisClusterStore: many threads share one store",
          "[redis][redis-cluster][concurrency]") {
  RedisCluster cluster;
  auto store = make_store(cluster, "mt:", 2048);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> failures(6);
  for (int t = 0; t < 6; ++t) {
    threads.push_back(guarded_thread(failures[static_cast<std::size_t>(t)], [&, t] {
      for (int i = 0; i < 40; ++i) {
        const std::string value(static_cast<std::size_t>(i % 5 == 0 ? 5000 : 10 + i),
                                static_cast<char>('a' + t));
        const Key key = store->set(value);
        if (store->get<std::string>(key) != value)
          ++mismatches;
        if (i % 10 == 0) {
          std::vector<std::string> batch(8, value);
          for (const auto& p : store->proxy_batch(batch)) {
            if (*p != value)
              ++mismatches;
          }
        }
        store->evict(key);
      }
    }));
  }
  for (auto& thread : threads)
    thread.join();
  rethrow_any(failures);
  CHECK(mismatches == 0);
}

TEST_CASE("RedisClusterStore: a slot no node serves is a clear error naming it",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  RedisOptions options = options_for("orphan:");
  options.command_timeout = milliseconds(600);
  auto store = std::make_shared<RedisClusterStore>(unique_name("orphan"), cluster.seeds(), options);
  const Key key = store->set(std::string("soon unreachable"));
  const int slot = store->slot_for_key(key);
  for (std::size_t i = 0; i < cluster.size(); ++i)  // every node forgets who serves it
    cluster.server(i).command({"CLUSTER", "DELSLOTS", std::to_string(slot)});
  store->refresh_slot_map();
  const auto started = Clock::now();
  CHECK_THROWS_MATCHES(
      store->get<std::string>(key), ConnectionError,
      MessageContains({store->name(), "slot " + std::to_string(slot), "not served by any node"}));
  CHECK(Clock::now() - started < milliseconds(5000));
}

TEST_CASE("RedisClusterStore: an unreachable cluster is a clear ConnectionError",
          "[redis][redis-cluster]") {
  const std::string seed = "127.0.0.1:" + std::to_string(test::free_loopback_port());
  RedisOptions options = options_for("down:");
  options.command_timeout = milliseconds(300);
  auto store =
      std::make_shared<RedisClusterStore>("down-cluster", std::vector<std::string>{seed}, options);
  const auto started = Clock::now();
  CHECK_THROWS_MATCHES(store->set(std::string("x")), ConnectionError,
                       MessageContains({"down-cluster", seed}));
  CHECK(Clock::now() - started < milliseconds(5000));  // bounded by the command timeout
}

TEST_CASE("RedisClusterStore: a durable write follows MOVED from a demoted primary",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  RedisClusterOptions durable;
  durable.wait_replicas = 1;
  auto store = make_store(cluster, "demoted:", 4096, durable);
  const Key first = store->set(std::string("before the failover"));  // loads the slot map
  const std::size_t old_primary = cluster.index_of(store->node_for_key(first));
  const std::size_t replica = old_primary + 3;  // the harness: replica of primary p is 3 + p
  // A manual failover: the old primary becomes a replica, but the store's
  // map still names it, so its writes go there first and come back MOVED.
  const RespReply failover = cluster.server(replica).command({"CLUSTER", "FAILOVER"});
  REQUIRE(failover.type != RespReply::Type::error);
  const auto deadline = Clock::now() + milliseconds(20000);
  while (cluster.server(replica).command({"ROLE"}).elements.at(0).text != "master" ||
         cluster.server(old_primary).command({"ROLE"}).elements.at(0).text != "slave") {
    REQUIRE(Clock::now() < deadline);
    std::this_thread::sleep_for(milliseconds(20));
  }
  cluster.wait_until_ok();
  CHECK(cluster.index_of(store->node_for_key(first)) == old_primary);  // not refreshed yet

  // WAIT is refused by a replica; the write it answered MOVED to must
  // still go to the new primary and be acknowledged there.
  std::vector<std::string> values(60, "after the failover");
  const std::vector<Key> keys = store->set_batch(values);
  for (const Key& key : keys)
    CHECK(store->get<std::string>(key) == "after the failover");
  CHECK(store->get<std::string>(first) == "before the failover");
  CHECK(cluster.index_of(store->node_for_key(first)) == replica);  // the get followed MOVED
}

TEST_CASE("RedisClusterStore: a future's waiter follows ASK during a slot migration",
          "[redis][redis-cluster][future]") {
  RedisCluster cluster;
  auto store = std::make_shared<ChosenKeyStore>(unique_name("askwait"), cluster.seeds(),
                                                options_for("askwait:"));
  store->next_id = "awaited";
  const int slot = store->slot_for_key(Key{store->next_id});
  const std::size_t source = cluster.owner_of(slot);
  const std::size_t target = other_primary(cluster, source);
  REQUIRE(target != source);
  // The slot is moving: the key and its companion do not exist on the
  // source, so the source answers ASK to the waiter's BRPOPLPUSH.
  cluster.begin_migration(slot, source, target);
  FutureOptions future_options;
  future_options.timeout = milliseconds(8000);
  Future<std::string> future = store->future<std::string>(future_options);
  const Proxy<std::string> proxy = future.proxy();
  std::string got;
  auto woken = Clock::now();
  std::vector<std::exception_ptr> failures(1);
  std::thread waiter = guarded_thread(failures.front(), [&] {
    auto mine = deserialize<Proxy<std::string>>(serialize(proxy));
    got = *mine;
    woken = Clock::now();
  });
  std::this_thread::sleep_for(milliseconds(300));  // let it block (not required for correctness)
  const auto set_at = Clock::now();
  future.set_result("set mid-migration");  // via ASK: on the target
  waiter.join();
  rethrow_any(failures);
  CHECK(got == "set mid-migration");
  const auto latency = std::chrono::duration_cast<milliseconds>(woken - set_at);
  INFO("the waiter woke " << latency.count() << " ms after set_result");
  CHECK(latency < milliseconds(3000));  // woken by the token, not by its own timeout
  store->evict(future.key());
  CHECK(total_keys(cluster, "askwait:*") == 0);
}

TEST_CASE("RedisClusterStore: too few replicas is reported as such, within the command timeout",
          "[redis][redis-cluster]") {
  RedisCluster::Options alone;
  alone.primaries = 1;
  alone.replicas_per_primary = 0;
  RedisCluster cluster(alone);
  RedisOptions options = options_for("lonely:");
  options.command_timeout = milliseconds(600);
  for (const long long wait_ms : {0LL, 1000LL}) {  // WAIT 0 would block forever in Redis
    INFO("wait_timeout " << wait_ms << " ms");
    RedisClusterOptions durable;
    durable.wait_replicas = 1;
    durable.wait_timeout = milliseconds(wait_ms);
    auto store = std::make_shared<RedisClusterStore>(unique_name("lonely"), cluster.seeds(),
                                                     options, durable);
    const auto started = Clock::now();
    // WAIT's own answer ("0 of 1"), not a read timeout that blames the node.
    CHECK_THROWS_MATCHES(
        store->set(std::string("x")), StoreOperationError,
        MessageContains({cluster.server(0).address(), "0 of 1 required replicas"}));
    CHECK(Clock::now() - started < milliseconds(3000));
  }
}
