// SPDX-License-Identifier: Apache-2.0
// Credentials bound to endpoints (issue 12 item 4): a store rebuilt from a
// proxy sends a password only to the host:port PROXYSTORE_REDIS_AUTH (or
// PROXYSTORE_REDIS_AUTH_FILE) binds it to — never to whatever a forged
// proxy names. An eavesdropping FakeRedisServer records what it receives;
// the bound endpoint is a real redis-server with --requirepass.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include "support/fake_redis_server.hpp"
#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/scoped_env.hpp"
#include "support/temp_dir.hpp"

// The parser is private; its malformed-entry cases are tested directly.
#include "../../src/detail/redis_credentials.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

using namespace proxystore;
using proxystore::test::FakeRedisServer;
using proxystore::test::message_of;
using proxystore::test::RedisServer;
using proxystore::test::ScopedEnv;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

const std::string password = "Bound-pw-3c9e-only-for-its-port";

RedisOptions auth_options() {
  RedisOptions options;
  options.password = password;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(2000);
  options.key_prefix = "creds:";
  options.store.cache_size = 0;
  return options;
}

RedisServer::Options protected_server() {
  RedisServer::Options options;
  options.extra_args = {"--requirepass", password};
  options.admin_password = password;
  return options;
}

/// The producer's own store on `server`, with the password.
std::shared_ptr<RedisStore> producer_on(const RedisServer& server) {
  return std::make_shared<RedisStore>(unique_name("creds-producer"), server.host(), server.port(),
                                      auth_options());
}

/// An eavesdropper: answers like a password-less server with no keys.
FakeRedisServer::Handler empty_server() {
  return FakeRedisServer::with_handshake([](const FakeRedisServer::Command& command) {
    if (!command.empty() && (command[0] == "EXISTS" || command[0] == "DEL"))
      return std::optional<std::string>(FakeRedisServer::integer(0));
    return std::optional<std::string>(FakeRedisServer::nil());
  });
}

/// Whether any command the server received carries `secret` in any argument.
bool received(const FakeRedisServer& server, const std::string& secret) {
  for (const auto& command : server.commands()) {
    for (const auto& arg : command) {
      if (arg.find(secret) != std::string::npos)
        return true;
    }
  }
  return false;
}

std::size_t count_commands(const FakeRedisServer& server, const std::string& name) {
  std::size_t n = 0;
  for (const auto& command : server.commands())
    n += !command.empty() && command[0] == name ? 1 : 0;
  return n;
}

/// `config` renamed (a consumer that has no store of that name rebuilds it)
/// and optionally re-pointed at `port`.
StoreConfig forged(StoreConfig config, int port = 0) {
  config.name = unique_name("creds-forged");
  if (port != 0)
    config.options["port"] = std::to_string(port);
  return config;
}

}  // namespace

TEST_CASE("a rebuilt RedisStore never sends a bound password to another port",
          "[redis][security][credentials]") {
  RedisServer server(protected_server());
  FakeRedisServer eavesdropper(empty_server());
  auto producer = producer_on(server);
  const auto proxy = producer->proxy(std::string("guarded by a bound password"));
  const auto* factory = get_factory(proxy).target<StoreFactory<std::string>>();
  REQUIRE(factory != nullptr);

  const std::string binding = server.address() + "=" + password;
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", binding.c_str());
  ScopedEnv file("PROXYSTORE_REDIS_AUTH_FILE", nullptr);
  // The old process-wide variable is set too: it must not be sent either.
  ScopedEnv old("PROXYSTORE_REDIS_PASSWORD", password.c_str());

  // The forged proxy: the producer's config and key, another loopback port.
  const StoreConfig evil = forged(factory->config(), eavesdropper.port());
  const Proxy<std::string> forged_proxy(
      Factory<std::string>(StoreFactory<std::string>(evil, factory->key())));
  CHECK_THROWS_AS(resolve(forged_proxy), ProxyResolveMissingKeyError);
  CHECK(eavesdropper.connections() >= 1);
  CHECK(count_commands(eavesdropper, "AUTH") == 0);
  CHECK_FALSE(received(eavesdropper, password));

  // The genuine endpoint, rebuilt under a fresh name: the bound password works.
  const StoreConfig genuine = forged(factory->config());
  const Proxy<std::string> rebuilt(
      Factory<std::string>(StoreFactory<std::string>(genuine, factory->key())));
  CHECK(*rebuilt == "guarded by a bound password");
  unregister_store(evil.name);
  unregister_store(genuine.name);
}

TEST_CASE("a bound entry names the ACL user; the entry for the port decides",
          "[redis][security][credentials]") {
  RedisServer server(protected_server());
  FakeRedisServer other(empty_server());
  auto producer = producer_on(server);
  const Key key = producer->set(std::string("as default user"));
  // Two entries: the fake's port gets a decoy, the real port user:password
  // (the password itself contains ':' and '=').
  const std::string decoy = "decoy-for-the-other-port";
  const std::string binding =
      other.address() + "=" + decoy + " , " + server.address() + "=default:" + password;
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", binding.c_str());
  ScopedEnv file("PROXYSTORE_REDIS_AUTH_FILE", nullptr);

  auto rebuilt = RedisStore::from_config(forged(producer->config()));
  CHECK(rebuilt->get<std::string>(key) == "as default user");

  auto elsewhere = RedisStore::from_config(forged(producer->config(), other.port()));
  CHECK_FALSE(elsewhere->exists(key));
  // The other port got its own entry, and only it.
  CHECK(received(other, decoy));
  CHECK_FALSE(received(other, password));
}

TEST_CASE("without a bound entry a rebuilt store sends no password and says how to bind one",
          "[redis][security][credentials]") {
  RedisServer server(protected_server());
  auto producer = producer_on(server);
  const Key key = producer->set(std::string("v"));
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", "localhost:1=unrelated");
  ScopedEnv file("PROXYSTORE_REDIS_AUTH_FILE", nullptr);
  ScopedEnv old("PROXYSTORE_REDIS_PASSWORD", password.c_str());
  auto rebuilt = RedisStore::from_config(forged(producer->config()));
  const std::string message =
      message_of<ConnectionError>([&] { (void)rebuilt->get<std::string>(key); });
  CHECK_THAT(message, Catch::Contains(server.address()) && Catch::Contains("NOAUTH") &&
                          Catch::Contains("PROXYSTORE_REDIS_AUTH") && !Catch::Contains(password));
}

TEST_CASE("PROXYSTORE_REDIS_AUTH_FILE binds passwords and must be private to its owner",
          "[redis][security][credentials]") {
  RedisServer server(protected_server());
  auto producer = producer_on(server);
  const Key key = producer->set(std::string("from the file"));
  TempDir dir("proxystore-creds");
  const std::string path = (dir / "redis-auth").string();
  {
    std::ofstream out(path);
    out << "# proxystore credentials\n\n127.0.0.1:1=not-this-one\n"
        << server.address() << "=" << password << "\n";
  }
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", nullptr);
  ScopedEnv file("PROXYSTORE_REDIS_AUTH_FILE", path.c_str());

  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  CHECK(RedisStore::from_config(forged(producer->config()))->get<std::string>(key) ==
        "from the file");

  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  std::string message =
      message_of<Error>([&] { (void)RedisStore::from_config(forged(producer->config())); });
  CHECK_THAT(message, Catch::Contains("PROXYSTORE_REDIS_AUTH_FILE") && Catch::Contains(path) &&
                          Catch::Contains("chmod 600") && !Catch::Contains(password));

  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  ScopedEnv missing("PROXYSTORE_REDIS_AUTH_FILE", (path + ".absent").c_str());
  message = message_of<Error>([&] { (void)RedisStore::from_config(forged(producer->config())); });
  CHECK_THAT(message, Catch::Contains("cannot open") && Catch::Contains(".absent"));
}

TEST_CASE("malformed credential entries are a clear Error that never quotes a password",
          "[security][credentials]") {
  using detail::parse_redis_auth;
  const auto entries = parse_redis_auth(
      " localhost:6379=pw1 ,[::1]:7000=alice:p:w=2,, HOST.Example:1=x", ',', "TEST");
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].host == "localhost");
  CHECK(entries[0].port == 6379);
  CHECK(entries[0].credentials.username.empty());
  CHECK(entries[0].credentials.password == "pw1");
  CHECK(entries[1].host == "::1");
  CHECK(entries[1].credentials.username == "alice");
  CHECK(entries[1].credentials.password == "p:w=2");
  CHECK(entries[2].host == "host.example");

  struct Bad {
    const char* text;
    const char* says;
  };
  const Bad bad[] = {
      {"Secret-no-equals", "no '='"},
      {"localhost=Secret-x", "is not host:port"},
      {"localhost:0=Secret-x", "is not host:port"},
      {"localhost:65536=Secret-x", "is not host:port"},
      {"localhost:http=Secret-x", "is not host:port"},
      {"::1:6379=Secret-x", "is not host:port"},
      {"local\rhost:6379=Secret-x", "is not host:port"},
      {"localhost:6379=", "empty password"},
      {"localhost:6379=Secret-user:", "empty password"},
      {"localhost:6379=:Secret-x", "empty user"},
  };
  for (const Bad& entry : bad) {
    const std::string text = entry.text;
    const std::string says = entry.says;
    INFO(text);
    const std::string message =
        message_of<Error>([&] { (void)parse_redis_auth(text, ',', "PROXYSTORE_REDIS_AUTH"); });
    CHECK_THAT(message, Catch::Contains("PROXYSTORE_REDIS_AUTH entry 1") && Catch::Contains(says) &&
                            !Catch::Contains("Secret") && !Catch::Contains("\r"));
  }
  // A file's comments and blank lines are skipped; positions count lines.
  const std::string message =
      message_of<Error>([&] { (void)parse_redis_auth("# c\n\nh:1=p\nbroken\n", '\n', "FILE"); });
  CHECK_THAT(message, Catch::Contains("FILE entry 4"));

  // A malformed variable refuses every rebuild of a Redis store.
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", "127.0.0.1:6379");
  const StoreConfig config{
      "redis", unique_name("creds-bad"), {{"hostname", "127.0.0.1"}, {"port", "6379"}}};
  CHECK_THROWS_AS(RedisStore::from_config(config), Error);
}

TEST_CASE("a rebuilt RedisClusterStore binds credentials per node",
          "[redis][redis-cluster][security][credentials]") {
  // Two fake seeds that are no cluster (CLUSTER SLOTS fails): enough to see
  // which node gets which AUTH when the store first connects.
  auto refuse_cluster = FakeRedisServer::with_handshake([](const FakeRedisServer::Command&) {
    return std::optional<std::string>(
        FakeRedisServer::error("ERR This instance has cluster support disabled"));
  });
  FakeRedisServer bound(refuse_cluster);
  FakeRedisServer unbound(refuse_cluster);
  const std::string binding = bound.address() + "=" + password;
  ScopedEnv auth("PROXYSTORE_REDIS_AUTH", binding.c_str());
  ScopedEnv file("PROXYSTORE_REDIS_AUTH_FILE", nullptr);
  ScopedEnv old("PROXYSTORE_REDIS_PASSWORD", password.c_str());
  const StoreConfig config{"redis-cluster",
                           unique_name("creds-cluster"),
                           {{"seeds", unbound.address() + "," + bound.address()},
                            {"connect_timeout_ms", "1000"},
                            {"command_timeout_ms", "1000"}}};
  auto store = RedisClusterStore::from_config(config);
  CHECK_THROWS_AS(store->exists(Key{"k"}), Error);
  CHECK(count_commands(unbound, "AUTH") == 0);
  CHECK_FALSE(received(unbound, password));
  CHECK(count_commands(bound, "AUTH") >= 1);
  CHECK(received(bound, password));
}
