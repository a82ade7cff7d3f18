// SPDX-License-Identifier: Apache-2.0
// What a proxy cannot do (docs/proxies.md, "What a proxy cannot do"): each
// limit the guide states is checked here, so a change that lifts one (or
// breaks an idiom the guide recommends) fails until the guide is updated.
#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <complex>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file

namespace {

template <class T>
T largest(const std::vector<T>& values) {
  return *std::max_element(values.begin(), values.end());
}

template <class P, class = void>
struct HasDotSize : std::false_type {};
template <class P>
struct HasDotSize<P, std::void_t<decltype(std::declval<P&>().size())>> : std::true_type {};

template <class A, class = void>
struct DeducesLargest : std::false_type {};
template <class A>
struct DeducesLargest<A, std::void_t<decltype(largest(std::declval<A&>()))>> : std::true_type {};

template <class A, class B, class = void>
struct HasPlus : std::false_type {};
template <class A, class B>
struct HasPlus<A, B, std::void_t<decltype(std::declval<A&>() + std::declval<B>())>>
    : std::true_type {};

template <class A, class B, class = void>
struct HasTimes : std::false_type {};
template <class A, class B>
struct HasTimes<A, B, std::void_t<decltype(std::declval<A&>() * std::declval<B>())>>
    : std::true_type {};

// A string API overloaded the common way; a proxy must pick the std::string one.
int overloaded(std::string_view /*text*/) {
  return 1;
}
int overloaded(const std::string& /*text*/) {
  return 2;
}

struct Money {
  long cents = 0;
  friend Money operator+(const Money& a, const Money& b) { return {a.cents + b.cents}; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cents);
  }
};

}  // namespace

PROXYSTORE_TYPE_NAME(Money, "test.money");

TEST_CASE("Proxy limits: members need ->, deduction needs the target", "[proxy][docs]") {
  static_assert(!HasDotSize<Proxy<std::vector<int>>>::value, "p.size() must not compile");
  static_assert(HasDotSize<std::vector<int>>::value, "the detector itself works");
  static_assert(!DeducesLargest<Proxy<std::vector<int>>>::value, "largest(p) must not deduce");
  static_assert(DeducesLargest<std::vector<int>>::value, "the detector itself works");

  auto store = std::make_shared<LocalStore>("proxy-limits-members");
  Proxy<std::vector<int>> p = store->proxy(std::vector<int>{3, 1, 4});
  CHECK(p->size() == 3);
  CHECK(largest(*p) == 4);
  CHECK(largest<int>(p) == 4);
}

TEST_CASE("Proxy limits: no string_view conversion, so string overloads stay unambiguous",
          "[proxy][docs]") {
  static_assert(!std::is_convertible_v<Proxy<std::string>&, std::string_view>,
                "a string_view conversion makes f(string_view)/f(const string&) ambiguous: "
                "update docs/proxies.md if you add one");
  static_assert(!std::is_convertible_v<const Proxy<std::string>&, std::string_view>);

  auto store = std::make_shared<LocalStore>("proxy-limits-string-view");
  Proxy<std::string> s = store->proxy(std::string("hello"));
  CHECK(overloaded(std::string_view("hello")) == 1);
  CHECK(overloaded(s) == 2);  // compiles, and picks const std::string&
  std::string_view view = *s;
  CHECK(view.substr(1, 3) == "ell");
  Proxy<std::string> copy = s;
  s = Proxy<std::string>();  // the view stays valid while some copy lives
  CHECK(view == "hello");
  CHECK(view.data() == copy->data());
}

TEST_CASE("Proxy limits: operator templates need *, built-in and plain operators work",
          "[proxy][docs]") {
  static_assert(!HasPlus<Proxy<std::string>, const char*>::value, "p + \"!\" must not compile");
  static_assert(HasPlus<std::string, const char*>::value, "the detector itself works");
  static_assert(!HasTimes<Proxy<std::complex<double>>, double>::value);
  static_assert(HasPlus<Proxy<int>, int>::value, "built-in arithmetic works");
  static_assert(HasPlus<Proxy<Money>, Money>::value, "hidden friends work");

  auto store = std::make_shared<LocalStore>("proxy-limits-arithmetic");
  Proxy<std::string> s = store->proxy(std::string("hello"));
  CHECK(*s + "!" == "hello!");
  Proxy<std::complex<double>> z = store->proxy(std::complex<double>(1, 2));
  CHECK(*z * 2.0 == std::complex<double>(2, 4));
  Proxy<int> n = store->proxy(41);
  CHECK(n + 1 == 42);
  Proxy<Money> m = store->proxy(Money{150});
  CHECK((m + Money{50}).cents == 200);
}

TEST_CASE("Proxy limits: a change through T& stays in this process, never in the store",
          "[proxy][docs]") {
  StoreOptions options;
  const auto cache_size = GENERATE(std::size_t{0}, std::size_t{16});
  options.cache_size = cache_size;
  CAPTURE(cache_size);
  // One name per run: proxy() registers the store, and the registry keeps it.
  auto store =
      std::make_shared<LocalStore>("proxy-limits-mutation-" + std::to_string(cache_size), options);

  Proxy<std::vector<int>> v = store->proxy(std::vector<int>{3, 1, 4});
  Proxy<std::vector<int>> copy = v;
  v->push_back(1);
  CHECK(copy->size() == 4);  // copies share one target

  const Key key = get_factory(v).target<StoreFactory<std::vector<int>>>()->key();
  CHECK(store->get<std::vector<int>>(key) == std::vector<int>{3, 1, 4});
  auto elsewhere = deserialize<Proxy<std::vector<int>>>(serialize(v));
  CHECK(elsewhere->size() == 3);  // resolved again: the stored object

  Proxy<std::vector<int>> updated = store->proxy(extract(v));
  CHECK(*updated == std::vector<int>{3, 1, 4, 1});
  CHECK(store->get<std::vector<int>>(key) == std::vector<int>{3, 1, 4});
}
