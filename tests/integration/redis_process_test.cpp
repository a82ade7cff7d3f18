// SPDX-License-Identifier: Apache-2.0
// A proxy made here, serialized, and resolved by a separate process (the
// proxy_consumer helper) that has no store registered: it rebuilds the
// RedisStore from the config inside the proxy.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <numeric>
#include <string>
#include <vector>

using proxystore::ProxyOptions;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::test::ProcessResult;
using proxystore::test::RedisServer;
using proxystore::test::run_process;

namespace {

RedisOptions test_options() {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  options.key_prefix = "xproc:";
  return options;
}

/// Resolves `serialized` (a Proxy<T>) in a fresh proxy_consumer process.
ProcessResult consume(const std::string& type, const std::string& serialized,
                      const std::vector<std::string>& environment = {
                          "PROXYSTORE_REDIS_AUTH", "PROXYSTORE_REDIS_AUTH_FILE"}) {
  ProcessResult result = run_process(PROXYSTORE_HELPER_PROXY_CONSUMER, {type}, serialized,
                                     environment, std::chrono::milliseconds(20000));
  INFO("consumer stdout: " << result.out);
  INFO("consumer stderr: " << result.err);
  REQUIRE_FALSE(result.timed_out);
  return result;
}

}  // namespace

TEST_CASE("RedisStore: a proxy resolves in a separate process", "[redis]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>("redis-xproc-" + std::to_string(server.port()),
                                            server.host(), server.port(), test_options());

  const std::string text = "hello from the producer";
  const std::string serialized = proxystore::serialize(store->proxy(text));
  CHECK(serialized.size() < 512);  // the factory travels, not the object
  ProcessResult result = consume("string", serialized);
  CHECK(result.exit_code == 0);
  CHECK(result.out == text);

  std::vector<double> numbers(100000);
  std::iota(numbers.begin(), numbers.end(), 0.0);
  result = consume("vector_f64", proxystore::serialize(store->proxy(numbers)));
  CHECK(result.exit_code == 0);
  CHECK(result.out == "size=100000 sum=4.99995e+09");

  // Resolving twice is fine: without evict the object stays.
  const std::string again = proxystore::serialize(store->proxy(std::string("twice")));
  CHECK(consume("string", again).out == "twice");
  CHECK(consume("string", again).out == "twice");
}

TEST_CASE("RedisStore: an evicting proxy resolves once and then the key is gone", "[redis]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>("redis-xproc-evict-" + std::to_string(server.port()),
                                            server.host(), server.port(), test_options());
  ProxyOptions options;
  options.evict = true;
  proxystore::Proxy<long long> proxy = store->proxy(1234567890123LL, options);
  const std::string serialized = proxystore::serialize(proxy);
  const auto* factory =
      proxystore::get_factory(proxy).target<proxystore::StoreFactory<long long>>();
  REQUIRE(factory != nullptr);

  ProcessResult first = consume("i64", serialized);
  CHECK(first.exit_code == 0);
  CHECK(first.out == "1234567890123");
  CHECK(server.keys("xproc:*").empty());

  ProcessResult second = consume("i64", serialized);
  CHECK(second.exit_code == 3);
  CHECK_THAT(second.out, Catch::StartsWith("error: ProxyResolveMissingKeyError: "));
}

TEST_CASE("RedisStore: a consumer process gets the password bound to host:port in its environment",
          "[redis]") {
  const std::string password = "xproc-Pa55word";
  RedisServer::Options server_options;
  server_options.extra_args = {"--requirepass", password};
  server_options.admin_password = password;
  RedisServer server(server_options);
  RedisOptions options = test_options();
  options.password = password;
  auto store = std::make_shared<RedisStore>("redis-xproc-auth-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);
  const std::string serialized = proxystore::serialize(store->proxy(std::string("secret stuff")));
  CHECK(serialized.find(password) == std::string::npos);

  ProcessResult with =
      consume("string", serialized, {"PROXYSTORE_REDIS_AUTH=" + server.address() + "=" + password});
  CHECK(with.exit_code == 0);
  CHECK(with.out == "secret stuff");

  // The old process-wide variable is not read by a rebuilt store.
  ProcessResult unbound = consume(
      "string", serialized, {"PROXYSTORE_REDIS_AUTH", "PROXYSTORE_REDIS_PASSWORD=" + password});
  CHECK(unbound.exit_code == 3);
  CHECK_THAT(unbound.out, Catch::StartsWith("error: ConnectionError: ") &&
                              Catch::Contains("PROXYSTORE_REDIS_AUTH") &&
                              !Catch::Contains(password));

  ProcessResult without = consume("string", serialized, {"PROXYSTORE_REDIS_AUTH"});
  CHECK(without.exit_code == 3);
  CHECK_THAT(without.out, Catch::StartsWith("error: ConnectionError: ") &&
                              Catch::Contains(server.address()) && !Catch::Contains(password));
}
