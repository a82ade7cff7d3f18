// SPDX-License-Identifier: Apache-2.0
// Redis specifics of lifetimes and futures: server-side TTLs (also on
// chunk keys), a SIGKILLed producer that leaks nothing, futures that block
// in the server (BRPOPLPUSH) rather than poll, and a future resolved by another
// process.
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ChildResult;
using proxystore::test::MessageContains;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;
using proxystore::test::run_child;
using proxystore::test::unique_name;

namespace redis_lifetime_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& prefix,
                                       std::size_t chunk_size = std::size_t{256} << 20U) {
  RedisOptions options;
  options.connect_timeout = milliseconds(2000);
  options.command_timeout = milliseconds(5000);
  options.key_prefix = prefix;
  options.chunk_size = chunk_size;
  return std::make_shared<RedisStore>(unique_name("redis-lifetime"), server.host(), server.port(),
                                      options);
}

long long pttl(const RedisServer& server, const std::string& key) {
  const RespReply reply = server.command({"PTTL", key});
  REQUIRE(reply.type == RespReply::Type::integer);
  return reply.integer;
}

/// Waits until no key matches `pattern` or `limit` passes; the keys left.
std::vector<std::string> keys_after(const RedisServer& server, const std::string& pattern,
                                    milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  std::vector<std::string> keys = server.keys(pattern);
  while (!keys.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(20));
    keys = server.keys(pattern);
  }
  return keys;
}

}  // namespace redis_lifetime_test

using namespace redis_lifetime_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("RedisStore: a lease is a server TTL on the key and its chunks", "[lifetime][redis]") {
  RedisServer server;
  auto store = make_store(server, "ttl:", 1024);
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(400));
  ProxyOptions options;
  options.lifetime = lease;
  const auto proxy = store->proxy(std::string(16000, 'x'), options);
  const std::string key = "ttl:" + get_factory(proxy).target<StoreFactory<std::string>>()->key().id;
  const std::vector<std::string> all = server.keys("ttl:*");
  REQUIRE(all.size() == 1 + 16);  // the manifest and ceil(16000 / 1024) chunks
  for (const std::string& k : all) {
    INFO(k);
    const long long left = pttl(server, k);
    CHECK(left > 0);
    CHECK(left <= 400);
  }
  lease->extend(milliseconds(10000));
  CHECK(pttl(server, key) > 5000);
  CHECK(pttl(server, key + ":chunk:15") > 5000);
  lease->close();
  CHECK(server.keys("ttl:*").empty());
}

TEST_CASE("RedisStore: a SIGKILLed producer's leased objects expire in the server",
          "[lifetime][redis]") {
  RedisServer server;
  const ChildResult result = run_child(
      PROXYSTORE_HELPER_LIFETIME_PRODUCER,
      {"lease-redis", server.host(), std::to_string(server.port()), "killed:", "500"}, "");
  INFO(result.describe());
  REQUIRE(result.signal == SIGKILL);  // killed: no destructor, no atexit, no timer ran
  const std::string key = "killed:" + result.out.substr(0, result.out.find('\n'));
  REQUIRE(key.size() > 10);
  // Still there right after the kill (the lease has not run out) ...
  CHECK(server.command({"EXISTS", key}).integer == 1);
  CHECK(server.keys("killed:*").size() == 1 + 16);
  // ... and gone, chunks included, once it has: the server expired them.
  CHECK(keys_after(server, "killed:*", milliseconds(5000)).empty());
  CHECK(server.command({"EXISTS", key}).integer == 0);
}

TEST_CASE("RedisStore: a future waits in the server, not in a polling loop",
          "[future][redis][concurrency][lease]") {
  RedisServer server;
  auto store = make_store(server, "fut:");
  // Leased: waking must not recreate the token without its TTL.
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(30000));
  FutureOptions options;
  options.lifetime = lease;
  options.timeout = milliseconds(10000);
  Future<std::string> future = store->future<std::string>(options);
  const Proxy<std::string> proxy = future.proxy();
  server.reset_stats();
  std::vector<std::string> got(3);
  std::vector<std::thread> waiters;
  for (std::size_t i = 0; i < got.size(); ++i) {
    waiters.emplace_back([&, i] {
      // Each waiter has its own proxy (as if deserialized elsewhere).
      auto mine = deserialize<Proxy<std::string>>(serialize(proxy));
      got[i] = *mine;
    });
  }
  // Wait until every waiter blocks in BRPOPLPUSH, then set the result.
  const auto deadline = Clock::now() + milliseconds(10000);
  while (server.command_calls("brpoplpush") < 3 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  CHECK(server.command_calls("brpoplpush") >= 3);
  future.set_result("ready");
  for (auto& waiter : waiters)
    waiter.join();
  for (const std::string& value : got)
    CHECK(value == "ready");
  CHECK(server.command_calls("get") <= 6);  // one look before and one after each wait
  const std::string ready = "fut:" + future.key().id + ":ready";
  CHECK(server.command_calls("rpush") == 1);  // set_result's token; no waiter pushes one back
  CHECK(pttl(server, ready) > 0);             // so the list kept the lease's TTL
  CHECK(pttl(server, ready) <= 30000);
  CHECK(server.command({"LLEN", ready}).integer == 1);
  CHECK(future.done());
  store->evict(future.key());
  CHECK(server.keys("fut:*").empty());  // the companion list goes with the key
}

TEST_CASE("RedisStore: a future times out with a clear error", "[future][redis]") {
  RedisServer server;
  auto store = make_store(server, "fut-timeout:");
  FutureOptions options;
  options.timeout = milliseconds(300);
  Future<int> future = store->future<int>(options);
  const Proxy<int> proxy = future.proxy();
  const auto started = Clock::now();
  CHECK_THROWS_MATCHES(resolve(proxy), FutureTimeoutError,
                       MessageContains({store->name(), future.key().id, "300 ms"}));
  const auto waited = Clock::now() - started;
  CHECK(waited >= milliseconds(290));
  CHECK(waited < milliseconds(5000));
  future.set_result(7);
  CHECK(*proxy == 7);  // the next access tries again
}

TEST_CASE("RedisStore: a future resolved across two processes", "[future][redis][concurrency]") {
  RedisServer server;
  auto store = make_store(server, "fut-xproc:");
  FutureOptions options;
  options.timeout = milliseconds(20000);
  Future<std::string> future = store->future<std::string>(options);
  const std::string serialized = serialize(future.proxy());
  server.reset_stats();
  ChildResult consumer;
  std::thread waiter([&] {
    test::ChildOptions child;
    child.unset_env = {"PROXYSTORE_REDIS_AUTH"};
    consumer = run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, serialized, child);
  });
  const auto deadline = Clock::now() + milliseconds(15000);
  while (server.command_calls("brpoplpush") < 1 && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(10));
  const bool blocked = server.command_calls("brpoplpush") >= 1;  // the consumer waits in the server
  future.set_result("made after the consumer started");
  waiter.join();
  INFO(consumer.describe());
  CHECK(blocked);
  CHECK(consumer.exit_code == 0);
  CHECK(consumer.out == "made after the consumer started");
}
