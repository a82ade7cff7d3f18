// SPDX-License-Identifier: Apache-2.0
// The process-wide registries: stores by name, builders by type.
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

/// A LocalStore with a different config type, so tests can register a
/// builder for a type of their own.
class TaggedStore final : public LocalStore {
 public:
  TaggedStore(std::string name, std::string type)
      : LocalStore(std::move(name)), type_(std::move(type)) {}
  StoreConfig config() const override { return {type_, name(), {{"tag", "yes"}}}; }

 private:
  std::string type_;
};

}  // namespace

TEST_CASE("register_store and get_store and unregister_store", "[registry]") {
  const ScopedStoreName name(unique_name("registry"));
  CHECK(get_store(name.get()) == nullptr);
  auto store = std::make_shared<LocalStore>(name);
  register_store(store);
  CHECK(get_store(name.get()) == store);
  CHECK(get_store(std::string_view(name.get())) == store);
  unregister_store(name.get());
  CHECK(get_store(name.get()) == nullptr);
  unregister_store(name.get());  // a no-op when absent
  unregister_store("never-registered");

  CHECK_THROWS_AS(register_store(nullptr), Error);
}

TEST_CASE("register_store refuses a duplicate name unless exist_ok which replaces", "[registry]") {
  const ScopedStoreName name(unique_name("duplicate"));
  auto first = std::make_shared<LocalStore>(name);
  auto second = std::make_shared<LocalStore>(name);
  register_store(first);
  CHECK_THROWS_MATCHES(register_store(second), StoreExistsError, MessageContains(name.get()));
  CHECK(get_store(name.get()) == first);
  CHECK_THROWS_AS(register_store(first), StoreExistsError);  // even the same store

  register_store(second, /*exist_ok=*/true);
  CHECK(get_store(name.get()) == second);
  std::weak_ptr<LocalStore> watch = first;
  first.reset();
  CHECK(watch.expired());  // the registry let go of the replaced store
  CHECK(get_store(name.get()) == second);
}

TEST_CASE("register_store_type: a custom type is built by get_or_create_store", "[registry]") {
  const std::string type = unique_name("test.tagged");
  std::atomic<int> builds{0};
  register_store_type(type, [&builds](const StoreConfig& config) {
    ++builds;
    return std::make_shared<TaggedStore>(config.name, config.type);
  });

  const ScopedStoreName name(unique_name("tagged"));
  const StoreConfig config{type, name, {{"tag", "yes"}}};
  auto built = get_or_create_store(config);
  REQUIRE(built != nullptr);
  CHECK(builds.load() == 1);
  CHECK(built->name() == name.get());
  CHECK(built->config() == config);
  CHECK(dynamic_cast<TaggedStore*>(built.get()) != nullptr);
  CHECK(get_store(name.get()) == built);  // registered
  CHECK(get_or_create_store(config) == built);
  CHECK(builds.load() == 1);

  // A registered store of that name wins over the builder, whatever its type.
  const ScopedStoreName other_name(unique_name("tagged"));
  auto existing = std::make_shared<LocalStore>(other_name);
  register_store(existing);
  CHECK(get_or_create_store(StoreConfig{type, other_name, {}}) == existing);
  CHECK(builds.load() == 1);

  // Registering the type again replaces its builder.
  std::atomic<int> new_builds{0};
  register_store_type(type, [&new_builds](const StoreConfig& config) {
    ++new_builds;
    return std::make_shared<TaggedStore>(config.name, config.type);
  });
  const ScopedStoreName third(unique_name("tagged"));
  CHECK(get_or_create_store(StoreConfig{type, third, {}}) != nullptr);
  CHECK(builds.load() == 1);
  CHECK(new_builds.load() == 1);

  // A builder must return a store of the config's name.
  const std::string shared_type = unique_name("test.shared");
  auto backing = std::make_shared<LocalStore>("backing-" + shared_type);
  register_store_type(shared_type, [backing](const StoreConfig&) { return backing; });
  CHECK_THROWS_AS(get_or_create_store(StoreConfig{shared_type, "another-name", {}}), Error);
  CHECK(get_store("another-name") == nullptr);

  CHECK_THROWS_AS(register_store_type("test.empty", nullptr), Error);
}

TEST_CASE("get_or_create_store: an unknown type throws StoreNotFoundError naming it",
          "[registry]") {
  const std::string name = unique_name("unknown");
  CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{"no-such-type", name, {}}),
                       StoreNotFoundError, MessageContains({"no-such-type", name}));
  CHECK(get_store(name) == nullptr);
}

TEST_CASE("get_or_create_store: a failing or misbehaving builder registers nothing", "[registry]") {
  const std::string type = unique_name("test.builder");
  const std::string name = unique_name("built");
  register_store_type(type, [](const StoreConfig& config) -> std::shared_ptr<Store> {
    if (config.options.count("fail") != 0)
      throw StoreOperationError("builder refused '" + config.name + "'");
    if (config.options.count("null") != 0)
      return nullptr;
    return std::make_shared<LocalStore>(config.name + "-renamed");
  });
  CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{type, name, {{"fail", "1"}}}),
                       StoreOperationError, MessageContains(name));
  CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{type, name, {{"null", "1"}}}), Error,
                       MessageContains(name));
  CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{type, name, {}}), Error,
                       MessageContains({name, "renamed"}));
  CHECK(get_store(name) == nullptr);
}

TEST_CASE("get_or_create_store builds the built-in types from their configs", "[registry]") {
  SECTION("local") {
    const ScopedStoreName name(unique_name("builtin-local"));
    auto store = get_or_create_store(StoreConfig{"local", name, {}});
    CHECK(dynamic_cast<LocalStore*>(store.get()) != nullptr);
    CHECK(store->config() == StoreConfig{"local", name, {}});
  }
  SECTION("file") {
    TempDir dir;
    const ScopedStoreName name(unique_name("builtin-file"));
    const StoreConfig config{"file", name, {{"directory", (dir / "objects").string()}}};
    // A store rebuilt from a config never creates its directory.
    CHECK_THROWS_MATCHES(get_or_create_store(config), StoreOperationError,
                         MessageContains({name.get(), (dir / "objects").string()}));
    std::filesystem::create_directory(dir / "objects");
    auto store = get_or_create_store(config);
    CHECK(dynamic_cast<FileStore*>(store.get()) != nullptr);
    CHECK(store->config() == config);
    CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{"file", unique_name("nodir"), {}}), Error,
                         MessageContains("directory"));
  }
  SECTION("redis (the constructor does not connect)") {
    const ScopedStoreName name(unique_name("builtin-redis"));
    const StoreConfig config = RedisStore(name, "127.0.0.1", 1).config();
    auto store = get_or_create_store(config);
    CHECK(dynamic_cast<RedisStore*>(store.get()) != nullptr);
    CHECK(store->config() == config);
  }
}

TEST_CASE("get_or_create_store from 8 threads builds exactly one store",
          "[registry][concurrency]") {
  const std::string type = unique_name("test.slow");
  std::atomic<int> builds{0};
  register_store_type(type, [&builds](const StoreConfig& config) {
    ++builds;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // widen the race window
    return std::make_shared<LocalStore>(config.name);
  });
  const ScopedStoreName name(unique_name("contended"));
  const StoreConfig config{type, name, {}};

  constexpr int kThreads = 8;
  std::vector<std::shared_ptr<Store>> results(kThreads);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kThreads) {
        std::this_thread::yield();
      }
      results[static_cast<std::size_t>(i)] = get_or_create_store(config);
    });
  }
  for (auto& thread : threads)
    thread.join();

  CHECK(builds.load() == 1);
  for (const auto& store : results) {
    REQUIRE(store != nullptr);
    CHECK(store == results[0]);
  }
  CHECK(get_store(name.get()) == results[0]);
}

TEST_CASE("Concurrent register and get and unregister keep the registry consistent",
          "[registry][concurrency]") {
  constexpr int kThreads = 8;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  const std::string prefix = unique_name("churn");
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 100; ++round) {
        const std::string name = prefix + "-" + std::to_string(t) + "-" + std::to_string(round % 5);
        auto store = std::make_shared<LocalStore>(name);
        register_store(store, /*exist_ok=*/true);
        if (get_store(name) != store)
          ++errors;
        auto shared = get_or_create_store(StoreConfig{"local", prefix + "-shared", {}});
        if (shared == nullptr || shared->name() != prefix + "-shared")
          ++errors;
        unregister_store(name);
        if (get_store(name) != nullptr)
          ++errors;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(errors.load() == 0);
  unregister_store(prefix + "-shared");
}

TEST_CASE("store.proxy() registers its store only if the name is free", "[registry]") {
  const ScopedStoreName name(unique_name("proxy-registers"));
  auto store = std::make_shared<LocalStore>(name);
  CHECK(get_store(name.get()) == nullptr);
  const Key key = store->set(1);
  CHECK(get_store(name.get()) == nullptr);  // set alone does not register
  auto p = store->proxy(std::string("registered"));
  CHECK(get_store(name.get()) == store);
  CHECK(p == "registered");

  const ScopedStoreName taken(unique_name("proxy-taken"));
  auto owner = std::make_shared<LocalStore>(taken);
  register_store(owner);
  auto impostor = std::make_shared<LocalStore>(taken);
  auto q = impostor->proxy(std::string("from the impostor"));
  CHECK(get_store(taken.get()) == owner);  // not replaced
  // The proxy resolves through the registered store of its name, which does
  // not hold the object: documented behaviour of name clashes.
  CHECK_THROWS_AS(*q, ProxyResolveMissingKeyError);

  auto r = store->proxy_from_key<int>(key);
  CHECK(r == 1);
}

TEST_CASE("A store not owned by a shared_ptr unregisters itself when destroyed", "[registry]") {
  const std::string name = unique_name("stack");
  std::string bytes;
  {
    LocalStore store(name);
    auto p = store.proxy(std::string("on the stack"));
    CHECK(get_store(name).get() == &store);
    CHECK(p == "on the stack");
    bytes = serialize(p);
  }
  CHECK(get_store(name) == nullptr);
  // A proxy that outlives it rebuilds an (empty) LocalStore by config.
  auto late = deserialize<Proxy<std::string>>(bytes);
  CHECK_THROWS_AS(*late, ProxyResolveMissingKeyError);
  CHECK(get_store(name) != nullptr);
  unregister_store(name);

  // A shared_ptr-owned store stays registered (the registry co-owns it).
  const std::string owned_name = unique_name("owned");
  std::weak_ptr<LocalStore> watch;
  {
    auto store = std::make_shared<LocalStore>(owned_name);
    watch = store;
    (void)store->proxy(1);
  }
  CHECK_FALSE(watch.expired());
  CHECK(get_store(owned_name) != nullptr);
  unregister_store(owned_name);
  CHECK(watch.expired());
}

TEST_CASE("Destroying a store does not unregister another store of the same name", "[registry]") {
  const ScopedStoreName name(unique_name("same-name"));
  auto registered = std::make_shared<LocalStore>(name);
  register_store(registered);
  {
    LocalStore temporary(name);
    (void)temporary.proxy(1);  // name taken: not registered
  }
  CHECK(get_store(name.get()) == registered);
}
