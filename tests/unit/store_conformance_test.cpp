// SPDX-License-Identifier: Apache-2.0
// One conformance suite, every backend: the behaviour Store promises whatever moves the bytes.
// Backends are listed in support/store_fixtures.hpp (ConformanceBackends).
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
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

namespace conformance_test {

struct Sample {
  std::string label;
  std::vector<double> values;
  friend bool operator==(const Sample& a, const Sample& b) {
    return a.label == b.label && a.values == b.values;
  }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(label, values);
  }
};

class NoDefault {
 public:
  explicit NoDefault(int value) : value_(value) {}
  int value() const { return value_; }
  template <class Archive>
  void save(Archive& ar) const {
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

}  // namespace conformance_test

PROXYSTORE_TYPE_NAME(conformance_test::Sample, "test.sample");
PROXYSTORE_TYPE_NAME(conformance_test::NoDefault, "test.no_default");

namespace {

using conformance_test::NoDefault;
using conformance_test::Sample;

StoreOptions with_metrics(std::size_t cache_size = 16) {
  StoreOptions options;
  options.cache_size = cache_size;
  options.metrics = true;
  return options;
}

StoreOptions with_cache(std::size_t cache_size) {
  StoreOptions options;
  options.cache_size = cache_size;
  return options;
}

/// A well-formed key (32 hex digits) that no store ever minted.
const Key kNeverStored{"0123456789abcdef0123456789abcdef"};

}  // namespace

TEMPLATE_LIST_TEST_CASE("Store conformance", "[store]", ConformanceBackends) {
  using StoreType = store_type_t<TestType>;
  using Counting = CountingBackend<StoreType>;
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("conformance-") + TestType::type));
  std::shared_ptr<StoreType> store = backend.make(name);
  REQUIRE(store->name() == name.get());

  SECTION("set, get, exists and evict") {
    const Key key = store->set(std::string("value"));
    CHECK_FALSE(key.id.empty());
    CHECK(store->exists(key));
    CHECK(store->template get<std::string>(key) == std::string("value"));

    const Key other = store->set(std::string("value"));
    CHECK(other != key);  // every set mints a new key

    const Sample sample{"sample", {1.0, 2.5}};
    const Key sample_key = store->set(sample);
    CHECK(store->template get<Sample>(sample_key) == sample);

    const std::string binary("\0\x01\xff\0", 4);
    const Key binary_key = store->set(binary);
    CHECK(store->template get<std::string>(binary_key) == binary);
    const Key empty_key = store->set(std::string());
    CHECK(store->template get<std::string>(empty_key) == std::string());
    const std::string big(1 << 20, 'b');
    const Key big_key = store->set(big);
    CHECK(store->template get<std::string>(big_key) == big);
    const std::map<std::string, std::vector<int>> nested{{"a", {1}}, {"b", {2, 3}}};
    const Key nested_key = store->set(nested);
    CHECK(store->template get<std::map<std::string, std::vector<int>>>(nested_key) == nested);

    store->evict(key);
    CHECK_FALSE(store->exists(key));
    CHECK_FALSE(store->template get<std::string>(key).has_value());
    CHECK(store->exists(other));  // only that key went
    store->evict(key);            // evicting again is a no-op
    store->evict(kNeverStored);   // so is evicting what never was
  }

  SECTION("get of a missing key is nullopt and exists is false") {
    CHECK_FALSE(store->exists(kNeverStored));
    CHECK_FALSE(store->template get<std::string>(kNeverStored).has_value());
    CHECK_FALSE(store->template get<Sample>(kNeverStored).has_value());
  }

  SECTION("reading as the wrong type throws SerializationError naming both types") {
    const Key key = store->set(std::vector<double>{1.0});
    CHECK_THROWS_MATCHES(store->template get<std::vector<int>>(key), SerializationError,
                         MessageContains({"vector<f64>", "vector<i32>", key.id, name.get()}));
    CHECK_THROWS_MATCHES(store->template get<std::string>(key), SerializationError,
                         MessageContains({"vector<f64>", "string"}));
    CHECK(store->template get<std::vector<double>>(key) == std::vector<double>{1.0});
  }

  SECTION("set_batch and get_batch") {
    const std::vector<std::string> objects{"zero", "one", "", "three"};
    const std::vector<Key> keys = store->set_batch(objects);
    REQUIRE(keys.size() == objects.size());
    CHECK(std::set<Key>(keys.begin(), keys.end()).size() == keys.size());
    for (const Key& key : keys)
      CHECK(store->exists(key));

    std::vector<Key> asked = keys;
    asked.insert(asked.begin() + 2, kNeverStored);
    const auto got = store->template get_batch<std::string>(asked);
    REQUIRE(got.size() == asked.size());
    CHECK(got[0] == std::string("zero"));
    CHECK(got[1] == std::string("one"));
    CHECK_FALSE(got[2].has_value());
    CHECK(got[3] == std::string());
    CHECK(got[4] == std::string("three"));

    CHECK(store->set_batch(std::vector<int>{}).empty());
    CHECK(store->template get_batch<int>({}).empty());
    CHECK_THROWS_AS(store->template get_batch<int>(keys), SerializationError);
  }

  SECTION("proxy resolves lazily through the store") {
    Proxy<Sample> p = store->proxy(Sample{"proxied", {3.0}});
    CHECK_FALSE(is_resolved(p));
    const auto* factory = get_factory(p).template target<StoreFactory<Sample>>();
    REQUIRE(factory != nullptr);
    CHECK(factory->config() == store->config());
    CHECK_FALSE(factory->evict());
    CHECK(store->exists(factory->key()));
    CHECK(get_store(name.get()) == store);  // proxy() registered the store
    CHECK(p->label == "proxied");
    CHECK(is_resolved(p));
    CHECK(store->exists(factory->key()));  // resolution does not evict by default
  }

  SECTION("proxy_batch") {
    auto proxies = store->proxy_batch(std::vector<std::string>{"a", "b", "c"});
    REQUIRE(proxies.size() == 3);
    std::set<Key> keys;
    for (const auto& p : proxies) {
      CHECK_FALSE(is_resolved(p));
      keys.insert(get_factory(p).template target<StoreFactory<std::string>>()->key());
    }
    CHECK(keys.size() == 3);
    CHECK(proxies[0] == "a");
    CHECK(proxies[1] == "b");
    CHECK(proxies[2] == "c");
  }

  SECTION("proxy_from_key, also for a key that holds nothing") {
    const Key key = store->set(std::string("existing"));
    auto p = store->template proxy_from_key<std::string>(key);
    CHECK(get_factory(p).template target<StoreFactory<std::string>>()->key() == key);
    CHECK(p == "existing");

    auto missing = store->template proxy_from_key<std::string>(kNeverStored);
    CHECK_THROWS_MATCHES(*missing, ProxyResolveMissingKeyError,
                         MessageContains({name.get(), kNeverStored.id, "string"}));
    CHECK_FALSE(is_resolved(missing));
    // Resolving a key as the wrong type names both types.
    auto wrong = store->template proxy_from_key<int>(key);
    CHECK_THROWS_MATCHES(*wrong, SerializationError, MessageContains({"string", "i32"}));
  }

  SECTION("populate_target: the producer's proxy is resolved, serialized copies are small") {
    ProxyOptions options;
    options.populate_target = true;
    const std::string big(1 << 20, 'p');
    auto p = store->proxy(big, options);
    CHECK(is_resolved(p));
    CHECK(p->size() == big.size());
    const std::string bytes = serialize(p);
    CHECK(bytes.size() < 200);  // the factory only ...
    // ... so its size does not depend on the target's.
    CHECK(serialize(store->proxy(std::string("x"), options)).size() == bytes.size());
    auto copy = deserialize<Proxy<std::string>>(bytes);
    CHECK_FALSE(is_resolved(copy));
    CHECK(copy == big);
  }

  SECTION("the evict option removes the object after the first resolution") {
    ProxyOptions options;
    options.evict = true;
    auto p = store->proxy(std::string("once"), options);
    const auto* factory = get_factory(p).template target<StoreFactory<std::string>>();
    REQUIRE(factory != nullptr);
    CHECK(factory->evict());
    const Key key = factory->key();
    const std::string bytes = serialize(p);
    CHECK(store->exists(key));
    CHECK(p == "once");
    CHECK_FALSE(store->exists(key));
    CHECK(p == "once");  // the proxy keeps its target
    auto again = deserialize<Proxy<std::string>>(bytes);
    CHECK_THROWS_AS(*again, ProxyResolveMissingKeyError);

    auto batch = store->proxy_batch(std::vector<int>{1, 2}, options);
    CHECK(batch[1] == 2);
    const Key batch_key = get_factory(batch[1]).template target<StoreFactory<int>>()->key();
    CHECK_FALSE(store->exists(batch_key));
    CHECK(store->exists(get_factory(batch[0]).template target<StoreFactory<int>>()->key()));
  }

  SECTION("serialized proxies resolve in this process through the registry") {
    auto p = store->proxy(std::vector<double>{1, 2, 3});
    const std::string bytes = serialize(p);
    auto q = deserialize<Proxy<std::vector<double>>>(bytes);
    CHECK(q->size() == 3);
    CHECK(q == std::vector<double>{1, 2, 3});
    CHECK_FALSE(is_resolved(p));  // a separate copy: its own resolution
  }

  SECTION("move-only and non-default-constructible objects") {
    auto owned = store->proxy(std::make_unique<int>(41));
    CHECK(**owned == 41);
    const Key owned_key = store->set(std::make_unique<int>(7));
    auto got = store->template get<std::unique_ptr<int>>(owned_key);
    REQUIRE(got.has_value());
    REQUIRE(*got != nullptr);
    CHECK(**got == 7);

    auto built = store->proxy(NoDefault(9));
    CHECK(built->value() == 9);
    const Key built_key = store->set(NoDefault(10));
    CHECK(store->template get<NoDefault>(built_key)->value() == 10);
    CHECK(store->template get<NoDefault>(built_key)->value() == 10);  // cached copy
    auto from_key = store->template proxy_from_key<NoDefault>(built_key);
    CHECK(from_key->value() == 10);
  }

  SECTION("metrics count operations, bytes and time when enabled") {
    const ScopedStoreName metered_name(unique_name(std::string("metered-") + TestType::type));
    auto metered = backend.make(metered_name, with_metrics());
    const std::string text(1000, 'm');
    const std::vector<double> numbers(10, 1.0);
    const Key text_key = metered->set(text);
    const Key numbers_key = metered->set(numbers);
    StoreMetrics metrics = metered->metrics();
    CHECK(metrics.at("set").count == 2);
    CHECK(metrics.at("set").bytes == serialize(text).size() + serialize(numbers).size());
    CHECK(metrics.at("set").total_time.count() > 0);
    CHECK(metrics.at("set").mean_time() == metrics.at("set").total_time / 2);

    CHECK(metered->template get<std::string>(text_key) == text);
    CHECK(metered->template get<std::string>(text_key) == text);  // from the cache
    CHECK_FALSE(metered->template get<std::string>(kNeverStored).has_value());
    metrics = metered->metrics();
    CHECK(metrics.at("get").count == 2);
    CHECK(metrics.at("get").bytes == serialize(text).size());
    CHECK(metrics.at("cache_hit").count == 1);

    CHECK(metered->exists(numbers_key));
    metered->evict(numbers_key);
    const auto keys = metered->set_batch(std::vector<std::string>{"x", "yy"});
    CHECK(metered->template get_batch<std::string>(keys).size() == 2);
    metrics = metered->metrics();
    CHECK(metrics.at("exists").count == 1);
    CHECK(metrics.at("evict").count == 1);
    CHECK(metrics.at("set_batch").count == 1);
    CHECK(metrics.at("set_batch").bytes ==
          serialize(std::string("x")).size() + serialize(std::string("yy")).size());
    CHECK(metrics.at("get_batch").count == 1);
    CHECK(metrics.at("get_batch").bytes == metrics.at("set_batch").bytes);
    CHECK(metrics.at("never-ran").count == 0);
    for (const auto& [operation, totals] : metrics.operations) {
      INFO(operation);
      CHECK(totals.count > 0);
      CHECK(totals.mean_time() == totals.total_time / static_cast<long>(totals.count));
    }

    // Proxies are counted through the same operations.
    auto p = metered->proxy(std::string("counted"));
    CHECK(p == "counted");
    metrics = metered->metrics();
    CHECK(metrics.at("set").count == 3);
    CHECK(metrics.at("get").count == 3);
  }

  SECTION("metrics are empty when disabled") {
    const Key key = store->set(1);
    CHECK(store->template get<int>(key) == 1);
    store->evict(key);
    CHECK(store->metrics().operations.empty());
    CHECK(store->metrics().at("set").count == 0);
  }

  SECTION("the cache serves repeated reads without the backend") {
    const ScopedStoreName counted_name(unique_name(std::string("counted-") + TestType::type));
    auto counting = backend.template make<Counting>(counted_name, with_metrics());
    const Key key = counting->set(std::string("cached"));
    CHECK(counting->gets.load() == 0);  // set does not fill the cache

    CHECK(counting->template get<std::string>(key) == std::string("cached"));
    CHECK(counting->gets.load() == 1);
    auto copy = counting->template get<std::string>(key);
    CHECK(counting->gets.load() == 1);  // a cache hit
    REQUIRE(copy.has_value());
    copy->append("!");  // callers get copies: the cached object is untouched
    CHECK(counting->template get<std::string>(key) == std::string("cached"));
    CHECK(counting->gets.load() == 1);
    CHECK(counting->metrics().at("cache_hit").count == 2);

    // Proxy resolution goes through the same cache.
    auto p = counting->template proxy_from_key<std::string>(key);
    CHECK(p == "cached");
    CHECK(counting->gets.load() == 1);

    // get_batch fetches only what the cache lacks.
    const Key other = counting->set(std::string("other"));
    const auto both = counting->template get_batch<std::string>({key, other});
    CHECK(both[0] == std::string("cached"));
    CHECK(both[1] == std::string("other"));
    CHECK(counting->get_batch_keys.load() == 1);
    const int reads = counting->gets.load();  // (a default batch loops over do_get)
    CHECK(counting->template get<std::string>(other) == std::string("other"));
    CHECK(counting->gets.load() == reads);  // `other` was cached by the batch
  }

  SECTION("a cached key read as the wrong type throws SerializationError") {
    const ScopedStoreName counted_name(unique_name(std::string("counted-") + TestType::type));
    auto counting = backend.template make<Counting>(counted_name);
    const Key key = counting->set(std::string("text"));
    CHECK(counting->template get<std::string>(key) == std::string("text"));
    CHECK_THROWS_MATCHES(counting->template get<std::vector<char>>(key), SerializationError,
                         MessageContains({"string", "vector<char>", key.id}));
    CHECK_THROWS_AS(counting->template get_batch<int>({key}), SerializationError);
    CHECK(counting->template get<std::string>(key) == std::string("text"));
  }

  SECTION("evict drops the key from the cache") {
    const ScopedStoreName counted_name(unique_name(std::string("counted-") + TestType::type));
    auto counting = backend.template make<Counting>(counted_name);
    const Key key = counting->set(std::string("short-lived"));
    CHECK(counting->template get<std::string>(key).has_value());
    counting->evict(key);
    CHECK_FALSE(counting->template get<std::string>(key).has_value());
    CHECK(counting->gets.load() == 2);
    CHECK(counting->evicts.load() == 1);
  }

  SECTION("cache_size 0 disables the cache") {
    const ScopedStoreName counted_name(unique_name(std::string("uncached-") + TestType::type));
    auto counting = backend.template make<Counting>(counted_name, with_cache(0));
    const Key key = counting->set(std::string("uncached"));
    for (int i = 1; i <= 3; ++i) {
      CHECK(counting->template get<std::string>(key) == std::string("uncached"));
      CHECK(counting->gets.load() == i);
    }
  }

  SECTION("the cache keeps the most recently used objects") {
    const ScopedStoreName counted_name(unique_name(std::string("lru-") + TestType::type));
    auto counting = backend.template make<Counting>(counted_name, with_cache(2));
    const Key k1 = counting->set(1);
    const Key k2 = counting->set(2);
    const Key k3 = counting->set(3);
    auto read = [&](const Key& key) {
      return *counting->template get<int>(key);
    };
    CHECK(read(k1) + read(k2) + read(k3) == 6);
    CHECK(counting->gets.load() == 3);  // k1 was dropped for k3
    CHECK(read(k3) == 3);
    CHECK(read(k2) == 2);
    CHECK(counting->gets.load() == 3);
    CHECK(read(k1) == 1);  // drops k3, the least recently used
    CHECK(counting->gets.load() == 4);
    CHECK(read(k2) == 2);
    CHECK(counting->gets.load() == 4);
    CHECK(read(k3) == 3);
    CHECK(counting->gets.load() == 5);
  }

  SECTION("config round-trips and rebuilds an equivalent store through the registry") {
    const StoreConfig config = store->config();
    CHECK(config.type == TestType::type);
    CHECK(config.name == name.get());
    CHECK(config.options.count("password") == 0);
    CHECK(deserialize<StoreConfig>(serialize(config)) == config);

    const Key key = store->set(std::string("persisted"));
    unregister_store(name.get());
    const std::shared_ptr<Store> rebuilt = get_or_create_store(config);
    REQUIRE(rebuilt != nullptr);
    CHECK(rebuilt != store);
    CHECK(rebuilt->name() == name.get());
    CHECK(rebuilt->config() == config);
    CHECK(get_store(name.get()) == rebuilt);
    CHECK(get_or_create_store(config) == rebuilt);  // built once
    if (TestType::shares_data_when_rebuilt) {
      CHECK(rebuilt->get<std::string>(key) == std::string("persisted"));
    } else {
      CHECK_FALSE(rebuilt->get<std::string>(key).has_value());
    }

    // A proxy from the original store now resolves through the rebuilt one
    // (proxy() registers its store only when the name is free).
    const std::string bytes = serialize(store->proxy(std::string("via-rebuilt")));
    CHECK(get_store(name.get()) == rebuilt);
    auto p = deserialize<Proxy<std::string>>(bytes);
    if (TestType::shares_data_when_rebuilt) {
      CHECK(p == "via-rebuilt");
    } else {
      CHECK_THROWS_AS(*p, ProxyResolveMissingKeyError);
    }
  }
}

TEMPLATE_LIST_TEST_CASE("Store conformance: concurrent use from many threads",
                        "[store][concurrency]", ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("concurrent-") + TestType::type));
  auto store = backend.make(name, with_metrics(4));  // a small cache: constant churn
  const Key shared = store->set(std::string("shared"));
  auto shared_proxy = store->template proxy_from_key<std::string>(shared);

  constexpr int kThreads = 8;
  constexpr int kRounds = 25;
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t, proxy = shared_proxy] {
      for (int round = 0; round < kRounds; ++round) {
        const std::string mine = "t" + std::to_string(t) + "r" + std::to_string(round);
        const Key key = store->set(mine);
        if (store->template get<std::string>(key) != mine)
          ++mismatches;
        if (store->template get<std::string>(shared) != std::string("shared"))
          ++mismatches;
        auto p = store->proxy(std::vector<int>{t, round});
        if ((*p)[0] != t || (*p)[1] != round)
          ++mismatches;
        if (*proxy != "shared")
          ++mismatches;
        store->evict(key);
        if (store->exists(key))
          ++mismatches;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(mismatches.load() == 0);
  const StoreMetrics metrics = store->metrics();
  CHECK(metrics.at("set").count == 1 + 2 * kThreads * kRounds);
  CHECK(metrics.at("evict").count == kThreads * kRounds);
}
