// SPDX-License-Identifier: Apache-2.0
// RedisStore's large-value path: Store::set hands a vector's own memory
// down (do_put_parts) and RedisStore writes it with one writev; GET
// payloads are received straight into the target object (do_read) or into
// the buffer that becomes the Bytes (do_get). Chunking, server errors,
// timeouts and recovery behave as on the hiredis path.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

using proxystore::Key;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::SerializationError;
using proxystore::test::RedisServer;

namespace {

template <class T>
T pattern(std::size_t count) {
  T value(count, typename T::value_type{});
  for (std::size_t i = 0; i < count; ++i)
    value[i] = static_cast<typename T::value_type>((i * 31 + 7) % 251);
  return value;
}

RedisOptions options_for_test() {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  options.key_prefix = "direct-io:";
  options.store.cache_size = 0;
  return options;
}

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& name,
                                       RedisOptions options = options_for_test()) {
  return std::make_shared<RedisStore>(name + "-" + std::to_string(server.port()), server.host(),
                                      server.port(), std::move(options));
}

}  // namespace

TEST_CASE("RedisStore: large values round trip through the direct path", "[redis]") {
  RedisServer server;
  auto store = make_store(server, "direct");
  const auto chars = pattern<std::vector<char>>(3 << 20);
  const auto doubles = pattern<std::vector<double>>(300000);
  const auto text = pattern<std::string>(1 << 20);
  std::map<std::string, std::string> nested;  // no raw body: do_put / do_get
  for (int i = 0; i < 200; ++i)
    nested[std::to_string(i)] = std::string(1000, static_cast<char>('a' + i % 26));

  const Key k1 = store->set(chars);
  const Key k2 = store->set(doubles);
  const Key k3 = store->set(text);
  const Key k4 = store->set(nested);
  CHECK(store->get<std::vector<char>>(k1) == chars);
  CHECK(store->get<std::vector<double>>(k2) == doubles);
  CHECK(store->get<std::string>(k3) == text);
  CHECK(store->get<std::map<std::string, std::string>>(k4) == nested);
  // The stored bytes are exactly serialize(): readable by any client.
  CHECK(server.command({"STRLEN", "direct-io:" + k2.id}).integer ==
        static_cast<long long>(proxystore::serialize(doubles).size()));

  SECTION("small values, absent keys and proxies") {
    CHECK(store->get<std::vector<char>>(store->set(std::vector<char>{'a', 'b'})) ==
          std::vector<char>{'a', 'b'});
    CHECK_FALSE(store->get<std::vector<double>>(Key{"nothing-here"}));
    auto proxy = store->proxy(doubles);
    auto received = proxystore::deserialize<proxystore::Proxy<std::vector<double>>>(
        proxystore::serialize(proxy));
    CHECK(*received == doubles);
  }
  SECTION("a wrong type names both types and leaves the store working") {
    CHECK_THROWS_WITH(store->get<std::vector<float>>(k2),
                      Catch::Contains("vector<f64>") && Catch::Contains("vector<f32>"));
    CHECK(store->get<std::vector<char>>(k1) == chars);
  }
  SECTION("a read abandoned midway drops its connection, not the store") {
    RedisOptions limited = options_for_test();
    limited.store.max_object_size = 1 << 20;
    limited.pool_size = 1;
    auto small = make_store(server, "limited", limited);
    CHECK_THROWS_AS(small->get<std::vector<char>>(k1), SerializationError);
    const Key fits = small->set(std::string("fits"));
    CHECK(small->get<std::string>(fits) == std::string("fits"));
  }
}

TEST_CASE("RedisStore: the direct path keeps chunking, errors and timeouts", "[redis]") {
  RedisServer server;

  SECTION("values over the chunk size are still chunked") {
    RedisOptions options = options_for_test();
    options.chunk_size = 256 << 10;
    auto store = make_store(server, "chunked", options);
    const auto doubles = pattern<std::vector<double>>(200000);  // 1.6 MB: 7 chunks
    const Key key = store->set(doubles);
    CHECK(server.keys("direct-io:" + key.id + ":chunk:*").size() == 7);
    CHECK(store->get<std::vector<double>>(key) == doubles);
    store->evict(key);
    CHECK(server.keys("direct-io:*").empty());
  }
  SECTION("a server error reply is a StoreOperationError on a usable connection") {
    RedisOptions options = options_for_test();
    options.pool_size = 1;
    auto store = make_store(server, "wrongtype", options);
    server.command({"RPUSH", "direct-io:a-list", "x"});
    CHECK_THROWS_AS(store->get<std::vector<char>>(Key{"a-list"}), proxystore::StoreOperationError);
    const auto chars = pattern<std::vector<char>>(100000);
    CHECK(store->get<std::vector<char>>(store->set(chars)) == chars);
  }
  SECTION("a stopped server times out, and the store recovers") {
    RedisOptions options = options_for_test();
    options.command_timeout = std::chrono::milliseconds(300);
    auto store = make_store(server, "timeout", options);
    const auto chars = pattern<std::vector<char>>(2 << 20);
    const Key key = store->set(chars);
    server.stop();
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(store->get<std::vector<char>>(key), proxystore::TimeoutError);
    CHECK_THROWS_AS(store->set(chars), proxystore::TimeoutError);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
    server.cont();
    CHECK(store->get<std::vector<char>>(key) == chars);
  }
}

namespace {
/// Decorates RedisStore's do_put/do_get, as a user's subclass might.
class CountingRedisStore final : public RedisStore {
 public:
  using RedisStore::RedisStore;
  int puts = 0;
  int gets = 0;

 protected:
  void do_put(const Key& key, std::string_view bytes) override {
    ++puts;
    RedisStore::do_put(key, bytes);
  }
  std::optional<proxystore::Bytes> do_get(const Key& key) override {
    ++gets;
    return RedisStore::do_get(key);
  }
};
}  // namespace

TEST_CASE("RedisStore: a derived class's do_put and do_get stay authoritative", "[redis]") {
  RedisServer server;
  CountingRedisStore store("counting-" + std::to_string(server.port()), server.host(),
                           server.port(), options_for_test());
  const auto doubles = pattern<std::vector<double>>(200000);
  const Key key = store.set(doubles);
  CHECK(store.puts == 1);
  CHECK(store.get<std::vector<double>>(key) == doubles);
  CHECK(store.gets == 1);
}
