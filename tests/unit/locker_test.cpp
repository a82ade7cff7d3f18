// SPDX-License-Identifier: Apache-2.0
// ProxyLocker<T> (locker.hpp): forwarding code cannot resolve it.
#include <proxystore/proxystore.hpp>

#include "support/store_fixtures.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ScopedStoreName;
using proxystore::test::unique_name;

namespace locker_test {

template <class L, class = void>
struct HasArrow : std::false_type {};
template <class L>
struct HasArrow<L, std::void_t<decltype(std::declval<L&>().operator->())>> : std::true_type {};

template <class L, class = void>
struct HasStar : std::false_type {};
template <class L>
struct HasStar<L, std::void_t<decltype(*std::declval<L&>())>> : std::true_type {};

template <class L, class U, class = void>
struct HasEquals : std::false_type {};
template <class L, class U>
struct HasEquals<L, U, std::void_t<decltype(std::declval<const L&>() == std::declval<const U&>())>>
    : std::true_type {};

using Locker = ProxyLocker<std::string>;
// The locked proxy offers nothing that would resolve it ...
static_assert(!HasArrow<Locker>::value);
static_assert(!HasStar<Locker>::value);
static_assert(!HasEquals<Locker, std::string>::value);
static_assert(!std::is_convertible_v<Locker, const std::string&>);
static_assert(!std::is_convertible_v<Locker, Proxy<std::string>>);
// ... which the proxy itself does (so the checks above can fail).
static_assert(HasArrow<Proxy<std::string>>::value);
static_assert(HasStar<Proxy<std::string>>::value);
static_assert(HasEquals<Proxy<std::string>, std::string>::value);
static_assert(std::is_copy_constructible_v<Locker>);

/// Code that merely forwards a locker: it compiles without resolving.
Locker forward(Locker locker) {
  return locker;
}

}  // namespace locker_test

using namespace locker_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("ProxyLocker forwards a proxy without resolving it", "[locker]") {
  const ScopedStoreName name(unique_name("locker"));
  auto store = std::make_shared<LocalStore>(name.get());
  const Proxy<std::string> proxy = store->proxy(std::string("secret"));
  Locker locked = forward(lock(proxy));
  CHECK_FALSE(is_resolved(proxy));
  const Proxy<std::string>& back = locked.unlock();
  CHECK(back == "secret");
  CHECK(is_resolved(proxy));  // the unlocked proxy shares the original's resolution
  Proxy<std::string> moved = std::move(locked).unlock();
  CHECK(moved == "secret");
}

TEST_CASE("ProxyLocker serializes exactly like the proxy inside", "[locker]") {
  const ScopedStoreName name(unique_name("locker-wire"));
  auto store = std::make_shared<LocalStore>(name.get());
  const Proxy<int> proxy = store->proxy(42);
  const std::string as_proxy = serialize(proxy);
  const std::string as_locker = serialize(ProxyLocker<int>(proxy));
  CHECK(as_locker == as_proxy);
  CHECK(*deserialize<ProxyLocker<int>>(as_proxy).unlock() == 42);
  CHECK(*deserialize<Proxy<int>>(as_locker) == 42);
  const auto empty = deserialize<ProxyLocker<int>>(serialize(ProxyLocker<int>()));
  CHECK_THROWS_AS(resolve(empty.unlock()), Error);
}
