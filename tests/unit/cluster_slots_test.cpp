// SPDX-License-Identifier: Apache-2.0
// Redis Cluster's key-to-slot function and the parsing of redirections,
// against published vectors (a live cluster cross-checks many more keys
// in integration/redis_cluster_test.cpp).
#include "../../src/detail/cluster_slots.hpp"
#include "../../src/detail/cluster_replies.hpp"

#include <proxystore/errors.hpp>
#include <proxystore/security.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include "support/matchers.hpp"

#include <catch2/catch.hpp>

using proxystore::detail::ClusterRedirect;
using proxystore::detail::crc16_xmodem;
using proxystore::detail::hash_tag;
using proxystore::detail::key_slot;
using proxystore::detail::parse_host_port;
using proxystore::detail::parse_redirect;

TEST_CASE("cluster slots: CRC16-XMODEM matches the published check value", "[redis-cluster]") {
  CHECK(crc16_xmodem("123456789") == 0x31C3);  // the CRC catalogue's check value
  CHECK(crc16_xmodem("") == 0);
  CHECK(crc16_xmodem(std::string_view("\0", 1)) == 0);
  CHECK(crc16_xmodem("A") == 0x58E5);
}

TEST_CASE("cluster slots: keys hash to the slots Redis documents", "[redis-cluster]") {
  // From the Redis documentation (CLUSTER KEYSLOT examples).
  CHECK(key_slot("somekey") == 11058);
  CHECK(key_slot("foo{hash_tag}") == 2515);
  CHECK(key_slot("hello") == 866);
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("bar") == 5061);
  // Hash tags: only the first {...} counts, and only when not empty.
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
  CHECK(hash_tag("foo{bar}{zap}") == "bar");
  CHECK(hash_tag("foo{}{bar}") == "foo{}{bar}");
  CHECK(hash_tag("foo{{bar}}zap") == "{bar");
  CHECK(hash_tag("foo{bar") == "foo{bar");
  CHECK(hash_tag("") == "");
  for (const char* key : {"", "a", "proxystore:{0123456789abcdef}", "x{y}z"}) {
    INFO(key);
    CHECK(key_slot(key) >= 0);
    CHECK(key_slot(key) < 16384);
  }
}

TEST_CASE("cluster slots: redirections and addresses are parsed strictly", "[redis-cluster]") {
  auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  REQUIRE(moved);
  CHECK(moved->kind == ClusterRedirect::Kind::moved);
  CHECK(moved->slot == 3999);
  CHECK(moved->target.host == "127.0.0.1");
  CHECK(moved->target.port == 6381);
  auto ask = parse_redirect("ASK 0 [::1]:7000");
  REQUIRE(ask);
  CHECK(ask->kind == ClusterRedirect::Kind::ask);
  CHECK(ask->target.host == "::1");
  CHECK(ask->target.address() == "[::1]:7000");
  CHECK_FALSE(parse_redirect("MOVED 16384 127.0.0.1:6381"));  // no such slot
  CHECK_FALSE(parse_redirect("MOVED 12 127.0.0.1"));          // no port
  CHECK_FALSE(parse_redirect("MOVED x 127.0.0.1:1"));
  CHECK_FALSE(parse_redirect("ERR MOVED 1 127.0.0.1:1"));
  CHECK_FALSE(parse_redirect("MOVED"));
  CHECK(parse_host_port("localhost:6379")->port == 6379);
  CHECK_FALSE(parse_host_port("localhost:0"));
  CHECK_FALSE(parse_host_port("localhost:65536"));
  CHECK_FALSE(parse_host_port(":6379"));
  CHECK_FALSE(parse_host_port("::1:6379"));  // IPv6 needs brackets
  CHECK(proxystore::detail::is_transient_cluster_error("TRYAGAIN Multiple keys request"));
  CHECK(proxystore::detail::is_transient_cluster_error("CLUSTERDOWN The cluster is down"));
  CHECK_FALSE(proxystore::detail::is_transient_cluster_error("ERR unknown command"));
}

TEST_CASE("RedisClusterStore: invalid options are refused with clear errors", "[redis-cluster]") {
  using proxystore::Error;
  using proxystore::RedisClusterStore;
  using proxystore::RedisOptions;
  using proxystore::test::MessageContains;
  CHECK_THROWS_MATCHES(RedisClusterStore("c", {}), Error, MessageContains({"\"c\"", "no seed"}));
  CHECK_THROWS_MATCHES(RedisClusterStore("c", {"127.0.0.1"}), Error,
                       MessageContains({"\"127.0.0.1\"", "host:port"}));
  RedisOptions db;
  db.db = 2;
  CHECK_THROWS_MATCHES(RedisClusterStore("c", {"127.0.0.1:7000"}, db), Error,
                       MessageContains({"db 2", "only database 0"}));
  RedisOptions braces;
  braces.key_prefix = "app{1}:";
  CHECK_THROWS_MATCHES(RedisClusterStore("c", {"127.0.0.1:7000"}, braces), Error,
                       MessageContains({"app{1}:", "hash tag"}));
  proxystore::RedisClusterOptions cluster;
  cluster.wait_replicas = -1;
  CHECK_THROWS_MATCHES(RedisClusterStore("c", {"127.0.0.1:7000"}, {}, cluster), Error,
                       MessageContains({"wait_replicas -1"}));
}

TEST_CASE("RedisClusterStore: the config carries the seeds, never the password",
          "[redis-cluster]") {
  using namespace proxystore;  // NOLINT(google-build-using-namespace): test scope
  RedisOptions options;
  options.password = "cluster-Secret";
  options.key_prefix = "cfg:";
  options.command_timeout = std::chrono::milliseconds(1234);
  RedisClusterOptions cluster;
  cluster.wait_replicas = 1;
  RedisClusterStore store("cfg", {"127.0.0.1:7000", "[::1]:7001"}, options, cluster);
  const StoreConfig config = store.config();
  CHECK(config.type == "redis-cluster");
  CHECK(config.options.at("seeds") == "127.0.0.1:7000,[::1]:7001");
  CHECK(config.options.at("key_prefix") == "cfg:");
  CHECK(config.options.at("command_timeout_ms") == "1234");
  CHECK(config.options.at("wait_replicas") == "1");
  for (const auto& [name, value] : config.options)
    CHECK(value.find("cluster-Secret") == std::string::npos);
  auto rebuilt = RedisClusterStore::from_config(config);
  CHECK(rebuilt->config().options == config.options);
  CHECK(rebuilt->seed_nodes() == store.seed_nodes());
  StoreConfig bad = config;
  bad.options["seeds"] = "127.0.0.1:7000,nope";
  CHECK_THROWS_MATCHES(RedisClusterStore::from_config(bad), Error,
                       test::MessageContains({"\"nope\""}));
  bad.options.erase("seeds");
  CHECK_THROWS_MATCHES(RedisClusterStore::from_config(bad), Error,
                       test::MessageContains({"'seeds'"}));
}

TEST_CASE("RedisClusterStore: the store policy checks every seed", "[redis-cluster]") {
  using namespace proxystore;  // NOLINT(google-build-using-namespace): test scope
  const StorePolicy saved = store_policy();
  set_store_policy(StorePolicy{});  // loopback only, whatever the environment says
  StoreConfig config{"redis-cluster", "policy-cluster", {{"seeds", "127.0.0.1:7000,[::1]:7001"}}};
  CHECK_NOTHROW(check_store_config(config));
  config.options["seeds"] = "127.0.0.1:7000,10.1.2.3:7001";
  CHECK_THROWS_MATCHES(check_store_config(config), ForbiddenStoreError,
                       test::MessageContains({"policy-cluster", "10.1.2.3:7001"}));
  StorePolicy remote;
  remote.allowed_hosts = {"10.1.2.3:7001"};
  set_store_policy(remote);
  CHECK_NOTHROW(check_store_config(config));
  set_store_policy(saved);
}
