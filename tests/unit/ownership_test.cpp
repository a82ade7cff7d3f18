// SPDX-License-Identifier: Apache-2.0
// OwnedProxy / RefProxy / RefMutProxy (ownership.hpp): each rule, each
// error, and eviction checked in the real stores.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ConformanceBackends;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::unique_name;

namespace ownership_test {

static_assert(!std::is_copy_constructible_v<OwnedProxy<int>>);
static_assert(std::is_nothrow_move_constructible_v<OwnedProxy<int>>);
static_assert(std::is_copy_constructible_v<RefProxy<int>>);
static_assert(!std::is_copy_constructible_v<RefMutProxy<int>>);
static_assert(std::is_move_constructible_v<RefMutProxy<int>>);
// A shared borrow gives const access only.
static_assert(std::is_same_v<decltype(*std::declval<RefProxy<int>&>()), const int&>);
static_assert(std::is_same_v<decltype(*std::declval<RefMutProxy<int>&>()), int&>);
static_assert(std::is_same_v<decltype(*std::declval<const OwnedProxy<int>&>()), const int&>);
static_assert(!std::is_convertible_v<RefProxy<int>&, int&>);

/// Records the violations reported while it lives.
class RecordingHandler {
 public:
  RecordingHandler()
      : previous_(set_borrow_violation_handler(
            [this](const BorrowViolation& violation) { seen_.push_back(violation); })) {}
  RecordingHandler(const RecordingHandler&) = delete;
  RecordingHandler& operator=(const RecordingHandler&) = delete;
  ~RecordingHandler() { set_borrow_violation_handler(previous_); }
  const std::vector<BorrowViolation>& seen() const { return seen_; }

 private:
  std::vector<BorrowViolation> seen_;
  BorrowViolationHandler previous_;
};

}  // namespace ownership_test

using namespace ownership_test;  // NOLINT(google-build-using-namespace)

TEMPLATE_LIST_TEST_CASE("OwnedProxy evicts its object when destroyed", "[ownership]",
                        ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("owned-") + TestType::type));
  auto store = backend.make(name);

  Key key;
  Key cloned_key;
  {
    OwnedProxy<std::string> owned = store->owned_proxy(std::string("mine"));
    key = owned.key();
    CHECK(store->exists(key));
    CHECK(*owned == "mine");
    OwnedProxy<std::string> cloned = clone(owned);
    cloned_key = cloned.key();
    CHECK(cloned_key != key);
    CHECK(*cloned == "mine");
    {
      OwnedProxy<std::string> moved = std::move(cloned);
      CHECK(store->exists(cloned_key));
    }
    CHECK_FALSE(store->exists(cloned_key));  // the moved-to owner evicted it
    CHECK(store->exists(key));
  }
  CHECK_FALSE(store->exists(key));
}

TEST_CASE("Borrow rules: many shared or one mutable", "[ownership]") {
  const ScopedStoreName name(unique_name("owned-rules"));
  auto store = std::make_shared<LocalStore>(name.get());
  OwnedProxy<std::vector<int>> owned = store->owned_proxy(std::vector<int>{1, 2});
  const std::string key = owned.key().id;

  SECTION("shared borrows coexist; a mutable one is refused") {
    RefProxy<std::vector<int>> a = borrow(owned);
    RefProxy<std::vector<int>> b = a;  // a copy is another borrow
    CHECK(a->size() == 2);
    const std::vector<int>& seen = b;
    CHECK(seen[1] == 2);
    CHECK(owned->size() == 2);  // reading through the owner is fine
    CHECK_THROWS_MATCHES(mut_borrow(owned), BorrowError,
                         MessageContains({name.get(), key, "mutably", "2 shared borrows"}));
  }
  SECTION("a mutable borrow excludes every other borrow and the owner") {
    RefMutProxy<std::vector<int>> m = mut_borrow(owned);
    m->push_back(3);
    CHECK_THROWS_MATCHES(borrow(owned), BorrowError,
                         MessageContains({key, "a mutable borrow is live"}));
    CHECK_THROWS_AS(mut_borrow(owned), BorrowError);
    CHECK_THROWS_MATCHES(owned->size(), BorrowError,
                         MessageContains({key, "owner", "mutable borrow"}));
    CHECK_THROWS_AS(clone(owned), BorrowError);
    RefMutProxy<std::vector<int>> moved = std::move(m);  // still the one borrow
    CHECK_THROWS_AS(borrow(owned), BorrowError);
  }
  // Every borrow of the sections has ended: all is allowed again.
  {
    RefMutProxy<std::vector<int>> m = mut_borrow(owned);
    (*m).push_back(9);
  }
  CHECK(owned->back() == 9);  // a mutable borrow's change is seen by the owner
  CHECK_NOTHROW(borrow(owned));
}

TEST_CASE("A moved-from or reset owner owns nothing", "[ownership]") {
  const ScopedStoreName name(unique_name("owned-moved"));
  auto store = std::make_shared<LocalStore>(name.get());
  OwnedProxy<int> owned = store->owned_proxy(5);
  const Key key = owned.key();
  OwnedProxy<int> other = std::move(owned);
  CHECK_FALSE(owned);  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move): the test
  CHECK(other);
  CHECK_THROWS_MATCHES(*owned, BorrowError, MessageContains({"owns nothing"}));
  CHECK_THROWS_AS(borrow(owned), BorrowError);
  CHECK_THROWS_AS(owned.key(), BorrowError);
  CHECK(store->exists(key));
  // Assigning another owner evicts what `other` owned.
  other = store->owned_proxy(6);
  CHECK_FALSE(store->exists(key));
  CHECK(*other == 6);
  const Key second = other.key();
  other.reset();
  CHECK_FALSE(other);
  CHECK_FALSE(store->exists(second));
}

TEST_CASE("An owner destroyed while borrowed defers the eviction and reports it", "[ownership]") {
  const ScopedStoreName name(unique_name("owned-violation"));
  auto store = std::make_shared<LocalStore>(name.get());
  RecordingHandler handler;
  Key key;
  SECTION("shared borrows") {
    std::optional<RefProxy<std::string>> a;
    std::optional<RefProxy<std::string>> b;
    {
      OwnedProxy<std::string> owned = store->owned_proxy(std::string("borrowed"));
      key = owned.key();
      a = borrow(owned);
      b = a;
    }
    REQUIRE(handler.seen().size() == 1);
    CHECK(handler.seen()[0].key == key);
    CHECK(handler.seen()[0].store == name.get());
    CHECK(handler.seen()[0].shared_borrows == 2);
    CHECK_FALSE(handler.seen()[0].mutable_borrow);
    CHECK_THAT(handler.seen()[0].message, Catch::Contains(key.id) && Catch::Contains("destroyed"));
    CHECK(**a == "borrowed");  // the borrows stay valid
    a.reset();
    CHECK(store->exists(key));
    b.reset();  // the last borrow ends: now it is evicted
    CHECK_FALSE(store->exists(key));
  }
  SECTION("a mutable borrow") {
    std::optional<RefMutProxy<std::string>> m;
    {
      OwnedProxy<std::string> owned = store->owned_proxy(std::string("borrowed"));
      key = owned.key();
      m = mut_borrow(owned);
    }
    REQUIRE(handler.seen().size() == 1);
    CHECK(handler.seen()[0].mutable_borrow);
    CHECK(store->exists(key));
    m.reset();
    CHECK_FALSE(store->exists(key));
  }
}

TEST_CASE("Borrows serialize like proxies and are detached in another process", "[ownership]") {
  const ScopedStoreName name(unique_name("owned-wire"));
  auto store = std::make_shared<LocalStore>(name.get());
  OwnedProxy<std::string> owned = store->owned_proxy(std::string("shared"));
  RefProxy<std::string> ref = borrow(owned);
  CHECK(ref.tracked());
  const std::string wire = serialize(ref);
  const std::string as_proxy = serialize(store->proxy_from_key<std::string>(owned.key()));
  CHECK(wire == as_proxy);  // the same bytes as a proxy to the key
  auto detached = deserialize<RefProxy<std::string>>(wire);
  CHECK_FALSE(detached.tracked());
  CHECK(*detached == "shared");
  auto as_plain = deserialize<Proxy<std::string>>(wire);
  CHECK(*as_plain == "shared");
  {
    RefMutProxy<std::string> m;
    ref = RefProxy<std::string>();  // end the tracked borrow
    m = mut_borrow(owned);
    auto detached_mut = deserialize<RefMutProxy<std::string>>(serialize(m));
    CHECK_FALSE(detached_mut.tracked());
    detached_mut->append("!");  // a local copy: not the owner's
    CHECK(*detached_mut == "shared!");
  }
  CHECK(*owned == "shared");
}

TEST_CASE("into_owned copies a borrowed object under a new key", "[ownership]") {
  const ScopedStoreName name(unique_name("owned-into"));
  auto store = std::make_shared<LocalStore>(name.get());
  OwnedProxy<std::string> owned = store->owned_proxy(std::string("original"));
  RefProxy<std::string> ref = borrow(owned);
  Key copy_key;
  {
    OwnedProxy<std::string> mine = into_owned(ref);
    copy_key = mine.key();
    CHECK(copy_key != owned.key());
    CHECK(*mine == "original");
    auto detached = deserialize<RefProxy<std::string>>(serialize(ref));
    OwnedProxy<std::string> also = into_owned(detached);  // works without tracking too
    CHECK(*also == "original");
  }
  CHECK_FALSE(store->exists(copy_key));  // the new owner evicted its copy
  CHECK(store->exists(owned.key()));     // the original owner keeps its object
  CHECK_THROWS_AS(into_owned(RefProxy<std::string>()), Error);
}

TEST_CASE("Owned proxies take a lifetime too", "[ownership][lifetime]") {
  const ScopedStoreName name(unique_name("owned-lifetime"));
  auto store = std::make_shared<LocalStore>(name.get());
  auto scope = std::make_shared<ContextLifetime>();
  ProxyOptions options;
  options.lifetime = scope;
  OwnedProxy<int> owned = store->owned_proxy(1, options);
  scope->close();
  CHECK_FALSE(
      store->exists(owned.key()));  // the lifetime ended first; the owner's evict is a no-op
}

TEST_CASE("Shared borrows from many threads", "[ownership][concurrency]") {
  const ScopedStoreName name(unique_name("owned-threads"));
  auto store = std::make_shared<LocalStore>(name.get());
  OwnedProxy<std::vector<int>> owned = store->owned_proxy(std::vector<int>(100, 1));
  std::atomic<long> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        RefProxy<std::vector<int>> ref = borrow(owned);
        RefProxy<std::vector<int>> copy = ref;
        total += static_cast<long>(copy->size());
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(total.load() == 8L * 200 * 100);
  CHECK_NOTHROW(mut_borrow(owned));  // every shared borrow was released
}
