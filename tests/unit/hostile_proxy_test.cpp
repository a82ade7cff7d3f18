// SPDX-License-Identifier: Apache-2.0
// Hostile proxies (issue 12): forged configs, planted files and control
// bytes must meet the store policy and the FileStore exactly where the
// backend acts — never a hang, a bad_alloc, an escape or a forged log line.
#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/security.hpp>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
namespace fs = std::filesystem;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

/// Restores the process-wide store policy after a test.
class PolicyGuard {
 public:
  explicit PolicyGuard(StorePolicy policy) : saved_(store_policy()) {
    set_store_policy(std::move(policy));
  }
  PolicyGuard(const PolicyGuard&) = delete;
  PolicyGuard& operator=(const PolicyGuard&) = delete;
  ~PolicyGuard() { set_store_policy(saved_); }

 private:
  StorePolicy saved_;
};

StorePolicy dirs_policy(std::vector<std::string> dirs) {
  StorePolicy policy;
  policy.allowed_dirs = std::move(dirs);
  return policy;
}

/// A proxy a forger wrote: any config, any key.
Proxy<std::string> forged(StoreConfig config, std::string key) {
  return Proxy<std::string>(
      Factory<std::string>(StoreFactory<std::string>(std::move(config), Key{std::move(key)})));
}

StoreConfig file_config(std::string name, std::string directory) {
  return StoreConfig{"file", std::move(name), {{"directory", std::move(directory)}}};
}

/// Writes under a key of its choosing, as a forger with access to the
/// directory would (Store::set always mints a new key).
class PlantingFileStore final : public FileStore {
 public:
  using FileStore::FileStore;
  void put(const Key& key, std::string_view bytes) { do_put(key, bytes); }
};

/// Writes `value` into `directory` under `key` the way a FileStore does.
void plant_object(const fs::path& directory, const std::string& key, const std::string& value) {
  const ScopedStoreName name(unique_name("hostile-plant"));
  PlantingFileStore writer(name, directory);
  writer.put(Key{key}, serialize(value));
}

/// A fresh directory holding `inside` (empty, created with its parents)
/// and `outside` with "outside secret" planted under `key`: what an attack
/// tries to reach.
TempDir attack_base(std::string_view prefix, const fs::path& inside, const std::string& key) {
  TempDir base(prefix);
  fs::create_directories(base / inside);
  fs::create_directories(base / "outside");
  plant_object(base / "outside", key, "outside secret");
  return base;
}

/// The message of what `resolve(proxy)` throws as `E` ("" if it throws nothing).
template <class E>
std::string resolve_error(const Proxy<std::string>& proxy) {
  try {
    resolve(proxy);
  } catch (const E& e) {
    return e.what();
  }
  return {};
}

bool has_raw_control(const std::string& text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f)
      return true;
  }
  return false;
}

}  // namespace

TEST_CASE("hostile: a NUL byte in a FileStore directory is refused (issue 12.1)",
          "[security][hostile]") {
  const TempDir base = attack_base("proxystore-hostile-nul", "allowed", "victim");
  const std::string directory = (base / "allowed").string() + std::string(1, '\0') + "/../outside";
  const std::string name = unique_name("hostile-nul-dir");

  SECTION("in this process, under an allow-list and under allow_all") {
    for (const StorePolicy& policy :
         {dirs_policy({(base / "allowed").string()}), StorePolicy::allow_all()}) {
      const PolicyGuard guard(policy);
      const std::string message =
          resolve_error<ForbiddenStoreError>(forged(file_config(name, directory), "victim"));
      CHECK_THAT(message, Catch::Contains(name) && Catch::Contains("control bytes") &&
                              Catch::Contains("\\x00/../outside"));
      CHECK(get_store(name) == nullptr);
    }
  }

  SECTION("in a consumer process") {
    test::ChildOptions options;
    options.env = {"PROXYSTORE_ALLOWED_DIRS=" + (base / "allowed").string()};
    options.unset_env = {"PROXYSTORE_SIGNING_KEY", "PROXYSTORE_ALLOWED_HOSTS"};
    const auto child =
        test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"},
                        serialize(forged(file_config(name, directory), "victim")), options);
    INFO(child.describe());
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, Catch::Contains("control bytes") && !Catch::Contains("outside secret"));
  }
}

TEST_CASE("hostile: '..' after a symlink is judged as the kernel resolves it (issue 12.2)",
          "[security][hostile]") {
  // allowed/link -> allowed/a/b, so the kernel reads allowed/link/../../outside
  // as allowed/outside; a lexical reading gives <base>/outside.
  const TempDir base = attack_base("proxystore-hostile-dotdot", "allowed/a/b", "victim");
  fs::create_directory_symlink(base / "allowed" / "a" / "b", base / "allowed" / "link");
  const std::string directory = (base / "allowed" / "link" / ".." / ".." / "outside").string();
  const PolicyGuard guard(dirs_policy({(base / "allowed").string()}));

  SECTION("while allowed/outside does not exist nothing is read or created") {
    const std::string name = unique_name("hostile-dotdot-missing");
    CHECK_THROWS_AS(resolve(forged(file_config(name, directory), "victim")), Error);
    CHECK_FALSE(fs::exists(base / "allowed" / "outside"));
    CHECK(get_store(name) == nullptr);
  }

  SECTION("the store reads the directory the policy judged, never <base>/outside") {
    fs::create_directories(base / "allowed" / "outside");
    plant_object(base / "allowed" / "outside", "victim", "inside value");
    const ScopedStoreName name(unique_name("hostile-dotdot"));
    const auto proxy = forged(file_config(name, directory), "victim");
    CHECK(*proxy == "inside value");
    auto store = std::dynamic_pointer_cast<FileStore>(get_store(name.get()));
    REQUIRE(store != nullptr);
    CHECK(store->directory() == fs::canonical(base / "allowed" / "outside"));
  }

  SECTION("a symlink out of the allowed tree is refused") {
    fs::create_directory_symlink(base / "outside", base / "allowed" / "out");
    const std::string name = unique_name("hostile-dotdot-out");
    CHECK_THROWS_MATCHES(
        resolve(forged(file_config(name, (base / "allowed" / "out").string()), "victim")),
        ForbiddenStoreError, MessageContains({name, "directory is not allowed"}));
  }
}

TEST_CASE("hostile: a NUL byte in a hostname does not beat a *.suffix allow-list (issue 12.3)",
          "[security][hostile]") {
  StorePolicy policy;
  policy.allow_loopback = false;
  policy.allowed_hosts = {"*.allowed.test"};
  const std::string host = std::string("127.0.0.1") + '\0' + ".allowed.test";
  const std::string name = unique_name("hostile-nul-host");
  const StoreConfig redis{"redis", name, {{"hostname", host}, {"port", "6379"}}};
  const StoreConfig cluster{"redis-cluster", name, {{"seeds", host + ":7000"}}};

  for (const StorePolicy& in_force : {policy, StorePolicy::allow_all()}) {
    const PolicyGuard guard(in_force);
    CHECK_THROWS_MATCHES(check_store_config(redis), ForbiddenStoreError,
                         MessageContains({name, "127.0.0.1\\x00.allowed.test", "control bytes"}));
    CHECK_THROWS_AS(check_store_config(cluster), ForbiddenStoreError);
    // The same judgement covers the nodes a rebuilt cluster reports.
    CHECK_THROWS_AS(detail::check_store_host(cluster, host, "7000"), ForbiddenStoreError);
    CHECK_THROWS_AS(resolve(forged(redis, "k")), ForbiddenStoreError);
    CHECK(get_store(name) == nullptr);
  }
  // Without the NUL, the suffix list still works as before.
  const PolicyGuard guard(policy);
  CHECK_NOTHROW(detail::check_store_host(redis, "db.allowed.test", "6379"));
}

TEST_CASE("hostile: a FIFO under a key's name fails at once (issue 12.10)", "[file][hostile]") {
  TempDir dir("proxystore-hostile-fifo");
  const ScopedStoreName name(unique_name("hostile-fifo"));
  auto store = std::make_shared<FileStore>(name, dir.path());
  const Key key{"planted-fifo"};
  REQUIRE(::mkfifo((dir / key.id).c_str(), 0600) == 0);

  SECTION("in this process") {
    auto read = std::async(std::launch::async, [&] { return store->get<std::string>(key); });
    if (read.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      // Release the blocked reader before failing, so the test can end.
      const int writer = ::open((dir / key.id).c_str(), O_WRONLY | O_NONBLOCK);
      if (writer >= 0)
        ::close(writer);
      FAIL("reading a FIFO planted under a key's name blocked");
    }
    CHECK_THROWS_MATCHES(read.get(), StoreOperationError,
                         MessageContains({name.get(), key.id, "FIFO", (dir / key.id).string()}));
    CHECK_FALSE(store->exists(key));
  }

  SECTION("in a consumer process resolving a proxy") {
    const auto proxy = store->proxy_from_key<std::string>(key);
    test::ChildOptions options;
    options.unset_env = {"PROXYSTORE_SIGNING_KEY", "PROXYSTORE_ALLOWED_DIRS"};
    options.timeout = std::chrono::milliseconds(10000);
    const auto child =
        test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, serialize(proxy), options);
    INFO(child.describe());
    CHECK_FALSE(child.timed_out);
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, Catch::Contains("FIFO") && Catch::Contains(key.id));
  }
}

TEST_CASE("hostile: a sparse 1 TB object file is refused before allocating (issue 12.10)",
          "[file][hostile]") {
  TempDir dir("proxystore-hostile-sparse");
  const Key key{"sparse-terabyte"};
  {
    const int fd = ::open((dir / key.id).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const bool sized = ::ftruncate(fd, static_cast<off_t>(std::uint64_t{1} << 40U)) == 0;
    ::close(fd);
    if (!sized) {
      WARN("this file system cannot hold a 1 TB sparse file; case skipped");
      return;
    }
  }
  const ScopedStoreName name(unique_name("hostile-sparse"));
  auto store = std::make_shared<FileStore>(name, dir.path());
  CHECK_THROWS_MATCHES(store->get<std::string>(key), StoreOperationError,
                       MessageContains({name.get(), key.id, "1099511627776 bytes", "memory"}));

  // With a maximum object size, that limit is the one reported.
  StoreOptions limited;
  limited.max_object_size = 1 << 20;
  const ScopedStoreName small_name(unique_name("hostile-sparse-max"));
  auto small = std::make_shared<FileStore>(small_name, dir.path(), limited);
  CHECK_THROWS_MATCHES(small->get<std::string>(key), SerializationError,
                       MessageContains({small_name.get(), key.id, "maximum object size 1048576"}));
  const Key fits = small->set(std::string("fits"));
  CHECK(small->get<std::string>(fits) == "fits");
}

TEST_CASE("hostile: a symlink planted under a key's name is not followed (issue 12.10)",
          "[file][hostile]") {
  const TempDir base = attack_base("proxystore-hostile-link", "store", "target");
  const ScopedStoreName name(unique_name("hostile-link"));
  auto store = std::make_shared<PlantingFileStore>(name, base / "store");
  const Key key{"planted-link"};
  fs::create_symlink(base / "outside" / "target", base / "store" / key.id);

  CHECK_THROWS_MATCHES(store->get<std::string>(key), StoreOperationError,
                       MessageContains({name.get(), key.id, "symbolic link"}));
  CHECK_FALSE(store->exists(key));
  const auto proxy = store->proxy_from_key<std::string>(key);
  CHECK_THROWS_AS(resolve(proxy), StoreOperationError);
  // Evicting removes the link, not what it points to; a write replaces the
  // link instead of writing through it.
  store->evict(key);
  CHECK_FALSE(fs::is_symlink(base / "store" / key.id));
  fs::create_symlink(base / "outside" / "target", base / "store" / key.id);
  store->put(key, serialize(std::string("mine")));
  CHECK_FALSE(fs::is_symlink(base / "store" / key.id));
  CHECK(store->get<std::string>(key) == "mine");
  CHECK(deserialize<std::string>(base.read_file("outside/target")) == "outside secret");
}

TEST_CASE("hostile: control bytes from names, keys and types are escaped in messages (issue 12.11)",
          "[security][hostile]") {
  const std::string crlf_esc = "\r\nERROR forged line \x1b[31m";
  const std::string escaped = "\\x0d\\x0aERROR forged line \\x1b[31m";

  SECTION("ProxyResolveMissingKeyError") {
    const ScopedStoreName name(unique_name("hostile-msg-local"));
    register_store(std::make_shared<LocalStore>(name));
    // The store is found by name, so its forged type is never judged.
    const auto proxy = forged(StoreConfig{"local" + crlf_esc, name, {}}, "missing" + crlf_esc);
    const std::string message = resolve_error<ProxyResolveMissingKeyError>(proxy);
    CHECK_THAT(message, Catch::Contains("missing" + escaped) && Catch::Contains("local" + escaped));
    CHECK_FALSE(has_raw_control(message));
  }

  SECTION("StoreNotFoundError") {
    const std::string name = unique_name("hostile-msg") + crlf_esc;
    const std::string message = resolve_error<StoreNotFoundError>(
        forged(StoreConfig{"no-such-type" + crlf_esc, name, {}}, "k"));
    CHECK_THAT(message, Catch::Contains("no-such-type" + escaped));
    CHECK_FALSE(has_raw_control(message));
  }

  SECTION("FileStore") {
    TempDir dir("proxystore-hostile-msg");
    const ScopedStoreName name(unique_name("hostile-msg-file") + crlf_esc);
    auto store = std::make_shared<FileStore>(name.get(), dir.path());
    std::string message;
    try {
      static_cast<void>(store->get<std::string>(Key{"../key" + crlf_esc}));
    } catch (const StoreOperationError& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains("../key" + escaped) && Catch::Contains(escaped));
    CHECK_FALSE(has_raw_control(message));

    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
    message.clear();
    try {
      static_cast<void>(store->get<std::string>(Key{"fifo"}));
    } catch (const StoreOperationError& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains("FIFO") && Catch::Contains(escaped));
    CHECK_FALSE(has_raw_control(message));
  }

  SECTION("a forged type name in stored bytes") {
    TempDir dir("proxystore-hostile-type");
    const ScopedStoreName name(unique_name("hostile-msg-type"));
    auto store = std::make_shared<PlantingFileStore>(name, dir.path());
    std::string bytes = serialize(std::string("x"));  // "PX", version, varint length, "string"
    const std::string forged_type = "str\r\n\x1b";
    REQUIRE(bytes.compare(4, 6, "string") == 0);
    bytes.replace(4, 6, forged_type);
    bytes[3] = static_cast<char>(forged_type.size());
    store->put(Key{"k"}, bytes);
    std::string message;
    try {
      static_cast<void>(store->get<std::string>(Key{"k"}));
    } catch (const SerializationError& e) {
      message = e.what();
    }
    CHECK_THAT(message, Catch::Contains("str\\x0d\\x0a\\x1b"));
    CHECK_FALSE(has_raw_control(message));
  }
}

TEST_CASE("hostile: a FileStore rebuilt from a proxy never creates its directory (issue 12.17)",
          "[file][hostile]") {
  TempDir base("proxystore-hostile-mkdir");
  const fs::path missing = base / "never" / "created";
  const std::string name = unique_name("hostile-mkdir");
  const auto proxy = forged(file_config(name, missing.string()), "k");

  SECTION("in this process, with and without an allow-list") {
    for (const StorePolicy& policy : {StorePolicy{}, dirs_policy({base.path().string()})}) {
      const PolicyGuard guard(policy);
      CHECK_THROWS_MATCHES(resolve(proxy), StoreOperationError,
                           MessageContains({name, missing.string()}));
      CHECK_FALSE(fs::exists(base / "never"));
      CHECK(get_store(name) == nullptr);
    }
    CHECK_THROWS_MATCHES(FileStore::from_config(file_config(name, missing.string())),
                         StoreOperationError, MessageContains({name, missing.string(), "missing"}));
    CHECK_FALSE(fs::exists(base / "never"));
  }

  SECTION("in a consumer process") {
    test::ChildOptions options;
    options.unset_env = {"PROXYSTORE_SIGNING_KEY", "PROXYSTORE_ALLOWED_DIRS"};
    const auto child =
        test::run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string"}, serialize(proxy), options);
    INFO(child.describe());
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, Catch::Contains(missing.string()) && Catch::Contains("missing") &&
                              !Catch::Contains("ProxyResolveMissingKeyError"));
    CHECK_FALSE(fs::exists(base / "never"));
  }
}
