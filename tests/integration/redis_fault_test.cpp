// SPDX-License-Identifier: Apache-2.0
// RedisStore when things go wrong: AUTH, a killed and restarted server, a
// stopped server (timeouts), an unreachable port, and a full server (OOM).
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/scoped_env.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <typeinfo>
#include <vector>

using proxystore::ConnectionError;
using proxystore::Key;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::TimeoutError;
using proxystore::test::message_of;
using proxystore::test::RedisServer;
using proxystore::test::ScopedEnv;

namespace {

using Clock = std::chrono::steady_clock;

RedisOptions test_options() {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  options.key_prefix = "fault:";
  options.store.cache_size = 0;
  return options;
}

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& name,
                                       RedisOptions options = test_options()) {
  return std::make_shared<RedisStore>(name + "-" + std::to_string(server.port()), server.host(),
                                      server.port(), std::move(options));
}

}  // namespace

TEST_CASE("RedisStore: AUTH with requirepass", "[redis]") {
  const std::string password = "s3cret-Pa55word";
  RedisServer::Options server_options;
  server_options.extra_args = {"--requirepass", password};
  server_options.admin_password = password;
  RedisServer server(server_options);

  SECTION("the right password works, and never leaves the process") {
    RedisOptions options = test_options();
    options.password = password;
    auto store = make_store(server, "redis-auth-ok", options);
    const Key key = store->set(std::string("authorised"));
    CHECK(store->get<std::string>(key) == "authorised");

    const proxystore::StoreConfig config = store->config();
    CHECK(config.options.count("password") == 0);
    for (const auto& [name, value] : config.options)
      CHECK_THAT(value, !Catch::Contains(password));
    const std::string proxy_bytes = proxystore::serialize(store->proxy(std::string("x")));
    CHECK(proxy_bytes.find(password) == std::string::npos);

    // ACL form: AUTH <user> <password>.
    options.username = "default";
    auto with_user = make_store(server, "redis-auth-user", options);
    CHECK(with_user->get<std::string>(key) == "authorised");
  }

  SECTION("a wrong password is a ConnectionError that does not echo it") {
    RedisOptions options = test_options();
    options.password = "wrong-Pa55word";
    auto store = make_store(server, "redis-auth-wrong", options);
    const std::string message =
        message_of<ConnectionError>([&] { store->set(std::string("nope")); });
    CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains("AUTH") &&
                            Catch::Contains(store->name()));
    CHECK_THAT(message, !Catch::Contains("wrong-Pa55word") && !Catch::Contains(password));
    // Still refused on the next try (nothing cached a half-open connection).
    CHECK_THROWS_AS(store->exists(Key{"k"}), ConnectionError);
    CHECK(server.keys("*").empty());
  }

  SECTION("no password against a protected server is a ConnectionError") {
    auto store = make_store(server, "redis-auth-none", test_options());
    const std::string message = message_of<ConnectionError>([&] { store->exists(Key{"k"}); });
    CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains("NOAUTH"));
  }

  SECTION("a store rebuilt from its config takes the password bound to its host:port") {
    RedisOptions options = test_options();
    options.password = password;
    auto store = make_store(server, "redis-auth-env", options);
    const Key key = store->set(std::string("via env"));
    const std::string bound = server.address() + "=" + password;
    {
      ScopedEnv env("PROXYSTORE_REDIS_AUTH", bound.c_str());
      CHECK(RedisStore::from_config(store->config())->get<std::string>(key) == "via env");
    }
    {
      ScopedEnv env("PROXYSTORE_REDIS_AUTH", nullptr);
      ScopedEnv old("PROXYSTORE_REDIS_PASSWORD", password.c_str());  // no longer read
      auto rebuilt = RedisStore::from_config(store->config());
      const std::string message =
          message_of<ConnectionError>([&] { (void)rebuilt->get<std::string>(key); });
      CHECK_THAT(message, Catch::Contains("NOAUTH") && Catch::Contains("PROXYSTORE_REDIS_AUTH"));
    }
  }
}

TEST_CASE("RedisStore: a killed server raises ConnectionError and a restarted one works again",
          "[redis]") {
  RedisServer server;
  RedisOptions options = test_options();
  options.pool_size = 4;
  auto store = make_store(server, "redis-restart", options);
  const Key before = store->set(std::string("before"));

  // Open several pooled connections, so stale idle ones exist later.
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 20; ++i)
          static_cast<void>(store->get<std::string>(before));
      });
    }
    for (auto& thread : threads)
      thread.join();
  }

  SECTION("down: every operation fails clearly; back: the same store works") {
    server.kill();
    const std::string message =
        message_of<ConnectionError>([&] { static_cast<void>(store->get<std::string>(before)); });
    CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains(store->name()));
    CHECK_THROWS_AS(store->set(std::string("while down")), ConnectionError);
    CHECK_THROWS_AS(store->exists(before), ConnectionError);

    server.restart();
    const Key after = store->set(std::string("after"));  // the next operation succeeds
    CHECK(store->get<std::string>(after) == "after");
    CHECK_FALSE(store->exists(before));  // a fresh server without persistence
  }

  SECTION("restarted before the next use: stale pooled connections are replaced transparently") {
    server.kill();
    server.restart();
    for (int i = 0; i < 8; ++i)
      CHECK_FALSE(store->get<std::string>(before).has_value());
    const Key after = store->set(std::string("after"));
    CHECK(store->get<std::string>(after) == "after");
  }

  SECTION("a large write to a dead server is an exception, not SIGPIPE") {
    // Writing megabytes into a socket the peer has closed raises SIGPIPE
    // (fatal by default) unless the library guards its writes.
    server.kill();
    const std::string big(8U << 20U, 'x');
    CHECK_THROWS_AS(store->set(big), ConnectionError);
    server.restart();
    CHECK(store->get<std::string>(store->set(big)) == big);
  }
}

TEST_CASE("RedisStore: a stopped server times out within the command timeout", "[redis]") {
  RedisServer server;
  RedisOptions options = test_options();
  options.command_timeout = std::chrono::milliseconds(300);
  auto store = make_store(server, "redis-stopped", options);
  const Key key = store->set(std::string("value"));

  auto timed_failure = [&](auto&& operation) {
    const auto started = Clock::now();
    const std::string message = message_of<TimeoutError>(operation);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    CHECK(elapsed.count() >= 250);  // the bound was honoured, not cut short
    CHECK(elapsed.count() < 2300);  // 300 ms plus a generous scheduling margin
    CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains("300 ms"));
    return message;
  };

  server.stop();
  // An open pooled connection: the reply never comes.
  const std::string message =
      timed_failure([&] { static_cast<void>(store->get<std::string>(key)); });
  CHECK_THAT(message, Catch::Contains("GET"));
  // A store that has not connected yet: the kernel still accepts the
  // connection, and the first command times out.
  auto fresh = make_store(server, "redis-stopped-fresh", options);
  timed_failure([&] { fresh->exists(key); });

  server.cont();
  CHECK(store->get<std::string>(key) == "value");
  CHECK(fresh->exists(key));
}

TEST_CASE("RedisStore: an unreachable port is a ConnectionError naming host:port", "[redis]") {
  const int port = proxystore::test::free_loopback_port();
  RedisStore store("redis-unreachable", "127.0.0.1", port, test_options());
  const auto started = Clock::now();
  std::string message;
  try {
    store.exists(Key{"k"});
    FAIL("no exception");
  } catch (const TimeoutError& e) {
    FAIL(std::string("a refused connection is not a timeout: ") + e.what());
  } catch (const ConnectionError& e) {
    message = e.what();
  }
  CHECK(Clock::now() - started < std::chrono::seconds(2));
  CHECK_THAT(message, Catch::StartsWith("redis store \"redis-unreachable\" at 127.0.0.1:" +
                                        std::to_string(port) + ": connect failed: "));
  CHECK_THAT(message, Catch::Contains("(err 1, errno "));
  CHECK_THROWS_AS(store.get<std::string>(Key{"k"}), ConnectionError);
  CHECK_THROWS_AS(store.set(std::string("v")), ConnectionError);
}

TEST_CASE("RedisStore: a full server (maxmemory) is a StoreOperationError with Redis's message",
          "[redis]") {
  RedisServer::Options server_options;
  server_options.extra_args = {"--maxmemory", "3mb", "--maxmemory-policy", "noeviction"};
  RedisServer server(server_options);
  auto store = make_store(server, "redis-oom");
  RedisOptions chunked_options = test_options();
  chunked_options.chunk_size = 4096;
  auto chunked = make_store(server, "redis-oom-chunked", chunked_options);

  // Fill the server until it refuses. Nothing frees memory afterwards, so
  // from then on every write is refused.
  const std::string block(64 * 1024, 'm');
  std::vector<Key> stored;
  std::string message;
  for (int i = 0; i < 200 && message.empty(); ++i) {  // at most ~13 MB, far past 3 MB
    try {
      stored.push_back(store->set(block));
    } catch (const proxystore::StoreOperationError& e) {
      message = e.what();
    }
  }
  REQUIRE_FALSE(message.empty());
  CHECK_THAT(message, Catch::Contains("OOM") && Catch::Contains("maxmemory") &&
                          Catch::Contains(server.address()) && Catch::Contains("SET"));

  // Chunked writes and batches report it too, and leave nothing behind.
  const std::size_t keys_before = server.keys("fault:*").size();
  message = message_of<proxystore::StoreOperationError>([&] { chunked->set(block); });
  CHECK_THAT(message, Catch::Contains("OOM"));
  CHECK_THROWS_AS(store->set_batch(std::vector<std::string>(3, block)),
                  proxystore::StoreOperationError);
  CHECK_THROWS_AS(chunked->set_batch(std::vector<std::string>{block, "small"}),
                  proxystore::StoreOperationError);
  CHECK(server.keys("fault:*").size() == keys_before);

  // Reads and evictions still work on a full server, and evicting frees room.
  REQUIRE_FALSE(stored.empty());
  CHECK(store->get<std::string>(stored.front()) == block);
  for (const Key& key : stored)
    store->evict(key);
  CHECK(server.keys("fault:*").empty());
  CHECK(chunked->get<std::string>(chunked->set(block)) == block);
}
