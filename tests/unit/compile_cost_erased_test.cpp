// SPDX-License-Identifier: Apache-2.0
// What the lighter consumer headers (issue 16, item 3) must keep: with
// <proxystore/consumer.hpp> alone — no cereal/types/memory.hpp, no
// <thread> — a load_and_construct type still round-trips (serialize.hpp's
// own wrapper for cereal), a loaded SimpleFactory resolves and
// re-serializes to the bytes it arrived as, and the type-erased
// Store::get keeps its cache and its messages. (This file includes no
// other proxystore header on purpose.)
#include <proxystore/consumer.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#ifdef CEREAL_TYPES_SHARED_PTR_HPP_
#error "<proxystore/consumer.hpp> must not include <cereal/types/memory.hpp>"
#endif
#if defined(__GLIBCXX__) && defined(_GLIBCXX_THREAD)
#error "<proxystore/consumer.hpp> must not include <thread>"
#endif

namespace {

// Not default-constructible: cereal builds it through load_and_construct.
struct Reading {
  explicit Reading(int sensor_id, double value) : sensor(sensor_id), value(value) {}
  int sensor;
  double value;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(sensor, value);
  }
  template <class Archive>
  static void load_and_construct(Archive& ar, cereal::construct<Reading>& construct) {
    int sensor = 0;
    double value = 0;
    ar(sensor, value);
    construct(sensor, value);
  }
};

}  // namespace

PROXYSTORE_TYPE_NAME(Reading, "test.compile_cost.reading");

namespace ps = proxystore;

TEST_CASE("serialize.hpp without cereal's memory.hpp still loads load_and_construct types",
          "[compile_cost][serialize]") {
  const std::string bytes = ps::serialize(Reading(7, 2.5));
  const Reading back = ps::deserialize<Reading>(bytes);
  CHECK(back.sensor == 7);
  CHECK(back.value == 2.5);
  // A truncated body still fails as a SerializationError naming the type.
  CHECK_THROWS_WITH(ps::deserialize<Reading>(bytes.substr(0, bytes.size() - 1)),
                    Catch::Matchers::Contains("test.compile_cost.reading"));
}

TEST_CASE("a loaded simple factory resolves and re-serializes to the bytes it arrived as",
          "[compile_cost][factory]") {
  const std::vector<double> values{1.0, 2.0, 4.0};
  const std::string wire = ps::serialize(ps::Proxy<std::vector<double>>(
      ps::Factory<std::vector<double>>(ps::SimpleFactory<std::vector<double>>(values))));
  auto proxy = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);
  CHECK(ps::serialize(proxy) == wire);  // before resolution
  const auto* simple = ps::get_factory(proxy).target<ps::SimpleFactory<std::vector<double>>>();
  REQUIRE(simple != nullptr);
  CHECK(simple->value() == values);
  const std::vector<double>& resolved = proxy;
  CHECK(resolved == values);
  CHECK(ps::serialize(proxy) == wire);  // after resolution
  // A copy of the factory keeps both the value and the payload.
  ps::Factory<std::vector<double>> copy = ps::get_factory(proxy);
  CHECK(copy() == values);
  CHECK(ps::serialize(ps::Proxy<std::vector<double>>(copy)) == wire);

  // Byte-like types keep their own (cereal string) payload.
  const std::string text = "payload bytes";
  const std::string text_wire = ps::serialize(
      ps::Proxy<std::string>(ps::Factory<std::string>(ps::SimpleFactory<std::string>(text))));
  auto text_proxy = ps::deserialize<ps::Proxy<std::string>>(text_wire);
  CHECK(static_cast<const std::string&>(text_proxy) == text);
  CHECK(ps::serialize(text_proxy) == text_wire);
}

TEST_CASE("the type-erased Store::get keeps its cache, its streamed reads and its messages",
          "[compile_cost][store]") {
  const ps::StoreConfig config{"local", "compile-cost-erased", {}};
  std::shared_ptr<ps::Store> store = ps::get_or_create_store(config);
  // Large enough to take the streamed raw-body path where a backend has one.
  const std::vector<double> big(std::size_t{1} << 16U, 0.25);
  const ps::Key big_key = store->set(big);
  const ps::Key map_key = store->set(std::map<std::string, int>{{"a", 1}});

  CHECK(store->get<std::vector<double>>(big_key) == big);
  CHECK(store->get<std::map<std::string, int>>(map_key)->at("a") == 1);
  CHECK(store->get<std::map<std::string, int>>(map_key)->at("a") == 1);  // cached now
  CHECK_FALSE(store->get<std::vector<double>>(ps::Key{"no-such-key"}).has_value());

  // The wrong type, from the cache and from the backend: both name the
  // store, the key and the two types.
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      (void)store->get<std::vector<double>>(map_key);
      FAIL("reading a map as a vector must throw");
    } catch (const ps::SerializationError& e) {
      const std::string message = e.what();
      CHECK_THAT(message, Catch::Matchers::Contains("compile-cost-erased"));
      CHECK_THAT(message, Catch::Matchers::Contains(map_key.id));
      CHECK_THAT(message, Catch::Matchers::Contains("vector"));
      CHECK_THAT(message, Catch::Matchers::Contains("map"));
    }
  }

  // A proxy resolves through StoreFactory's erased path, evicting if asked.
  ps::ProxyOptions evict;
  evict.evict = true;
  auto proxy =
      ps::deserialize<ps::Proxy<Reading>>(ps::serialize(store->proxy(Reading(3, 9.5), evict)));
  CHECK(proxy->sensor == 3);
  CHECK(proxy->value == 9.5);
  const auto* factory = ps::get_factory(proxy).target<ps::StoreFactory<Reading>>();
  REQUIRE(factory != nullptr);
  CHECK_FALSE(store->exists(factory->key()));

  // A missing key names the proxy's type and key.
  auto missing = ps::deserialize<ps::Proxy<Reading>>(ps::serialize(ps::Proxy<Reading>(
      ps::Factory<Reading>(ps::StoreFactory<Reading>(config, ps::Key{"gone"})))));
  CHECK_THROWS_AS(missing->sensor, ps::ProxyResolveMissingKeyError);
  ps::unregister_store(config.name);
}
