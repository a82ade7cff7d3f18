// SPDX-License-Identifier: Apache-2.0
// Lifetimes (lifetimes.hpp): each one's eviction, checked in the real
// stores (LocalStore, FileStore, RedisStore).
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ConformanceBackends;
using proxystore::test::CountingBackend;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::store_type_t;
using proxystore::test::unique_name;

namespace lifetime_test {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

template <class T>
Key key_of(const Proxy<T>& proxy) {
  const auto* factory = get_factory(proxy).template target<StoreFactory<T>>();
  REQUIRE(factory != nullptr);
  return factory->key();
}

ProxyOptions with(std::shared_ptr<Lifetime> lifetime) {
  ProxyOptions options;
  options.lifetime = std::move(lifetime);
  return options;
}

/// Polls until `key` is gone from `store` or `limit` passes; returns when
/// it went (relative to `since`), or nullopt if it never did.
std::optional<milliseconds> gone_after(Store& store, const Key& key, Clock::time_point since,
                                       milliseconds limit = milliseconds(5000)) {
  while (Clock::now() - since < limit) {
    if (!store.exists(key))
      return std::chrono::duration_cast<milliseconds>(Clock::now() - since);
    std::this_thread::sleep_for(milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace lifetime_test

using namespace lifetime_test;  // NOLINT(google-build-using-namespace)

TEMPLATE_LIST_TEST_CASE("ContextLifetime evicts its objects when the scope ends", "[lifetime]",
                        ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("lifetime-context-") + TestType::type));
  auto store = backend.make(name);

  const Proxy<std::string> kept = store->proxy(std::string("kept"));
  std::vector<Key> keys;
  SECTION("at scope exit") {
    {
      auto scope = std::make_shared<ContextLifetime>();
      keys.push_back(key_of(store->proxy(std::string("one"), with(scope))));
      for (const auto& proxy : store->proxy_batch(std::vector<int>{1, 2, 3}, with(scope)))
        keys.push_back(key_of(proxy));
      CHECK(scope->size() == 4);
      for (const Key& key : keys)
        CHECK(store->exists(key));
    }
  }
  SECTION("while an exception unwinds") {
    try {
      auto scope = std::make_shared<ContextLifetime>();
      keys.push_back(key_of(store->proxy(std::string("one"), with(scope))));
      REQUIRE(store->exists(keys.back()));
      throw std::runtime_error("boom");
    } catch (
        const std::runtime_error&) {  // NOLINT(bugprone-empty-catch): the unwinding is the test
    }
  }
  SECTION("at close(), which is idempotent") {
    auto scope = std::make_shared<ContextLifetime>();
    keys.push_back(key_of(store->proxy(std::string("one"), with(scope))));
    scope->close();
    CHECK(scope->done());
    CHECK(scope->size() == 0);
    CHECK_NOTHROW(scope->close());
  }
  REQUIRE_FALSE(keys.empty());
  for (const Key& key : keys)
    CHECK_FALSE(store->exists(key));
  CHECK(store->exists(key_of(kept)));  // objects without the lifetime stay
}

TEST_CASE("A lifetime that has ended refuses new objects and leaves none behind", "[lifetime]") {
  const ScopedStoreName name(unique_name("lifetime-closed"));
  auto store = std::make_shared<CountingBackend<LocalStore>>(name.get());
  auto scope = std::make_shared<ContextLifetime>();
  scope->close();
  CHECK_THROWS_MATCHES(store->proxy(std::string("late"), with(scope)), LifetimeError,
                       MessageContains({"context lifetime", "ended", name.get()}));
  CHECK_THROWS_AS(store->proxy_batch(std::vector<int>{1, 2}, with(scope)), LifetimeError);
  CHECK(store->puts.load() == 3);  // one, then two through the default do_put_batch
  CHECK(store->put_batches.load() == 1);
  CHECK(store->evicts.load() == 3);  // every object written was evicted again
}

TEST_CASE("Many threads register objects with one ContextLifetime", "[lifetime][concurrency]") {
  const ScopedStoreName name(unique_name("lifetime-threads"));
  auto store = std::make_shared<LocalStore>(name.get());
  std::vector<Key> keys(8 * 20);
  {
    auto scope = std::make_shared<ContextLifetime>();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 20; ++i)
          keys[t * 20 + i] = key_of(store->proxy(t * 100 + i, with(scope)));
      });
    }
    for (auto& thread : threads)
      thread.join();
    CHECK(scope->size() == keys.size());
  }
  for (const Key& key : keys)
    CHECK_FALSE(store->exists(key));
}

TEMPLATE_LIST_TEST_CASE("LeaseLifetime evicts its objects when the lease runs out", "[lifetime]",
                        ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("lifetime-lease-") + TestType::type));
  auto store = backend.make(name);

  const auto started = Clock::now();
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(300));
  const Key key = key_of(store->proxy(std::string("leased"), with(lease)));
  const Key kept = key_of(store->proxy(std::string("kept")));
  REQUIRE(store->exists(key));
  const auto gone = gone_after(*store, key, started);
  REQUIRE(gone);
  CHECK(*gone >= milliseconds(250));  // not (much) before the deadline
  CHECK(store->exists(kept));
  const auto deadline = Clock::now() + milliseconds(5000);
  while (!lease->done() && Clock::now() < deadline)
    std::this_thread::sleep_for(milliseconds(5));
  CHECK(lease->done());
  CHECK_THROWS_AS(lease->extend(milliseconds(100)), LifetimeError);
}

TEMPLATE_LIST_TEST_CASE("LeaseLifetime survives extend()", "[lifetime]", ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("lifetime-extend-") + TestType::type));
  auto store = backend.make(name);

  const auto started = Clock::now();
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(300));
  const Key key = key_of(store->proxy(std::string("leased"), with(lease)));
  lease->extend(milliseconds(500));  // deadline: 800 ms after start
  CHECK(lease->remaining() > milliseconds(500));
  std::this_thread::sleep_until(started + milliseconds(450));  // past the first deadline
  CHECK(store->exists(key));
  CHECK_FALSE(lease->done());
  const auto gone = gone_after(*store, key, started);
  REQUIRE(gone);
  CHECK(*gone >= milliseconds(750));
}

TEMPLATE_LIST_TEST_CASE("LeaseLifetime close() and destruction evict at once", "[lifetime]",
                        ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("lifetime-lease-close-") + TestType::type));
  auto store = backend.make(name);

  Key key;
  SECTION("close()") {
    auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(60000));
    key = key_of(store->proxy(std::string("leased"), with(lease)));
    lease->close();
    CHECK(lease->done());
  }
  SECTION("destruction") {
    auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(60000));
    key = key_of(store->proxy(std::string("leased"), with(lease)));
    REQUIRE(store->exists(key));
  }
  CHECK_FALSE(store->exists(key));
}

TEST_CASE("LeaseLifetime checks its arguments and its store", "[lifetime]") {
  const ScopedStoreName name(unique_name("lifetime-lease-args"));
  const ScopedStoreName other_name(unique_name("lifetime-lease-other"));
  auto store = std::make_shared<CountingBackend<LocalStore>>(name.get());
  auto other = std::make_shared<LocalStore>(other_name.get());
  CHECK_THROWS_AS(LeaseLifetime(nullptr, milliseconds(100)), Error);
  CHECK_THROWS_MATCHES(LeaseLifetime(store, milliseconds(0)), Error,
                       MessageContains({name.get(), "positive"}));
  auto lease = std::make_shared<LeaseLifetime>(store, milliseconds(60000));
  CHECK_THROWS_MATCHES(other->proxy(std::string("x"), with(lease)), LifetimeError,
                       MessageContains({"another store", other_name.get()}));
  CHECK(lease->size() == 0);
}

TEST_CASE("StaticLifetime evicts its objects at process exit", "[lifetime]") {
  proxystore::test::TempDir dir("proxystore-static-lifetime");
  const proxystore::test::ChildResult result = proxystore::test::run_child(
      PROXYSTORE_HELPER_LIFETIME_PRODUCER, {"static-file", (dir / "objects").string()}, "");
  INFO(result.describe());
  REQUIRE(result.exit_code == 0);
  std::istringstream out(result.out);
  std::string leased;
  std::string kept;
  out >> leased >> kept;
  REQUIRE_FALSE(leased.empty());
  REQUIRE_FALSE(kept.empty());
  const ScopedStoreName name(unique_name("lifetime-static-check"));
  auto store = std::make_shared<FileStore>(name.get(), dir / "objects");
  CHECK_FALSE(store->exists(Key{leased}));
  CHECK(store->exists(Key{kept}));  // the helper did store objects
}

TEST_CASE("StaticLifetime is one per process and keeps its objects until exit", "[lifetime]") {
  auto lifetime = StaticLifetime::instance();
  REQUIRE(lifetime == StaticLifetime::instance());
  CHECK(lifetime->description() == "static lifetime");
  const ScopedStoreName name(unique_name("lifetime-static"));
  auto store = std::make_shared<LocalStore>(name.get());
  const Key key = key_of(store->proxy(std::string("static"), with(lifetime)));
  CHECK(store->exists(key));
  CHECK_FALSE(lifetime->done());
}
