// SPDX-License-Identifier: Apache-2.0
// Proxy<T>: laziness, access forms, shared resolution, retry, async, odd targets.
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file

namespace {

using Calls = std::shared_ptr<std::atomic<int>>;

Calls new_calls() {
  return std::make_shared<std::atomic<int>>(0);
}

/// A lazy proxy whose factory counts its calls and returns `value`.
template <class T>
Proxy<T> counted_proxy(T value, const Calls& calls) {
  return Proxy<T>(LambdaFactory<T>([calls, value]() {
    ++*calls;
    return value;
  }));
}

struct NotComparable {};

struct NotFormattable {
  int value = 0;
};

/// Comparable, but std::hash is not specialised for it.
struct NonHashable {
  int value = 0;
  bool operator==(const NonHashable& other) const { return value == other.value; }
};

/// Only constructible with a value; cereal builds it with load_and_construct.
class NoDefault {
 public:
  explicit NoDefault(int value) : value_(value) {}
  int value() const { return value_; }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(value_);
  }
  template <class Archive>
  static void load_and_construct(Archive& ar, cereal::construct<NoDefault>& construct) {
    int value = 0;
    ar(value);
    construct(value);
  }

 private:
  int value_;
};

// --- detection idiom: is an expression well-formed? -------------------------

template <class A, class B, class = void>
struct CanEqual : std::false_type {};
template <class A, class B>
struct CanEqual<A, B, std::void_t<decltype(std::declval<const A&>() == std::declval<const B&>())>>
    : std::true_type {};

template <class A, class B, class = void>
struct CanLess : std::false_type {};
template <class A, class B>
struct CanLess<A, B, std::void_t<decltype(std::declval<const A&>() < std::declval<const B&>())>>
    : std::true_type {};

template <class A, class I, class = void>
struct CanIndex : std::false_type {};
template <class A, class I>
struct CanIndex<A, I, std::void_t<decltype(std::declval<A&>()[std::declval<I>()])>>
    : std::true_type {};

template <class A, class = void>
struct CanIterate : std::false_type {};
template <class A>
struct CanIterate<
    A, std::void_t<decltype(std::declval<A&>().begin()), decltype(std::declval<A&>().end())>>
    : std::true_type {};

template <class A, class = void>
struct CanStream : std::false_type {};
template <class A>
struct CanStream<A,
                 std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const A&>())>>
    : std::true_type {};

using StringProxy = Proxy<std::string>;
using VectorProxy = Proxy<std::vector<int>>;

// Comparisons are constrained: valid exactly when `const T& op u` is.
static_assert(CanEqual<StringProxy, const char*>::value);
static_assert(CanEqual<const char*, StringProxy>::value);
static_assert(CanEqual<StringProxy, std::string>::value);
static_assert(CanEqual<StringProxy, StringProxy>::value);
static_assert(CanEqual<Proxy<int>, double>::value);
static_assert(CanLess<StringProxy, const char*>::value);
static_assert(CanLess<const char*, StringProxy>::value);
static_assert(!CanEqual<StringProxy, NotComparable>::value);
static_assert(!CanEqual<NotComparable, StringProxy>::value);
static_assert(!CanEqual<Proxy<NotComparable>, Proxy<NotComparable>>::value);
static_assert(!CanEqual<Proxy<NotComparable>, NotComparable>::value);
static_assert(!CanLess<Proxy<NonHashable>, Proxy<NonHashable>>::value);
static_assert(!CanEqual<StringProxy, Proxy<NotComparable>>::value);

// operator[], begin()/end() and operator<< exist only when T has them.
static_assert(CanIndex<VectorProxy, std::size_t>::value);
static_assert(CanIndex<Proxy<std::map<std::string, int>>, const char*>::value);
static_assert(!CanIndex<Proxy<int>, int>::value);
static_assert(!CanIndex<Proxy<NotComparable>, int>::value);
static_assert(CanIterate<VectorProxy>::value);
static_assert(CanIterate<const VectorProxy>::value);
static_assert(!CanIterate<Proxy<int>>::value);
static_assert(CanStream<Proxy<int>>::value);
static_assert(CanStream<StringProxy>::value);
static_assert(!CanStream<Proxy<NotFormattable>>::value);

// std::hash<Proxy<T>> is enabled exactly when std::hash<T> is.
static_assert(std::is_default_constructible_v<std::hash<StringProxy>>);
static_assert(std::is_default_constructible_v<std::hash<Proxy<int>>>);
static_assert(!std::is_default_constructible_v<std::hash<Proxy<NonHashable>>>);
static_assert(!std::is_default_constructible_v<std::hash<Proxy<NotComparable>>>);

// fmt: a proxy is formattable exactly when its target is, and a proxy of a
// range (fmt/ranges.h is included above) is formatted by our formatter, not
// as a range of its own (which would make the specialisations ambiguous).
static_assert(fmt::is_formattable<Proxy<int>>::value);
static_assert(fmt::is_formattable<StringProxy>::value);
static_assert(fmt::is_formattable<VectorProxy>::value);
static_assert(!fmt::is_formattable<Proxy<NotFormattable>>::value);
static_assert(fmt::range_format_kind<VectorProxy, char>::value == fmt::range_format::disabled);

// A const proxy gives only const access.
static_assert(std::is_same_v<decltype(*std::declval<const StringProxy&>()), const std::string&>);
static_assert(
    std::is_same_v<decltype(std::declval<const StringProxy&>().operator->()), const std::string*>);
static_assert(
    std::is_same_v<decltype(extract(std::declval<const StringProxy&>())), const std::string&>);
static_assert(std::is_same_v<decltype(std::declval<const VectorProxy&>()[0]), const int&>);
static_assert(std::is_same_v<decltype(std::declval<const VectorProxy&>().begin()),
                             std::vector<int>::const_iterator>);
static_assert(std::is_convertible_v<const StringProxy&, const std::string&>);
static_assert(!std::is_convertible_v<const StringProxy&, std::string&>);
// ... and a non-const proxy mutable access.
static_assert(std::is_same_v<decltype(*std::declval<StringProxy&>()), std::string&>);
static_assert(std::is_same_v<decltype(extract(std::declval<StringProxy&>())), std::string&>);
static_assert(std::is_same_v<decltype(std::declval<VectorProxy&>()[0]), int&>);
static_assert(std::is_convertible_v<StringProxy&, std::string&>);

// Cheap handles: copyable, nothrow-movable, default-constructible (empty).
static_assert(std::is_nothrow_default_constructible_v<StringProxy>);
static_assert(std::is_nothrow_move_constructible_v<StringProxy>);
static_assert(std::is_copy_constructible_v<Proxy<std::unique_ptr<int>>>);

std::size_t length_of(const std::string& text) {
  return text.size();
}

/// A start gate for threads, so they hit the proxy together.
class StartGate {
 public:
  explicit StartGate(int threads) : waiting_(threads) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (--waiting_ == 0) {
      open_.notify_all();
      return;
    }
    open_.wait(lock, [this] { return waiting_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable open_;
  int waiting_;
};

}  // namespace

TEST_CASE("Proxy is lazy: only the first access calls the factory", "[proxy]") {
  auto calls = new_calls();
  StringProxy p = counted_proxy<std::string>("hello", calls);
  StringProxy copy = p;
  CHECK_FALSE(is_resolved(p));
  CHECK(get_factory(p));
  CHECK(calls->load() == 0);

  CHECK(p->size() == 5);
  CHECK(calls->load() == 1);
  CHECK(is_resolved(p));
  CHECK(is_resolved(copy));

  // Every further access form uses the resolved target.
  CHECK(*p == "hello");
  CHECK(p == "hello");
  CHECK(copy[0] == 'h');
  CHECK(length_of(p) == 5);
  CHECK(extract(copy) == "hello");
  resolve(copy);
  CHECK(calls->load() == 1);
}

TEST_CASE("Proxy access forms forward to the target", "[proxy]") {
  auto calls = new_calls();
  StringProxy p = counted_proxy<std::string>("hello", calls);

  SECTION("member access, dereference and implicit conversions") {
    CHECK(p->size() == 5);
    CHECK((*p)[1] == 'e');
    const std::string& view = p;
    CHECK(view == "hello");
    std::string& target = p;
    target += " world";
    CHECK(*p == "hello world");
    CHECK(&view == &target);
    CHECK(length_of(p) == 11);
  }

  SECTION("comparisons with values and with proxies, both ways") {
    CHECK(p == "hello");
    CHECK("hello" == p);
    CHECK(p == std::string("hello"));
    CHECK(p != "world");
    CHECK("world" != p);
    CHECK(p < "world");
    CHECK("abc" < p);
    CHECK(p <= "hello");
    CHECK(p >= "hello");
    CHECK(p > "abc");
    CHECK_FALSE(p == "hell");

    StringProxy same = counted_proxy<std::string>("hello", calls);
    StringProxy other = counted_proxy<std::string>("world", calls);
    CHECK(p == same);
    CHECK(p != other);
    CHECK(p < other);
    CHECK(other > same);

    Proxy<int> number = counted_proxy(42, calls);
    CHECK(number == 42);
    CHECK(42.0 == number);
    CHECK(number < 43L);
  }

  SECTION("operator[], range-for and iterators") {
    VectorProxy v = counted_proxy(std::vector<int>{1, 2, 3, 4}, calls);
    CHECK(v[2] == 3);
    v[2] = 30;
    int sum = 0;
    for (int x : v)
      sum += x;
    CHECK(sum == 1 + 2 + 30 + 4);
    CHECK(std::accumulate(v.begin(), v.end(), 0) == 37);
    const VectorProxy& cv = v;
    CHECK(std::accumulate(cv.begin(), cv.end(), 0) == 37);
    CHECK(v->size() == 4);
    CHECK(calls->load() == 1);

    Proxy<std::map<std::string, int>> m =
        counted_proxy(std::map<std::string, int>{{"a", 1}}, calls);
    CHECK(m["a"] == 1);
  }

  SECTION("std::hash and unordered containers") {
    CHECK(std::hash<StringProxy>{}(p) == std::hash<std::string>{}("hello"));
    std::unordered_set<StringProxy> set{p, counted_proxy<std::string>("other", calls)};
    CHECK(set.size() == 2);
    CHECK(set.count(counted_proxy<std::string>("hello", calls)) == 1);
  }

  SECTION("operator<<") {
    std::ostringstream out;
    out << p << ' ' << counted_proxy(7, calls);
    CHECK(out.str() == "hello 7");
  }

  SECTION("fmt formats the target, honouring format specs") {
    CHECK(fmt::format("{}", p) == "hello");
    CHECK(fmt::format("{:>8}", p) == "   hello");
    CHECK(fmt::format("{:*<7}", p) == "hello**");
    const StringProxy& cp = p;
    CHECK(fmt::format("[{}]", cp) == "[hello]");
    CHECK(fmt::format("{:04}", counted_proxy(42, calls)) == "0042");
    CHECK(fmt::format("{:.2f}", counted_proxy(3.14159, calls)) == "3.14");

    VectorProxy v = counted_proxy(std::vector<int>{1, 2, 3}, calls);
    CHECK(fmt::format("{}", v) == fmt::format("{}", std::vector<int>{1, 2, 3}));
    CHECK(fmt::format("{}", v) == "[1, 2, 3]");
    CHECK(fmt::format("{::02}", v) ==
          "[01, 02, 03]");  // element spec reaches the target's formatter
  }
}

TEST_CASE("Proxy copies share one resolution and one target", "[proxy]") {
  auto calls = new_calls();
  StringProxy p = counted_proxy<std::string>("abc", calls);
  StringProxy q = p;  // copied before resolution
  StringProxy r;
  r = q;

  CHECK(*q == "abc");
  CHECK(is_resolved(p));
  CHECK(is_resolved(r));
  CHECK(&*p == &*q);
  CHECK(&extract(r) == &*p);

  q->append("def");       // a change through one copy ...
  CHECK(*p == "abcdef");  // ... is seen by all
  CHECK(r == "abcdef");
  std::string& through_r = r;
  through_r = "xyz";
  CHECK(p == "xyz");
  CHECK(calls->load() == 1);

  // A copy made after resolution shares too.
  StringProxy late = p;
  CHECK(is_resolved(late));
  CHECK(&*late == &*p);
  CHECK(calls->load() == 1);

  // Moving transfers the shared state and leaves an empty proxy.
  StringProxy moved = std::move(late);
  CHECK(&*moved == &*p);
  CHECK_FALSE(is_resolved(late));  // NOLINT(bugprone-use-after-move): moved-from is empty
  CHECK_THROWS_AS(*late, Error);   // NOLINT(bugprone-use-after-move)
}

TEST_CASE("A reference from a proxy stays valid while some copy lives", "[proxy]") {
  auto calls = new_calls();
  auto p = std::make_unique<StringProxy>(counted_proxy<std::string>(std::string(100, 'x'), calls));
  StringProxy keeper = *p;
  const std::string& ref = *p;
  p.reset();  // the copy we read through is gone; `keeper` still holds the state
  CHECK(ref == std::string(100, 'x'));
  CHECK(&ref == &*keeper);
}

TEST_CASE("16 threads on one unresolved proxy make exactly one factory call",
          "[proxy][concurrency]") {
  constexpr int kThreads = 16;
  std::atomic<int> calls{0};
  StringProxy p(LambdaFactory<std::string>([&calls] {
    ++calls;
    // Keep the factory busy so the other threads really pile up behind it.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return std::string("shared");
  }));

  StartGate gate(kThreads);
  std::vector<const std::string*> seen(kThreads, nullptr);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    // Each thread works on its own copy, as real users would.
    threads.emplace_back([&, i, copy = p]() mutable {
      gate.arrive_and_wait();
      switch (i % 4) {
        case 0:
          seen[i] = &*copy;
          break;
        case 1:
          seen[i] = &extract(copy);
          break;
        case 2:
          seen[i] = copy.operator->();
          break;
        default: {
          const std::string& target = copy;
          seen[i] = &target;
        }
      }
    });
  }
  for (auto& thread : threads)
    thread.join();

  CHECK(calls.load() == 1);
  for (const std::string* target : seen) {
    REQUIRE(target != nullptr);
    CHECK(target == &*p);
  }
  CHECK(*p == "shared");
}

TEST_CASE("A failed resolution throws from the access and the next access retries", "[proxy]") {
  std::atomic<int> calls{0};
  StringProxy p(LambdaFactory<std::string>([&calls]() -> std::string {
    if (++calls == 1)
      throw ProxyResolveMissingKeyError("first attempt fails");
    return "second attempt";
  }));
  StringProxy copy = p;

  CHECK_THROWS_MATCHES(p->size(), ProxyResolveMissingKeyError,
                       Catch::Matchers::Message("first attempt fails"));
  CHECK_FALSE(is_resolved(p));
  CHECK_FALSE(is_resolved(copy));
  CHECK(calls.load() == 1);

  CHECK(*copy == "second attempt");  // any copy retries
  CHECK(is_resolved(p));
  CHECK(p == "second attempt");
  CHECK(calls.load() == 2);

  // A factory that always fails keeps failing, once per access.
  std::atomic<int> failures{0};
  Proxy<int> broken(LambdaFactory<int>([&failures]() -> int {
    ++failures;
    throw std::runtime_error("always");
  }));
  CHECK_THROWS_AS(resolve(broken), std::runtime_error);
  CHECK_THROWS_AS(*broken, std::runtime_error);
  CHECK_THROWS_AS(extract(broken), std::runtime_error);
  CHECK(failures.load() == 3);
}

TEST_CASE("Proxy works for a move-only target", "[proxy]") {
  auto calls = new_calls();
  using Ptr = std::unique_ptr<int>;
  Proxy<Ptr> p(LambdaFactory<Ptr>([calls] {
    ++*calls;
    return std::make_unique<int>(7);
  }));
  Proxy<Ptr> copy = p;
  CHECK(**p == 7);
  CHECK(*p->get() == 7);
  CHECK(p != nullptr);
  Ptr& owned = extract(copy);
  *owned = 8;
  CHECK(**p == 8);
  owned = std::make_unique<int>(9);
  CHECK(**copy == 9);
  CHECK(calls->load() == 1);
  CHECK(std::hash<Proxy<Ptr>>{}(p) == std::hash<Ptr>{}(extract(p)));
}

TEST_CASE("Proxy works for a target that is not default-constructible", "[proxy]") {
  static_assert(!std::is_default_constructible_v<NoDefault>);
  auto calls = new_calls();
  Proxy<NoDefault> p(LambdaFactory<NoDefault>([calls] {
    ++*calls;
    return NoDefault(5);
  }));
  CHECK_FALSE(is_resolved(p));
  CHECK(p->value() == 5);
  const NoDefault& target = p;
  CHECK(target.value() == 5);
  CHECK(calls->load() == 1);
}

TEST_CASE("An empty proxy throws Error on use and round-trips as empty", "[proxy]") {
  StringProxy empty;
  CHECK_FALSE(is_resolved(empty));
  CHECK_THROWS_AS(*empty, Error);
  CHECK_THROWS_AS(empty->size(), Error);
  CHECK_THROWS_AS(resolve(empty), Error);
  CHECK_THROWS_AS(extract(empty), Error);
  CHECK_THROWS_AS(get_factory(empty), Error);
  CHECK_THROWS_AS(resolve_async(empty), Error);
  CHECK_THROWS_AS(empty == "x", Error);
  CHECK_THROWS_WITH(*empty, Catch::Matchers::Contains("empty Proxy<string>"));
  CHECK_THROWS_AS(fmt::format("{}", empty), Error);

  StringProxy loaded = deserialize<StringProxy>(serialize(empty));
  CHECK_FALSE(is_resolved(loaded));
  CHECK_THROWS_AS(*loaded, Error);
  CHECK_THROWS_AS(get_factory(loaded), Error);

  // A proxy holding an empty factory is not empty, but calling it throws Error.
  StringProxy no_factory{Factory<std::string>()};
  CHECK_THROWS_AS(*no_factory, Error);
}

TEST_CASE("resolve and is_resolved and extract and get_factory", "[proxy]") {
  auto calls = new_calls();
  StringProxy p = counted_proxy<std::string>("value", calls);
  const Factory<std::string>& factory = get_factory(p);
  REQUIRE(factory);
  CHECK(factory.target<LambdaFactory<std::string>>() != nullptr);
  CHECK(factory.target<SimpleFactory<std::string>>() == nullptr);
  CHECK(calls->load() == 0);

  resolve(p);
  CHECK(is_resolved(p));
  CHECK(calls->load() == 1);
  resolve(p);  // a no-op once resolved
  CHECK(calls->load() == 1);

  std::string& mutable_target = extract(p);
  mutable_target = "changed";
  const StringProxy& cp = p;
  CHECK(extract(cp) == "changed");
  CHECK(&get_factory(cp) == &factory);  // resolution does not replace the factory

  // extract() resolves if needed.
  StringProxy lazy = counted_proxy<std::string>("lazy", calls);
  CHECK(extract(lazy) == "lazy");
  CHECK(calls->load() == 2);

  // The factory can be called again by hand; it does not touch the proxy.
  CHECK(get_factory(lazy)() == "lazy");
  CHECK(calls->load() == 3);
  CHECK(*lazy == "lazy");
}

TEST_CASE("resolve_async prefetches on another thread", "[proxy][concurrency]") {
  std::atomic<int> calls{0};
  std::promise<std::thread::id> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StringProxy p(LambdaFactory<std::string>([&] {
    if (++calls == 1)
      started.set_value(std::this_thread::get_id());
    released.wait();
    return std::string("prefetched");
  }));

  resolve_async(p);  // returns at once, although the factory blocks
  const std::thread::id factory_thread = started.get_future().get();
  CHECK(factory_thread != std::this_thread::get_id());
  CHECK_FALSE(is_resolved(p));

  // A second request while the task runs (and holds the proxy's lock) must
  // return at once too, and start nothing. Run it on a thread so a broken
  // implementation fails this check instead of deadlocking the test.
  auto second = std::async(std::launch::async, [&p] { resolve_async(p); });
  const bool returned = second.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  CHECK(returned);
  second.get();

  CHECK(*p == "prefetched");  // waits for the running task, does not call again
  CHECK(is_resolved(p));
  CHECK(calls.load() == 1);

  resolve_async(p);  // already resolved: nothing to do
  CHECK(*p == "prefetched");
  CHECK(calls.load() == 1);
}

TEST_CASE("resolve_async returns at once while another thread resolves", "[proxy][concurrency]") {
  std::atomic<int> calls{0};
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StringProxy p(LambdaFactory<std::string>([&] {
    ++calls;
    started.set_value();
    released.wait();
    return std::string("sync");
  }));
  std::thread resolver([copy = p] { resolve(copy); });
  started.get_future().wait();  // the resolver is inside the factory

  auto async = std::async(std::launch::async, [&p] { resolve_async(p); });
  const bool returned = async.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  release.set_value();
  resolver.join();
  CHECK(returned);
  async.get();
  CHECK(*p == "sync");
  CHECK(calls.load() == 1);
}

TEST_CASE("resolve_async failure is rethrown once and the next access retries",
          "[proxy][concurrency]") {
  std::atomic<int> calls{0};
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  StringProxy p(LambdaFactory<std::string>([&]() -> std::string {
    if (++calls == 1) {
      started.set_value();
      released.wait();
      throw ProxyResolveMissingKeyError("background attempt failed");
    }
    return "retried";
  }));

  resolve_async(p);
  started.get_future().wait();  // the task is running (and holds the proxy's lock)
  release.set_value();
  CHECK_THROWS_MATCHES(*p, ProxyResolveMissingKeyError,
                       Catch::Matchers::Message("background attempt failed"));
  CHECK(calls.load() == 1);  // the failure was reported, not retried, by that access
  CHECK_FALSE(is_resolved(p));

  CHECK(*p == "retried");  // the next access retries
  CHECK(calls.load() == 2);
  CHECK(is_resolved(p));
}

TEST_CASE("Destroying the last copy waits for a running resolve_async task",
          "[proxy][concurrency]") {
  std::mutex events_mutex;
  std::vector<std::string> events;
  auto record = [&](const char* event) {
    std::lock_guard<std::mutex> lock(events_mutex);
    events.emplace_back(event);
  };
  std::promise<void> started;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();

  auto p = std::make_unique<Proxy<std::vector<int>>>(LambdaFactory<std::vector<int>>([&] {
    started.set_value();
    released.wait();
    record("factory returned");
    return std::vector<int>(1000, 1);  // written into the shared state after we return
  }));
  resolve_async(*p);
  started.get_future().wait();

  std::thread destroyer([&] {
    p.reset();  // the last copy: must wait for the running task
    record("destroyed");
  });
  // Only widens the window in which a broken implementation would free the
  // state early; the assertion below does not depend on timing.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  release.set_value();
  destroyer.join();

  REQUIRE(events.size() == 2);
  CHECK(events[0] == "factory returned");
  CHECK(events[1] == "destroyed");
}

TEST_CASE("Destroying the last copy waits for a queued resolve_async task",
          "[proxy][concurrency]") {
  // Occupy the pool (at most 8 workers) so the task under test is queued.
  constexpr int kBlockers = 8;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<Proxy<int>> blockers;
  for (int i = 0; i < kBlockers; ++i) {
    blockers.emplace_back(LambdaFactory<int>([released, i] {
      released.wait();
      return i;
    }));
    resolve_async(blockers.back());
  }

  std::atomic<int> calls{0};
  std::atomic<bool> factory_done{false};
  auto p = std::make_unique<StringProxy>(LambdaFactory<std::string>([&] {
    ++calls;
    factory_done = true;
    return std::string(4096, 'q');
  }));
  resolve_async(*p);  // queued behind the blockers (FIFO, all workers busy)

  std::atomic<bool> destroyed{false};
  std::thread destroyer([&] {
    p.reset();
    destroyed = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // widens the window only
  release.set_value();
  destroyer.join();
  CHECK(destroyed.load());
  CHECK(factory_done.load());  // the task ran before the state was freed
  CHECK(calls.load() == 1);
  for (int i = 0; i < kBlockers; ++i)
    CHECK(blockers[static_cast<std::size_t>(i)] == i);
}

TEST_CASE("resolve_async on many proxies resolves each once", "[proxy][concurrency]") {
  std::atomic<int> calls{0};
  std::vector<Proxy<int>> proxies;
  for (int i = 0; i < 64; ++i) {
    proxies.emplace_back(LambdaFactory<int>([&calls, i] {
      ++calls;
      return i * i;
    }));
  }
  for (auto& p : proxies)
    resolve_async(p);
  for (int i = 0; i < 64; ++i)
    CHECK(proxies[static_cast<std::size_t>(i)] == i * i);
  CHECK(calls.load() == 64);
}

TEST_CASE("Concurrent readers of a resolved proxy and its copies", "[proxy][concurrency]") {
  auto calls = new_calls();
  VectorProxy p = counted_proxy(std::vector<int>(256, 2), calls);
  std::vector<std::thread> threads;
  std::atomic<long> total{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&total, copy = p]() {
      for (int round = 0; round < 50; ++round)
        total += std::accumulate(copy.begin(), copy.end(), 0L);
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(total.load() == 8L * 50 * 512);
  CHECK(calls->load() == 1);
}
