// SPDX-License-Identifier: Apache-2.0
// Consumer-side limits on stores rebuilt from proxies (issue 12 items 8
// and 9): config timeouts are clamped by StorePolicy::max_timeout, so a
// forged "command_timeout_ms=0" pointed at a silent listener cannot hang
// the consumer; and rebuilt stores are bounded by max_rebuilt_stores, so a
// stream of forged store names cannot pile up stores and sockets.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/fake_redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <dirent.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

using namespace proxystore;
using proxystore::test::FakeRedisServer;
using proxystore::test::unique_name;

namespace {

using Clock = std::chrono::steady_clock;

/// Restores the process-wide policy after a test.
class PolicyGuard {
 public:
  PolicyGuard() : saved_(store_policy()) {}
  PolicyGuard(const PolicyGuard&) = delete;
  PolicyGuard& operator=(const PolicyGuard&) = delete;
  ~PolicyGuard() { set_store_policy(saved_); }

 private:
  StorePolicy saved_;
};

/// Open file descriptors of this process.
std::size_t open_fds() {
  std::size_t count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (const dirent* entry = ::readdir(dir))
    count += entry->d_name[0] != '.' ? 1 : 0;
  ::closedir(dir);
  return count;
}

StoreConfig redis_config(const FakeRedisServer& server, std::string name,
                         std::map<std::string, std::string> extra = {}) {
  StoreConfig config{"redis",
                     std::move(name),
                     {{"hostname", server.host()}, {"port", std::to_string(server.port())}}};
  for (auto& [option, value] : extra)
    config.options[option] = std::move(value);
  return config;
}

}  // namespace

TEST_CASE("a forged zero timeout against a silent listener times out within max_timeout",
          "[redis][security][limits]") {
  PolicyGuard guard;
  StorePolicy policy = store_policy();
  policy.max_timeout = std::chrono::milliseconds(300);
  set_store_policy(policy);
  // Accepts connections, reads commands, never answers one.
  auto silent = std::make_unique<FakeRedisServer>(
      [](const FakeRedisServer::Command&) { return std::optional<std::string>(); });
  const StoreConfig config =
      redis_config(*silent, unique_name("limits-silent"),
                   {{"connect_timeout_ms", "0"}, {"command_timeout_ms", "0"}});
  const Proxy<std::string> proxy(
      Factory<std::string>(StoreFactory<std::string>(config, Key{"never-answered"})));

  const auto start = Clock::now();
  auto outcome = std::async(std::launch::async, [&]() -> std::string {
    try {
      resolve(proxy);
      return "resolved";
    } catch (const TimeoutError& e) {
      return std::string("TimeoutError: ") + e.what();
    } catch (const Error& e) {
      return std::string("Error: ") + e.what();
    }
  });
  const bool finished = outcome.wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  if (!finished)
    silent.reset();  // closing its sockets ends the hang, so the test fails instead
  REQUIRE(finished);
  const auto elapsed = Clock::now() - start;
  const std::string result = outcome.get();
  CHECK_THAT(result, Catch::StartsWith("TimeoutError: ") && Catch::Contains(silent->address()) &&
                         Catch::Contains("limits-silent"));
  // One command timeout, plus perhaps a retry on a fresh connection.
  CHECK(elapsed < std::chrono::seconds(5));
  unregister_store(config.name);
}

TEST_CASE("timeouts of rebuilt Redis stores are clamped by StorePolicy::max_timeout",
          "[redis][security][limits]") {
  PolicyGuard guard;
  FakeRedisServer server(FakeRedisServer::with_handshake(
      [](const FakeRedisServer::Command&) { return std::optional<std::string>("$-1\r\n"); }));
  auto rebuilt = [&](const char* connect, const char* command) {
    return RedisStore::from_config(
               redis_config(server, unique_name("limits-clamp"),
                            {{"connect_timeout_ms", connect}, {"command_timeout_ms", command}}))
        ->config()
        .options;
  };
  // The default cap is 60 s.
  auto options = rebuilt("0", "999999999");
  CHECK(options["connect_timeout_ms"] == "60000");
  CHECK(options["command_timeout_ms"] == "60000");
  options = rebuilt("250", "1500");
  CHECK(options["connect_timeout_ms"] == "250");
  CHECK(options["command_timeout_ms"] == "1500");

  StorePolicy policy = store_policy();
  policy.max_timeout = std::chrono::milliseconds(1000);
  set_store_policy(policy);
  options = rebuilt("0", "1500");
  CHECK(options["connect_timeout_ms"] == "1000");
  CHECK(options["command_timeout_ms"] == "1000");

  // A store built by this process is not clamped.
  RedisOptions mine;
  mine.command_timeout = std::chrono::milliseconds(0);
  RedisStore own(unique_name("limits-own"), server.host(), server.port(), mine);
  CHECK(own.config().options["command_timeout_ms"] == "0");
}

TEST_CASE("150 forged store names keep at most max_rebuilt_stores stores and sockets",
          "[redis][security][limits][registry]") {
  PolicyGuard guard;
  StorePolicy policy = store_policy();
  policy.max_rebuilt_stores = 8;
  set_store_policy(policy);
  FakeRedisServer server(FakeRedisServer::with_handshake([](const FakeRedisServer::Command& c) {
    return std::optional<std::string>(c[0] == "EXISTS" ? ":0\r\n" : "$-1\r\n");
  }));
  auto own = std::make_shared<LocalStore>(unique_name("limits-own"));
  register_store(own);

  const std::size_t fds_before = open_fds();
  const std::size_t rebuilt_before = detail::rebuilt_store_count();
  std::vector<std::string> names;
  for (int i = 0; i < 150; ++i) {
    names.push_back(unique_name("limits-forged"));
    const Proxy<std::string> proxy(Factory<std::string>(
        StoreFactory<std::string>(redis_config(server, names.back()), Key{"absent"})));
    CHECK_THROWS_AS(resolve(proxy), ProxyResolveMissingKeyError);
  }
  CHECK(server.connections() >= 150);  // each forged store did connect
  // Each live connection is two descriptors here: the client's, and the
  // FakeRedisServer's end of it in this same process (closed by its thread
  // once it sees the client go, hence the short wait).
  const std::size_t fd_bound = fds_before + 2 * 8 + 4;
  std::size_t fds_after = open_fds();
  for (int i = 0; i < 100 && fds_after > fd_bound; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    fds_after = open_fds();
  }
  INFO("fds before " << fds_before << ", after " << fds_after);
  CHECK(fds_after <= fd_bound);
  CHECK(detail::rebuilt_store_count() <= 8);
  CHECK(rebuilt_before <= 8);
  // The most recent names stay registered, the oldest are gone; the
  // user's own store is never evicted.
  CHECK(get_store(names.back()) != nullptr);
  CHECK(get_store(names.front()) == nullptr);
  CHECK(get_store(own->name()) == own);

  // Use refreshes: the least recently USED rebuilt store goes first.
  policy.max_rebuilt_stores = 3;
  set_store_policy(policy);
  std::vector<StoreConfig> configs;
  for (int i = 0; i < 3; ++i) {
    configs.push_back(redis_config(server, unique_name("limits-lru")));
    (void)get_or_create_store(configs.back());
  }
  (void)get_or_create_store(configs[0]);  // touch the oldest
  (void)get_or_create_store(redis_config(server, unique_name("limits-lru")));
  CHECK(get_store(configs[0].name) != nullptr);
  CHECK(get_store(configs[1].name) == nullptr);
  CHECK(get_store(configs[2].name) != nullptr);
  CHECK(detail::rebuilt_store_count() == 3);

  // A rebuilt store the user registers over is the user's: never evicted.
  auto replacement = std::make_shared<LocalStore>(configs[2].name);
  register_store(replacement, /*exist_ok=*/true);
  for (int i = 0; i < 4; ++i)
    (void)get_or_create_store(redis_config(server, unique_name("limits-lru")));
  CHECK(get_store(configs[2].name) == replacement);
  CHECK(detail::rebuilt_store_count() == 3);
  unregister_store(own->name());
  for (const auto& config : configs)
    unregister_store(config.name);
  for (const auto& name : names)
    unregister_store(name);
  CHECK(detail::rebuilt_store_count() <= 3);
}
