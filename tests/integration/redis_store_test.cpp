// SPDX-License-Identifier: Apache-2.0
// RedisStore against a real, private redis-server: every operation,
// batches (round trips counted by the server), chunked values, key
// prefixes, config round trips and the registry.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/matchers.hpp"
#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using proxystore::Key;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::test::message_of;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;

namespace {

RedisOptions test_options(std::string prefix = "proxystore-test:") {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  options.key_prefix = std::move(prefix);
  options.store.cache_size = 0;  // every read reaches the server
  return options;
}

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& name,
                                       RedisOptions options = test_options()) {
  return std::make_shared<RedisStore>(name + "-" + std::to_string(server.port()), server.host(),
                                      server.port(), std::move(options));
}

std::string random_bytes(std::size_t size, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out(size, '\0');
  for (char& c : out)
    c = static_cast<char>(byte(generator));
  return out;
}

}  // namespace

TEST_CASE("RedisStore: set get exists and evict round trip", "[redis]") {
  RedisServer server;
  auto store = make_store(server, "redis-ops");

  const std::string text("binary\0safe\r\nvalue", 18);
  const Key text_key = store->set(text);
  const Key numbers_key = store->set(std::vector<double>{1.5, -2.25, 1e300});
  const Key number_key = store->set(42LL);

  CHECK(store->get<std::string>(text_key) == text);
  CHECK(store->get<std::vector<double>>(numbers_key) == std::vector<double>{1.5, -2.25, 1e300});
  CHECK(store->get<long long>(number_key) == 42LL);
  CHECK(store->exists(text_key));

  // Every key lives under the prefix, and only there.
  const std::vector<std::string> keys = server.keys("*");
  CHECK(keys.size() == 3);
  CHECK(std::count(keys.begin(), keys.end(), "proxystore-test:" + text_key.id) == 1);
  for (const std::string& key : keys)
    CHECK(key.rfind("proxystore-test:", 0) == 0);

  store->evict(text_key);
  CHECK_FALSE(store->exists(text_key));
  CHECK_FALSE(store->get<std::string>(text_key).has_value());
  CHECK(server.keys("*").size() == 2);

  // Absent keys: nullopt, false, and evict is a no-op.
  const Key missing{"never-stored"};
  CHECK_FALSE(store->get<std::string>(missing).has_value());
  CHECK_FALSE(store->exists(missing));
  CHECK_NOTHROW(store->evict(missing));

  // Empty values round-trip too.
  const Key empty_key = store->set(std::string());
  CHECK(store->get<std::string>(empty_key) == std::string());
}

TEST_CASE("RedisStore: reading a key as the wrong type names both types", "[redis]") {
  RedisServer server;
  auto store = make_store(server, "redis-types");
  const Key key = store->set(std::string("a string"));
  const std::string message = message_of<proxystore::SerializationError>(
      [&] { static_cast<void>(store->get<std::vector<double>>(key)); });
  CHECK_THAT(message, Catch::Contains("string") && Catch::Contains("vector<f64>") &&
                          Catch::Contains(key.id));
  // The object is intact and still readable as what it is.
  CHECK(store->get<std::string>(key) == "a string");
}

TEST_CASE("RedisStore: the constructor does not connect", "[redis]") {
  const int port = proxystore::test::free_loopback_port();
  RedisStore store("redis-lazy", "127.0.0.1", port, test_options());  // nothing listens: no throw
  CHECK(store.hostname() == "127.0.0.1");
  CHECK(store.port() == port);
  CHECK_THROWS_AS(store.exists(Key{"k"}), proxystore::ConnectionError);
}

TEST_CASE("RedisStore: batches take one round trip", "[redis]") {
  RedisServer server;
  auto store = make_store(server, "redis-batch");
  std::vector<std::string> values;
  for (int i = 0; i < 100; ++i)
    values.push_back("value-" + std::to_string(i));

  server.reset_stats();
  const std::vector<Key> keys = store->set_batch(values);
  REQUIRE(keys.size() == 100);
  CHECK(server.command_calls("mset") == 1);
  CHECK(server.command_calls("set") == 0);
  CHECK(server.keys("proxystore-test:*").size() == 100);

  std::vector<Key> query = keys;
  query.insert(query.begin() + 50, Key{"absent"});
  server.reset_stats();
  const std::vector<std::optional<std::string>> read = store->get_batch<std::string>(query);
  CHECK(server.command_calls("mget") == 1);
  CHECK(server.command_calls("get") == 0);
  REQUIRE(read.size() == 101);
  CHECK_FALSE(read[50].has_value());
  for (std::size_t i = 0; i < 100; ++i) {
    const auto& value = read[i < 50 ? i : i + 1];
    REQUIRE(value.has_value());
    CHECK(*value == values[i]);
  }

  // proxy_batch: also one MSET, and every proxy resolves.
  server.reset_stats();
  std::vector<proxystore::Proxy<std::string>> proxies = store->proxy_batch(values);
  CHECK(server.command_calls("mset") == 1);
  CHECK(server.command_calls("set") == 0);
  REQUIRE(proxies.size() == 100);
  CHECK(*proxies[7] == "value-7");
  CHECK(proxies[99] == "value-99");

  // An empty batch touches nothing.
  server.reset_stats();
  CHECK(store->set_batch(std::vector<std::string>{}).empty());
  CHECK(store->get_batch<std::string>({}).empty());
  CHECK(server.command_calls("mset") + server.command_calls("mget") == 0);
}

TEST_CASE("RedisStore: values over the chunk size are split and reassembled", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options("chunky:");
  options.chunk_size = 1024;
  auto store = make_store(server, "redis-chunks", options);

  const std::string big = random_bytes(100 * 1024, 7);
  server.reset_stats();
  const Key key = store->set(big);

  // The value under the key is a manifest, the bytes live in the chunks.
  const std::vector<std::string> keys = server.keys("chunky:*");
  const std::size_t chunks = keys.size() - 1;
  CHECK(chunks >= 100);
  CHECK(chunks <= 102);
  CHECK(std::count(keys.begin(), keys.end(), "chunky:" + key.id + ":chunk:0") == 1);
  const RespReply head = server.command({"GET", "chunky:" + key.id});
  REQUIRE(head.type == RespReply::Type::bulk);
  CHECK(head.text.size() < 128);
  CHECK(head.text.rfind("PX", 0) != 0);  // never confusable with a stored object
  for (std::size_t i = 0; i < chunks; ++i) {
    const RespReply chunk =
        server.command({"STRLEN", "chunky:" + key.id + ":chunk:" + std::to_string(i)});
    if (i + 1 < chunks) {
      CHECK(chunk.integer == 1024);
    } else {
      CHECK(chunk.integer > 0);
      CHECK(chunk.integer <= 1024);
    }
  }

  server.reset_stats();
  CHECK(store->get<std::string>(key) == big);
  // One GET for the manifest, the chunks pipelined (one round trip).
  CHECK(server.command_calls("get") == static_cast<long long>(chunks) + 1);
  CHECK(store->exists(key));

  // Sizes around the boundary, and a batch mixing chunked and plain values.
  std::vector<std::string> values{std::string(),         std::string("small"),
                                  random_bytes(1000, 1), random_bytes(1024, 2),
                                  random_bytes(1025, 3), random_bytes(5000, 4)};
  server.reset_stats();
  const std::vector<Key> batch = store->set_batch(values);
  CHECK(server.command_calls("mset") == 1);  // plain values and manifests together
  const auto read = store->get_batch<std::string>(batch);
  REQUIRE(read.size() == values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    REQUIRE(read[i].has_value());
    CHECK(*read[i] == values[i]);
  }
  for (std::size_t i = 0; i < batch.size(); ++i)
    CHECK(store->get<std::string>(batch[i]) == values[i]);

  // Evict removes the manifest and every chunk.
  store->evict(key);
  CHECK_FALSE(store->exists(key));
  CHECK_FALSE(store->get<std::string>(key).has_value());
  CHECK(server.keys("chunky:" + key.id + "*").empty());
  for (const Key& k : batch)
    store->evict(k);
  CHECK(server.keys("chunky:*").empty());

  // A reader with another chunk size follows the manifest, not its option.
  const Key again = store->set(big);
  RedisOptions other = test_options("chunky:");
  other.chunk_size = 4000;
  auto reader = make_store(server, "redis-chunks-reader", other);
  CHECK(reader->get<std::string>(again) == big);
}

TEST_CASE("RedisStore: chunks of a vanished value read as absent", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options("gone:");
  options.chunk_size = 1024;  // RedisOptions::min_chunk_size
  auto store = make_store(server, "redis-chunks-gone", options);
  const Key key = store->set(random_bytes(8000, 9));
  // Someone else removed a chunk (e.g. an evict racing this read).
  REQUIRE(server.command({"DEL", "gone:" + key.id + ":chunk:3"}).integer == 1);
  CHECK_FALSE(store->get<std::string>(key).has_value());
  store->evict(key);
  CHECK(server.keys("gone:*").empty());

  // A chunk of the wrong size, or a mangled manifest, is reported, not
  // handed up as an object.
  const Key damaged = store->set(random_bytes(8000, 10));
  const std::string chunk = "gone:" + damaged.id + ":chunk:2";
  REQUIRE(server.command({"SET", chunk, "short"}).type == RespReply::Type::status);
  std::string message = message_of<proxystore::StoreOperationError>(
      [&] { static_cast<void>(store->get<std::string>(damaged)); });
  CHECK_THAT(message, Catch::Contains(chunk) && Catch::Contains(server.address()));
  const std::string manifest = server.command({"GET", "gone:" + damaged.id}).text;
  REQUIRE(
      server.command({"SET", "gone:" + damaged.id, manifest.substr(0, manifest.size() - 1) + "x"})
          .type == RespReply::Type::status);
  message = message_of<proxystore::StoreOperationError>(
      [&] { static_cast<void>(store->get<std::string>(damaged)); });
  CHECK_THAT(message, Catch::Contains("corrupt chunk manifest"));
}

TEST_CASE("RedisStore: never touches keys outside its prefix", "[redis]") {
  RedisServer server;
  REQUIRE(server.command({"SET", "foreign", "keep me"}).type == RespReply::Type::status);
  auto a = make_store(server, "redis-prefix-a", test_options("a:"));
  auto b = make_store(server, "redis-prefix-b", test_options("b:"));

  const Key key = a->set(std::string("in a"));
  CHECK_FALSE(b->exists(key));
  CHECK_FALSE(b->get<std::string>(key).has_value());
  b->evict(key);  // b's key space has no such key; a's copy stays
  CHECK(a->get<std::string>(key) == "in a");
  CHECK_FALSE(a->exists(Key{"foreign"}));  // would be "a:foreign"

  a->evict(key);
  CHECK(server.keys("*") == std::vector<std::string>{"foreign"});
  CHECK(server.command({"GET", "foreign"}).text == "keep me");
}

TEST_CASE("RedisStore: db selects the database", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options();
  options.db = 3;
  auto store = make_store(server, "redis-db", options);
  const Key key = store->set(std::string("in db 3"));
  const std::string keyspace = server.command({"INFO", "keyspace"}).text;
  CHECK_THAT(keyspace, Catch::Contains("db3:keys=1"));
  CHECK_THAT(keyspace, !Catch::Contains("db0:"));
  CHECK(store->get<std::string>(key) == "in db 3");

  // A database the server does not have: ConnectionError at the first use.
  options.db = 999;
  auto bad = make_store(server, "redis-db-bad", options);
  const std::string message = message_of<proxystore::ConnectionError>([&] { bad->exists(key); });
  CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains("SELECT 999"));
}

TEST_CASE("RedisStore: config round trip and registry rebuild", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options("cfg:");
  options.username = "default";
  options.password = "not-in-config";
  options.db = 2;
  options.connect_timeout = std::chrono::milliseconds(1234);
  options.command_timeout = std::chrono::milliseconds(5678);
  // The server has no password: keep AUTH out of this test.
  options.password.clear();
  auto store = make_store(server, "redis-config", options);

  const proxystore::StoreConfig config = store->config();
  CHECK(config.type == "redis");
  CHECK(config.name == store->name());
  const std::map<std::string, std::string> expected{{"hostname", "127.0.0.1"},
                                                    {"port", std::to_string(server.port())},
                                                    {"db", "2"},
                                                    {"username", "default"},
                                                    {"key_prefix", "cfg:"},
                                                    {"connect_timeout_ms", "1234"},
                                                    {"command_timeout_ms", "5678"}};
  CHECK(config.options == expected);

  auto rebuilt = RedisStore::from_config(config);
  CHECK(rebuilt->config() == config);
  CHECK(rebuilt->port() == server.port());

  // Registry: unregister, then rebuild from the config alone; the rebuilt
  // store reads what the first one wrote.
  const Key key = store->set(std::string("shared"));
  proxystore::register_store(store);
  proxystore::unregister_store(config.name);
  REQUIRE(proxystore::get_store(config.name) == nullptr);
  std::shared_ptr<proxystore::Store> built = proxystore::get_or_create_store(config);
  REQUIRE(built != nullptr);
  CHECK(built.get() != store.get());
  CHECK(dynamic_cast<RedisStore*>(built.get()) != nullptr);
  CHECK(proxystore::get_store(config.name) == built);
  CHECK(built->get<std::string>(key) == "shared");
  CHECK(proxystore::get_or_create_store(config) == built);  // found, not rebuilt
  proxystore::unregister_store(config.name);

  // Malformed or missing options: Error naming the store and the option.
  auto broken = config;
  broken.options["port"] = "63x79";
  std::string message = message_of<proxystore::Error>([&] { RedisStore::from_config(broken); });
  CHECK_THAT(message,
             Catch::Contains(config.name) && Catch::Contains("'port'") && Catch::Contains("63x79"));
  broken.options["port"] = "70000";
  CHECK_THROWS_AS(RedisStore::from_config(broken), proxystore::Error);
  broken = config;
  broken.options["command_timeout_ms"] = "-5";
  message = message_of<proxystore::Error>([&] { RedisStore::from_config(broken); });
  CHECK_THAT(message, Catch::Contains("'command_timeout_ms'"));
  broken = config;
  broken.options.erase("hostname");
  message = message_of<proxystore::Error>([&] { RedisStore::from_config(broken); });
  CHECK_THAT(message, Catch::Contains(config.name) && Catch::Contains("'hostname'"));
  broken = config;
  broken.options.erase("db");  // optional: defaults apply
  CHECK(RedisStore::from_config(broken)->config().options.at("db") == "0");

  // Invalid constructor options fail fast, naming the store.
  RedisOptions bad = test_options();
  bad.pool_size = 0;
  message = message_of<proxystore::Error>([&] { RedisStore("redis-bad", "127.0.0.1", 1, bad); });
  CHECK_THAT(message, Catch::Contains("redis-bad") && Catch::Contains("pool_size"));
  CHECK_THROWS_AS(RedisStore("redis-bad", "127.0.0.1", 0, test_options()), proxystore::Error);
}

TEST_CASE("RedisStore: metrics and cache work through the backend", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options();
  options.store.cache_size = 4;
  options.store.metrics = true;
  auto store = make_store(server, "redis-metrics", options);
  const Key key = store->set(std::string(1000, 'x'));
  server.reset_stats();
  CHECK(store->get<std::string>(key)->size() == 1000);
  CHECK(store->get<std::string>(key)->size() == 1000);  // from the cache
  CHECK(server.command_calls("get") == 1);
  store->evict(key);
  CHECK_FALSE(store->get<std::string>(key).has_value());

  const proxystore::StoreMetrics metrics = store->metrics();
  CHECK(metrics.at("set").count == 1);
  CHECK(metrics.at("set").bytes > 1000);
  CHECK(metrics.at("get").count == 2);  // the first read and the read after evict
  CHECK(metrics.at("cache_hit").count == 1);
  CHECK(metrics.at("evict").count == 1);
}

TEST_CASE("RedisStoreTraits: conformance-suite stores on a private server", "[redis]") {
  proxystore::test::RedisStoreTraits traits;
  auto store = traits.make("redis-traits-" + std::to_string(traits.server.port()));
  const Key key = store->set(std::string("conforming"));
  auto rebuilt = RedisStore::from_config(store->config());
  CHECK(rebuilt->get<std::string>(key) == "conforming");  // shares_data_when_rebuilt
  CHECK(store->config().type == proxystore::test::RedisStoreTraits::type);
}
