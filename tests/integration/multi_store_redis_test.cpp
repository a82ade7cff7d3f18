// SPDX-License-Identifier: Apache-2.0
// MultiStore over real backends: small objects to a RedisStore on a
// throwaway redis-server, large ones to a FileStore in a temp dir — checked
// by asking each backend directly — and proxies resolved by a separate
// process (the proxy_consumer helper) that rebuilds the MultiStore, and
// both children, from the config inside each proxy.
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/redis_server.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ChildOptions;
using proxystore::test::ChildResult;
using proxystore::test::RedisServer;
using proxystore::test::run_child;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

constexpr std::size_t small_limit = 4096;  // serialized bytes

/// A MultiStore "small → Redis, the rest → files", with its server and directory.
struct RedisAndFiles {
  RedisServer server;
  TempDir dir{"proxystore-multi"};
  ScopedStoreName redis_name{unique_name("ms-redis")};
  ScopedStoreName files_name{unique_name("ms-files")};
  ScopedStoreName multi_name{unique_name("ms-multi")};
  std::shared_ptr<RedisStore> redis;
  std::shared_ptr<FileStore> files;
  std::shared_ptr<MultiStore> multi;

  RedisAndFiles() {
    RedisOptions options;
    options.connect_timeout = std::chrono::milliseconds(2000);
    options.command_timeout = std::chrono::milliseconds(5000);
    options.key_prefix = "multi:";
    redis = std::make_shared<RedisStore>(redis_name, server.host(), server.port(), options);
    files = std::make_shared<FileStore>(files_name, dir / "shared");
    RoutingPolicy small;
    small.max_size = small_limit;
    multi = std::make_shared<MultiStore>(
        multi_name, std::vector<MultiStore::Route>{{redis, small}, {files, {}}});
  }

  /// The id `key` has inside the child that holds it.
  std::string child_id(const Key& key) const { return multi->locate(key).second.id; }
  /// Whether the Redis server holds the object (asked over a raw connection).
  bool in_redis(const Key& key) const {
    return server.command({"EXISTS", "multi:" + child_id(key)}).integer == 1;
  }
  /// Whether the object's file exists in the FileStore's directory.
  bool in_files(const Key& key) const {
    return std::filesystem::exists(dir / "shared" / child_id(key));
  }
};

template <class T>
const Key& key_of(const Proxy<T>& proxy) {
  return get_factory(proxy).template target<StoreFactory<T>>()->key();
}

/// Resolves `serialized` (a Proxy<T>) in a fresh proxy_consumer process,
/// with `environment` ("NAME=value") added to ours.
ChildResult consume(const std::string& type, const std::string& serialized,
                    std::vector<std::string> environment = {}) {
  ChildOptions options;
  options.env = std::move(environment);
  options.timeout = std::chrono::milliseconds(20000);
  ChildResult result = run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {type}, serialized, options);
  UNSCOPED_INFO(result.describe());
  return result;
}

}  // namespace

TEST_CASE("MultiStore sends small objects to Redis and large ones to a FileStore",
          "[multistore][redis][file]") {
  RedisAndFiles stores;
  const std::string small(100, 's');
  const std::vector<double> large(10000, 0.25);  // 80 kB

  const Key small_key = stores.multi->set(small);
  const Key large_key = stores.multi->set(large);
  CHECK(stores.in_redis(small_key));
  CHECK_FALSE(stores.in_files(small_key));
  CHECK(stores.in_files(large_key));
  CHECK_FALSE(stores.in_redis(large_key));
  CHECK(stores.server.keys("multi:*").size() == 1);  // only the small object is in Redis

  // Each child serves its object under the id it knows.
  CHECK(stores.redis->get<std::string>(Key{stores.child_id(small_key)}) == small);
  CHECK(stores.files->get<std::vector<double>>(Key{stores.child_id(large_key)}) == large);
  CHECK(stores.multi->get<std::string>(small_key) == small);
  CHECK(stores.multi->get<std::vector<double>>(large_key) == large);

  // A batch mixing both children, read back in order.
  const std::vector<std::string> values = {"a", std::string(10000, 'B'), "c"};
  const std::vector<Key> keys = stores.multi->set_batch(values);
  CHECK(stores.in_redis(keys[0]));
  CHECK(stores.in_files(keys[1]));
  CHECK(stores.in_redis(keys[2]));
  const auto fetched = stores.multi->get_batch<std::string>(keys);
  CHECK(fetched == std::vector<std::optional<std::string>>{values[0], values[1], values[2]});

  stores.multi->evict(small_key);
  stores.multi->evict(large_key);
  CHECK_FALSE(stores.in_redis(small_key));
  CHECK_FALSE(stores.in_files(large_key));
  CHECK_FALSE(stores.multi->exists(small_key));
  CHECK_FALSE(stores.multi->exists(large_key));
}

TEST_CASE("MultiStore: a lease gives a Redis-routed object a server-side TTL",
          "[multistore][redis][lifetimes]") {
  RedisAndFiles stores;
  ProxyOptions options;
  options.lifetime =
      std::make_shared<LeaseLifetime>(stores.multi, std::chrono::milliseconds(60000));
  auto proxy = stores.multi->proxy(std::string("leased"), options);
  const test::RespReply ttl =
      stores.server.command({"PTTL", "multi:" + stores.child_id(key_of(proxy))});
  CHECK(ttl.integer > 0);  // do_expire reached the Redis child
  CHECK(ttl.integer <= 60000);
  CHECK(proxy == "leased");
}

TEST_CASE("MultiStore: a future routed to Redis wakes its waiter", "[multistore][redis]") {
  RedisAndFiles stores;
  Future<std::string> future = stores.multi->future<std::string>();
  CHECK(stores.multi->locate(future.key()).first == stores.redis);
  auto proxy = future.proxy();
  future.set_result("ready");
  CHECK(proxy == "ready");
  CHECK(stores.in_redis(future.key()));
}

TEST_CASE("MultiStore proxies resolve in another process that rebuilds it from its config",
          "[multistore][redis][file]") {
  RedisAndFiles stores;
  const std::string text = "small text, routed to Redis";
  const std::vector<double> numbers(50000, 0.5);
  auto small_proxy = stores.multi->proxy(text);
  auto large_proxy = stores.multi->proxy(numbers);
  REQUIRE(stores.in_redis(key_of(small_proxy)));
  REQUIRE(stores.in_files(key_of(large_proxy)));

  const std::string small_bytes = serialize(small_proxy);
  const std::string large_bytes = serialize(large_proxy);
  CHECK(large_bytes.size() < 1024);  // the config travels, not the object

  SECTION("both routes resolve") {
    ChildResult small_result = consume("string", small_bytes);
    CHECK(small_result.exit_code == 0);
    CHECK(small_result.out == text);
    ChildResult large_result = consume("vector_f64", large_bytes);
    CHECK(large_result.exit_code == 0);
    CHECK(large_result.out == "size=50000 sum=25000");
  }
  SECTION("the consumer checks each child against its own store policy") {
    const std::vector<std::string> elsewhere = {"PROXYSTORE_ALLOWED_DIRS=/nonexistent-allowed"};
    // Even the Redis-routed object fails: rebuilding the MultiStore rebuilds
    // every child, and the FileStore's directory is refused.
    ChildResult small_result = consume("string", small_bytes, elsewhere);
    CHECK(small_result.exit_code == 3);
    CHECK(small_result.out.find("directory is not allowed") != std::string::npos);
    CHECK(small_result.out.find(stores.files->name()) != std::string::npos);
    ChildResult large_result = consume("vector_f64", large_bytes, elsewhere);
    CHECK(large_result.exit_code == 3);
    CHECK(large_result.out.find("directory is not allowed") != std::string::npos);
  }
  SECTION("an evicted object is reported missing by the consumer") {
    stores.multi->evict(key_of(large_proxy));
    ChildResult result = consume("vector_f64", large_bytes);
    CHECK(result.exit_code == 3);
    CHECK(result.out.find("ProxyResolveMissingKeyError") != std::string::npos);
    CHECK(result.out.find(stores.multi->name()) != std::string::npos);
  }
}
