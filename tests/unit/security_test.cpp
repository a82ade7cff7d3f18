// SPDX-License-Identifier: Apache-2.0
// Forged-proxy defences: SHA-256/HMAC vectors, the store policy, signing,
// and secrets that must never leak.
#include "support/child_process.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

// The hash is private to the library; its known-answer tests live here.
#include "../../src/detail/sha256.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/security.hpp>

#include <catch2/catch.hpp>
#include <cereal/archives/json.hpp>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using namespace proxystore;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

std::string hex(const detail::Sha256Digest& digest, std::size_t bytes = 32) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    out.push_back(digits[digest[i] >> 4U]);
    out.push_back(digits[digest[i] & 0x0fU]);
  }
  return out;
}

std::string unhex(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  return out;
}

/// Size of SimpleFactory<std::string>(value)'s payload: varint length + bytes.
std::size_t encode_payload_size(const std::string& value) {
  return 1 + value.size();
}

/// Restores the process-wide policy and signing state after a test.
class SecurityStateGuard {
 public:
  SecurityStateGuard() : policy_(store_policy()) { clear_signing_key(); }
  SecurityStateGuard(const SecurityStateGuard&) = delete;
  SecurityStateGuard& operator=(const SecurityStateGuard&) = delete;
  ~SecurityStateGuard() {
    set_store_policy(policy_);
    clear_signing_key();
  }

 private:
  StorePolicy policy_;
};

StoreConfig redis_config(std::string name, std::string host, std::string port = "6379") {
  return StoreConfig{
      "redis", std::move(name), {{"hostname", std::move(host)}, {"port", std::move(port)}}};
}

}  // namespace

// --- SHA-256 and HMAC known answers -------------------------------------------------

TEST_CASE("SHA-256 matches the FIPS 180-2 test vectors", "[security]") {
  CHECK(hex(detail::sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(detail::sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(detail::sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string million(1000000, 'a');
  CHECK(hex(detail::sha256(million)) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("SHA-256 gives the same digest however the input is split", "[security]") {
  std::string text;
  for (int i = 0; i < 300; ++i)
    text.push_back(static_cast<char>(i * 7));
  const auto whole = detail::sha256(text);
  for (std::size_t step : {1U, 3U, 55U, 56U, 63U, 64U, 65U, 127U}) {
    detail::Sha256 hash;
    for (std::size_t at = 0; at < text.size(); at += step)
      hash.update(std::string_view(text).substr(at, step));
    CHECK(hash.finish() == whole);
  }
}

TEST_CASE("HMAC-SHA256 matches the RFC 4231 test vectors", "[security]") {
  struct Vector {
    std::string key, data, mac;
    std::size_t bytes = 32;
  };
  const std::vector<Vector> vectors = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"), std::string(50, '\xcd'),
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {std::string(20, '\x0c'), "Test With Truncation", "a3b6167473100ee06e0c796c2955552b", 16},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {std::string(131, '\xaa'),
       "This is a test using a larger than block-size key and a larger than block-size data. "
       "The key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  for (std::size_t i = 0; i < vectors.size(); ++i) {
    INFO("RFC 4231 test case " << i + 1);
    CHECK(hex(detail::hmac_sha256(vectors[i].key, vectors[i].data), vectors[i].bytes) ==
          vectors[i].mac);
  }
}

TEST_CASE("constant_time_equal compares contents and lengths", "[security]") {
  CHECK(detail::constant_time_equal("", ""));
  CHECK(detail::constant_time_equal("abc", "abc"));
  CHECK_FALSE(detail::constant_time_equal("abc", "abd"));
  CHECK_FALSE(detail::constant_time_equal("abc", "ab"));
  CHECK_FALSE(detail::constant_time_equal(std::string(32, '\0'), std::string(31, '\0') + '\1'));
}

// --- store policy ----------------------------------------------------------------------

TEST_CASE("is_loopback_host recognises loopback names only", "[security]") {
  for (const char* host :
       {"localhost", "LOCALHOST", "127.0.0.1", "127.1.2.3", "127.255.255.255", "::1", "[::1]"}) {
    INFO(host);
    CHECK(is_loopback_host(host));
  }
  for (const char* host :
       {"", "localhost.", "localhost.evil.example", "evil-localhost", "127.0.0.1.evil.example",
        "128.0.0.1", "10.0.0.1", "127.0.0", "127.0.0.1.", "127.0.0.256", "127.0.0.1:6379",
        "0.0.0.0", "::2", "1270.0.0.1", "127.0.0.1 ", "12.7.0.0.1"}) {
    INFO(host);
    CHECK_FALSE(is_loopback_host(host));
  }
  CHECK_FALSE(is_loopback_host(std::string("127.0.0.1\0.evil", 15)));
}

TEST_CASE("the default policy allows built-in types on loopback only", "[security]") {
  SecurityStateGuard guard;
  set_store_policy(StorePolicy{});  // the defaults, without any environment
  CHECK_NOTHROW(check_store_config(StoreConfig{"local", "l", {}}));
  CHECK_NOTHROW(check_store_config(StoreConfig{"file", "f", {{"directory", "/tmp/anything"}}}));
  CHECK_NOTHROW(check_store_config(redis_config("r", "127.0.0.1")));
  CHECK_NOTHROW(check_store_config(redis_config("r", "localhost", "7000")));
  CHECK_NOTHROW(check_store_config(redis_config("r", "[::1]")));

  try {
    check_store_config(redis_config("cache", "attacker.example.org", "6380"));
    FAIL("a non-loopback host was allowed");
  } catch (const ForbiddenStoreError& e) {
    const std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("\"cache\""));
    CHECK_THAT(message, Catch::Contains("\"redis\""));
    CHECK_THAT(message, Catch::Contains("attacker.example.org:6380"));
    CHECK_THAT(message, Catch::Contains("PROXYSTORE_ALLOWED_HOSTS"));
  }
  CHECK_THROWS_AS(check_store_config(StoreConfig{"no-such-type", "x", {}}), ForbiddenStoreError);
}

TEST_CASE("allowed host patterns match host, port, suffix and wildcard", "[security]") {
  SecurityStateGuard guard;
  StorePolicy policy;
  policy.allow_loopback = false;
  policy.allowed_hosts = {"db.internal", "cache.internal:6380", "*.cluster.test", "[fd00::5]:7000",
                          " Spaced.Host "};
  set_store_policy(policy);

  CHECK_NOTHROW(check_store_config(redis_config("a", "db.internal", "1")));
  CHECK_NOTHROW(check_store_config(redis_config("a", "DB.Internal", "6379")));
  CHECK_NOTHROW(check_store_config(redis_config("a", "cache.internal", "6380")));
  CHECK_THROWS_AS(check_store_config(redis_config("a", "cache.internal", "6379")),
                  ForbiddenStoreError);
  CHECK_NOTHROW(check_store_config(redis_config("a", "node1.cluster.test")));
  CHECK_THROWS_AS(check_store_config(redis_config("a", "cluster.test")), ForbiddenStoreError);
  CHECK_THROWS_AS(check_store_config(redis_config("a", "node1.cluster.test.evil")),
                  ForbiddenStoreError);
  CHECK_NOTHROW(check_store_config(redis_config("a", "[fd00::5]", "7000")));
  CHECK_NOTHROW(check_store_config(redis_config("a", "spaced.host")));
  CHECK_THROWS_AS(check_store_config(redis_config("a", "127.0.0.1")), ForbiddenStoreError);
  CHECK_THROWS_AS(check_store_config(redis_config("a", "db.internal.evil")), ForbiddenStoreError);

  policy.allowed_hosts = {"*"};
  set_store_policy(policy);
  CHECK_NOTHROW(check_store_config(redis_config("a", "anything.example")));
}

TEST_CASE("StorePolicy::from_environment reads PROXYSTORE_ALLOWED_HOSTS and _DIRS", "[security]") {
  SecurityStateGuard guard;
  ::setenv("PROXYSTORE_ALLOWED_HOSTS", "db.example.test:6390, *.farm.test", 1);
  ::setenv("PROXYSTORE_ALLOWED_DIRS", "/srv/a,/srv/b/", 1);
  const StorePolicy policy = StorePolicy::from_environment();
  ::unsetenv("PROXYSTORE_ALLOWED_HOSTS");
  ::unsetenv("PROXYSTORE_ALLOWED_DIRS");
  CHECK(policy.allowed_hosts == std::vector<std::string>{"db.example.test:6390", "*.farm.test"});
  CHECK(policy.allowed_dirs == std::vector<std::string>{"/srv/a", "/srv/b/"});
  set_store_policy(policy);
  CHECK_NOTHROW(check_store_config(redis_config("a", "db.example.test", "6390")));
  CHECK_NOTHROW(check_store_config(redis_config("a", "n7.farm.test")));
  CHECK_THROWS_AS(check_store_config(redis_config("a", "db.example.test", "6379")),
                  ForbiddenStoreError);
  // Under /srv/b, so not refused; but it does not exist, and a missing
  // directory cannot be judged by its real path: a StoreOperationError.
  CHECK_THROWS_AS(check_store_config(StoreConfig{"file", "f", {{"directory", "/srv/b/x"}}}),
                  StoreOperationError);
  CHECK_THROWS_AS(check_store_config(StoreConfig{"file", "f", {{"directory", "/srv/c"}}}),
                  ForbiddenStoreError);
}

TEST_CASE("allowed directories are compared component-wise after normalisation", "[security]") {
  SecurityStateGuard guard;
  TempDir dir("proxystore-policy");
  StorePolicy policy;
  policy.allowed_dirs = {(dir / "allowed").string()};
  set_store_policy(policy);
  auto file_config = [](const std::filesystem::path& path) {
    return StoreConfig{"file", "f", {{"directory", path.string()}}};
  };
  // Directories are judged by their real path, so they must exist; a
  // missing one under an allowed prefix is a StoreOperationError.
  CHECK_THROWS_AS(check_store_config(file_config(dir / "allowed")), StoreOperationError);
  std::filesystem::create_directories(dir / "allowed" / "sub" / "deeper");
  std::filesystem::create_directories(dir / "allowed-not");
  CHECK_NOTHROW(check_store_config(file_config(dir / "allowed")));
  CHECK_NOTHROW(check_store_config(file_config(dir / "allowed" / "sub" / "deeper")));
  CHECK_THROWS_AS(check_store_config(file_config(dir / "allowed-not")), ForbiddenStoreError);
  CHECK_THROWS_AS(check_store_config(file_config(dir / "allowed" / ".." / "escape")),
                  ForbiddenStoreError);
  CHECK_THROWS_AS(check_store_config(file_config("/etc")), ForbiddenStoreError);
  // A symlink inside the allowed tree that points outside it is resolved.
  std::filesystem::create_directory_symlink("/etc", dir / "allowed" / "link");
  CHECK_THROWS_AS(check_store_config(file_config(dir / "allowed" / "link")), ForbiddenStoreError);
}

TEST_CASE("types registered by this process are allowed unless the policy says otherwise",
          "[security]") {
  SecurityStateGuard guard;
  const std::string type = unique_name("sec-custom-type");
  register_store_type(type,
                      [](const StoreConfig& c) { return std::make_shared<LocalStore>(c.name); });
  set_store_policy(StorePolicy{});
  const StoreConfig config{type, unique_name("sec-custom"), {}};
  CHECK_NOTHROW(check_store_config(config));

  StorePolicy strict;
  strict.allow_registered_types = false;
  set_store_policy(strict);
  CHECK_THROWS_AS(check_store_config(config), ForbiddenStoreError);
  strict.allowed_types.push_back(type);
  set_store_policy(strict);
  CHECK_NOTHROW(check_store_config(config));

  // Removing a built-in type from the list refuses it even though it has a builder.
  strict.allowed_types = {"local"};
  strict.allow_registered_types = true;
  set_store_policy(strict);
  CHECK_THROWS_AS(check_store_config(StoreConfig{"file", "f", {{"directory", "/tmp"}}}),
                  ForbiddenStoreError);
}

TEST_CASE("a custom policy check runs after the built-in ones", "[security]") {
  SecurityStateGuard guard;
  StorePolicy policy;
  int calls = 0;
  policy.check = [&calls](const StoreConfig& config) {
    ++calls;
    if (config.name.rfind("ok-", 0) != 0)
      throw ForbiddenStoreError("store \"" + config.name + "\": refused by the test's check");
  };
  set_store_policy(policy);
  CHECK_NOTHROW(check_store_config(StoreConfig{"local", "ok-1", {}}));
  CHECK_THROWS_AS(check_store_config(StoreConfig{"local", "bad", {}}), ForbiddenStoreError);
  CHECK_THROWS_AS(check_store_config(redis_config("ok-2", "evil.example")), ForbiddenStoreError);
  CHECK(calls == 2);  // not reached for the forbidden host
}

TEST_CASE("get_or_create_store refuses a forged config and builds nothing", "[security]") {
  SecurityStateGuard guard;
  set_store_policy(StorePolicy{});
  TempDir dir("proxystore-forged");
  const std::string name = unique_name("sec-forged");

  // A proxy whose config points at a non-loopback host: resolving it must
  // fail before anything connects, naming the store and the host.
  const auto forged = Proxy<std::string>(Factory<std::string>(
      StoreFactory<std::string>(redis_config(name, "203.0.113.9", "6379"), Key{"k"})));
  const auto copy = deserialize<Proxy<std::string>>(serialize(forged));
  try {
    resolve(copy);
    FAIL("a forged proxy was resolved");
  } catch (const ForbiddenStoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(name) && Catch::Contains("203.0.113.9:6379"));
  }
  CHECK(get_store(name) == nullptr);

  // A store the process registered itself is used whatever the policy says.
  StorePolicy strict;
  strict.allowed_types.clear();
  strict.allow_registered_types = false;
  set_store_policy(strict);
  auto own = std::make_shared<FileStore>(name, dir.path());
  register_store(own);
  auto proxy = own->proxy(std::string("mine"));
  CHECK(get_or_create_store(own->config()) == own);
  CHECK(*deserialize<Proxy<std::string>>(serialize(proxy)) == "mine");
  unregister_store(name);

  // Once it is gone, rebuilding from the same config is refused.
  CHECK_THROWS_AS(get_or_create_store(own->config()), ForbiddenStoreError);
  CHECK(get_store(name) == nullptr);
}

TEST_CASE("a forged directory is refused by a consumer process (PROXYSTORE_ALLOWED_DIRS)",
          "[security]") {
  SecurityStateGuard guard;
  TempDir dir("proxystore-dirs");
  auto store = std::make_shared<FileStore>(unique_name("sec-dirs"), dir / "objects");
  const std::string bytes = serialize(store->proxy(std::string("payload")));

  test::ChildOptions allowed;
  allowed.env = {"PROXYSTORE_ALLOWED_DIRS=" + dir.path().string()};
  allowed.unset_env = {"PROXYSTORE_SIGNING_KEY", "PROXYSTORE_ALLOWED_HOSTS"};
  const auto ok = test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, bytes, allowed);
  INFO(ok.describe());
  CHECK(ok.exit_code == 0);
  CHECK(ok.out == "payload");

  test::ChildOptions refused = allowed;
  refused.env = {"PROXYSTORE_ALLOWED_DIRS=/nonexistent/proxystore-only"};
  const auto no = test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, bytes, refused);
  INFO(no.describe());
  CHECK(no.exit_code == 3);
  CHECK_THAT(no.out, Catch::Contains("directory is not allowed") && Catch::Contains(store->name()));
}

// --- signing ---------------------------------------------------------------------------

TEST_CASE("signing adds 32 bytes; unsigned factories carry a 1-byte empty signature",
          "[security]") {
  SecurityStateGuard guard;
  const Factory<std::string> factory(SimpleFactory<std::string>("value"));
  const std::string unsigned_bytes = serialize(factory);
  // header (with its 8-byte body length) | 06 "simple" | 00 (empty
  // signature) | payload length | payload
  const std::size_t header = 3 + 1 + type_name<Factory<std::string>>().size() + 8;
  REQUIRE(unsigned_bytes.substr(header, 8) == std::string("\x06simple\x00", 8));
  CHECK(unsigned_bytes.size() == header + 8 + 1 + encode_payload_size("value"));
  set_signing_key("k-one");
  CHECK(signing_enabled());
  const std::string signed_bytes = serialize(factory);
  CHECK(signed_bytes.size() == unsigned_bytes.size() + 32);
  CHECK(deserialize<Factory<std::string>>(signed_bytes)() == "value");
  clear_signing_key();
  CHECK_FALSE(signing_enabled());
  // Without a key signatures are not checked, present or not.
  CHECK(deserialize<Factory<std::string>>(signed_bytes)() == "value");
  CHECK(deserialize<Factory<std::string>>(unsigned_bytes)() == "value");
}

TEST_CASE("with signing on, unsigned, tampered and foreign-key proxies are rejected",
          "[security]") {
  SecurityStateGuard guard;
  auto store = std::make_shared<LocalStore>(unique_name("sec-sign"));
  const auto proxy = store->proxy(std::string("secret-free payload"));
  const std::string unsigned_bytes = serialize(proxy);

  set_signing_key("shared-key-1");
  const std::string signed_bytes = serialize(proxy);
  CHECK(*deserialize<Proxy<std::string>>(signed_bytes) == "secret-free payload");

  // Unsigned.
  try {
    (void)deserialize<Proxy<std::string>>(unsigned_bytes);
    FAIL("an unsigned proxy was accepted");
  } catch (const SignatureError& e) {
    CHECK_THAT(e.what(), Catch::Contains("unsigned") && Catch::Contains("\"store\""));
  }
  // Every single-byte change after the header is caught (by the MAC, or as corrupt).
  const std::size_t header = 3 + 1 + type_name<Proxy<std::string>>().size() + 8;
  for (std::size_t i = header; i < signed_bytes.size(); ++i) {
    std::string tampered = signed_bytes;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    INFO("byte " << i);
    CHECK_THROWS_AS(deserialize<Proxy<std::string>>(tampered), SerializationError);
  }
  // A changed config (the forged-host attack) with the old signature.
  {
    auto factory = get_factory(proxy).target<StoreFactory<std::string>>();
    REQUIRE(factory != nullptr);
    StoreConfig evil = factory->config();
    evil.type = "redis";
    evil.options = {{"hostname", "evil.example"}, {"port", "6379"}};
    const std::string forged = serialize(
        Proxy<std::string>(Factory<std::string>(StoreFactory<std::string>(evil, factory->key()))));
    clear_signing_key();
    set_signing_key("attacker-key");
    const std::string attacker_signed = serialize(
        Proxy<std::string>(Factory<std::string>(StoreFactory<std::string>(evil, factory->key()))));
    set_signing_key("shared-key-1");
    CHECK_NOTHROW(deserialize<Proxy<std::string>>(forged));  // ours: signed with our key
    try {
      (void)deserialize<Proxy<std::string>>(attacker_signed);
      FAIL("a proxy signed with another key was accepted");
    } catch (const SignatureError& e) {
      CHECK_THAT(e.what(), Catch::Contains("signature mismatch"));
    }
  }
  // Another key.
  set_signing_key("shared-key-2");
  CHECK_THROWS_AS(deserialize<Proxy<std::string>>(signed_bytes), SignatureError);
  CHECK_THROWS_AS(set_signing_key(""), Error);
}

TEST_CASE("a signed proxy cannot be re-typed through its unsigned header", "[security]") {
  // Issue 12 item 5: the serialization header names the type
  // ("proxy<i64>") but is not signed; the MAC covers the result type.
  SecurityStateGuard guard;
  auto store = std::make_shared<LocalStore>(unique_name("sec-retype"));
  const auto proxy = store->proxy(static_cast<long long>(-5));
  set_signing_key("retype-key");
  const std::string bytes = serialize(proxy);
  REQUIRE(*deserialize<Proxy<long long>>(bytes) == -5);

  const std::string from = type_name<Proxy<long long>>();
  const std::string to = type_name<Proxy<unsigned long long>>();
  REQUIRE(from == "proxy<i64>");
  REQUIRE(to == "proxy<u64>");
  std::string retyped = bytes;
  const auto at = retyped.find(from);
  REQUIRE(at != std::string::npos);
  retyped.replace(at, from.size(), to);
  try {
    (void)deserialize<Proxy<unsigned long long>>(retyped);
    FAIL("a signed proxy<i64> was accepted as proxy<u64>");
  } catch (const SignatureError& e) {
    CHECK_THAT(e.what(), Catch::Contains("u64") && Catch::Contains("signature mismatch"));
  }
  // A bare factory too, and through a text archive the same way.
  const std::string factory_bytes = serialize(get_factory(proxy));
  std::string retyped_factory = factory_bytes;
  const std::string factory_from = type_name<Factory<long long>>();
  const auto factory_at = retyped_factory.find(factory_from);
  REQUIRE(factory_at != std::string::npos);
  retyped_factory.replace(factory_at, factory_from.size(),
                          type_name<Factory<unsigned long long>>());
  CHECK_THROWS_AS(deserialize<Factory<unsigned long long>>(retyped_factory), SignatureError);
  CHECK_NOTHROW(deserialize<Factory<long long>>(factory_bytes));
}

TEST_CASE("signing works through text archives too", "[security]") {
  SecurityStateGuard guard;
  set_signing_key("json-key");
  const Factory<long long> factory(SimpleFactory<long long>(41));
  std::stringstream json;
  {
    cereal::JSONOutputArchive ar(json);
    ar(factory);
  }
  CHECK_THAT(json.str(), Catch::Contains("\"signature\""));
  Factory<long long> loaded;
  {
    cereal::JSONInputArchive ar(json);
    ar(loaded);
  }
  CHECK(loaded() == 41);

  std::string text = json.str();
  const auto at = text.find("\"signature\": \"") + 14;
  text[at] = text[at] == 'A' ? 'B' : 'A';
  std::stringstream tampered(text);
  cereal::JSONInputArchive ar(tampered);
  Factory<long long> bad;
  CHECK_THROWS_AS(ar(bad), SignatureError);
}

TEST_CASE("PROXYSTORE_SIGNING_KEY signs and verifies across processes", "[security]") {
  SecurityStateGuard guard;
  TempDir dir("proxystore-signing");
  auto store = std::make_shared<FileStore>(unique_name("sec-env-sign"), dir / "objects");
  const auto proxy = store->proxy(std::string("signed payload"));
  set_signing_key("env-shared-key");
  const std::string signed_bytes = serialize(proxy);
  clear_signing_key();
  const std::string unsigned_bytes = serialize(proxy);

  auto run = [&](const std::string& bytes, const std::vector<std::string>& env) {
    test::ChildOptions options;
    options.env = env;
    options.unset_env = {"PROXYSTORE_ALLOWED_DIRS"};
    if (env.empty())
      options.unset_env.emplace_back("PROXYSTORE_SIGNING_KEY");
    return test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, bytes, options);
  };
  const auto good = run(signed_bytes, {"PROXYSTORE_SIGNING_KEY=env-shared-key"});
  INFO(good.describe());
  CHECK(good.exit_code == 0);
  CHECK(good.out == "signed payload");

  const auto wrong = run(signed_bytes, {"PROXYSTORE_SIGNING_KEY=another-key"});
  CHECK(wrong.exit_code == 3);
  CHECK_THAT(wrong.out, Catch::Contains("signature mismatch"));
  CHECK_THAT(wrong.out + wrong.err, !Catch::Contains("another-key"));

  const auto missing = run(unsigned_bytes, {"PROXYSTORE_SIGNING_KEY=env-shared-key"});
  CHECK(missing.exit_code == 3);
  CHECK_THAT(missing.out, Catch::Contains("unsigned"));
  CHECK_THAT(missing.out + missing.err, !Catch::Contains("env-shared-key"));

  const auto off = run(unsigned_bytes, {});
  CHECK(off.exit_code == 0);
}

TEST_CASE("the signing key never appears in bytes or messages", "[security]") {
  SecurityStateGuard guard;
  const std::string key = "TOP-SECRET-SIGNING-KEY-7f3a";
  set_signing_key(key);
  auto store = std::make_shared<LocalStore>(unique_name("sec-leak"));
  const auto proxy = store->proxy(std::vector<double>{1, 2, 3});
  const std::string bytes = serialize(proxy);
  CHECK(bytes.find(key) == std::string::npos);
  CHECK(bytes.find("TOP-SECRET") == std::string::npos);
  const auto config = store->config();
  for (const auto& [option, value] : config.options)
    CHECK(value.find(key) == std::string::npos);

  std::string tampered = bytes;
  tampered.back() = static_cast<char>(tampered.back() ^ 0x55);
  try {
    (void)deserialize<Proxy<std::vector<double>>>(tampered);
    FAIL("tampered bytes were accepted");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), !Catch::Contains("TOP-SECRET"));
  }
  set_signing_key("zq-second-key");
  try {
    (void)deserialize<Proxy<std::vector<double>>>(bytes);
    FAIL("a foreign-key proxy was accepted");
  } catch (const SignatureError& e) {
    CHECK_THAT(e.what(), !Catch::Contains("TOP-SECRET") && !Catch::Contains("zq-second-key"));
  }
}

// --- a RedisStore password ----------------------------------------------------------------

TEST_CASE("a RedisStore password never appears in proxies, configs, messages or output",
          "[security][redis]") {
  SecurityStateGuard guard;
  const std::string password = "Pw-9f2c-never-print-me";
  test::RedisServer::Options server_options;
  server_options.extra_args = {"--requirepass", password};
  server_options.admin_password = password;
  test::RedisServer server(server_options);

  RedisOptions options;
  options.password = password;
  options.connect_timeout = std::chrono::milliseconds(1000);
  options.command_timeout = std::chrono::milliseconds(300);
  options.store.cache_size = 0;
  auto store = std::make_shared<RedisStore>(unique_name("sec-redis-pw"), server.host(),
                                            server.port(), options);
  const auto proxy = store->proxy(std::string("guarded value"));
  auto absent = [&](const std::string& text) {
    INFO(text);
    CHECK(text.find(password) == std::string::npos);
    CHECK(text.find("never-print") == std::string::npos);
  };

  // Serialized proxies (unsigned and signed), the config in every spelling.
  absent(serialize(proxy));
  absent(serialize(get_factory(proxy)));
  absent(serialize(store->config()));
  std::ostringstream streamed;
  streamed << store->config();
  absent(streamed.str());
  {
    std::stringstream json;
    cereal::JSONOutputArchive ar(json);
    ar(proxy);
    absent(json.str());
  }
  set_signing_key("sign-but-do-not-leak");
  absent(serialize(proxy));
  clear_signing_key();

  // Exception messages: refused by the policy, server stopped, server dead.
  StoreConfig forged = store->config();
  forged.options["hostname"] = "evil.example";
  try {
    check_store_config(forged);
    FAIL("forged host allowed");
  } catch (const ForbiddenStoreError& e) {
    absent(e.what());
  }
  const Key key = store->set(std::string("v"));
  server.stop();
  try {
    static_cast<void>(store->get<std::string>(key));
    FAIL("a stopped server answered");
  } catch (const ConnectionError& e) {
    absent(e.what());
  }
  server.cont();
  server.kill();
  try {
    store->set(std::string("w"));
    FAIL("a dead server answered");
  } catch (const ConnectionError& e) {
    absent(e.what());
  }
  server.restart();
  const std::string bytes = serialize(store->proxy(std::string("from another process")));

  // A consumer process gets the password bound to the server's host:port
  // in its environment; whatever it prints — the value, or an error —
  // never contains it.
  auto consume = [&](const std::string& env_password) {
    test::ChildOptions child;
    child.env = {"PROXYSTORE_REDIS_AUTH=" + server.address() + "=" + env_password};
    child.unset_env = {"PROXYSTORE_SIGNING_KEY", "PROXYSTORE_ALLOWED_HOSTS"};
    return test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, bytes, child);
  };
  const auto good = consume(password);
  INFO(good.describe());
  CHECK(good.exit_code == 0);
  CHECK(good.out == "from another process");
  absent(good.out + good.err);
  const auto wrong = consume("Wrong-never-print-me-either");
  CHECK(wrong.exit_code == 3);
  CHECK_THAT(wrong.out, Catch::Contains("ConnectionError"));
  absent(wrong.out + wrong.err);
  CHECK(wrong.out.find("Wrong-never-print") == std::string::npos);
}
