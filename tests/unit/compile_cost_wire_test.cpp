// SPDX-License-Identifier: Apache-2.0
// The library-compiled wire codecs of StoreFactory and FutureFactory
// (store_factory_wire.cpp) write exactly the bytes cereal writes for the
// classes themselves, and read them back as strictly; and fmt/ranges.h,
// included *before* proxystore here (proxy_test.cpp includes it after),
// still formats a proxy of a range as its target, not as a range.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

ps::StoreConfig odd_config() {
  // Literal words (not in the well-known table) and well-known ones mixed.
  return {"redis",
          "wire-codec \xe2\x9c\x93",
          {{"hostname", "example.test"}, {"port", "6379"}, {"x-custom", std::string("a\0b", 3)}}};
}

}  // namespace

TEST_CASE("StoreFactory's wire codec writes cereal's bytes and reads them back",
          "[serialize][factory]") {
  for (const ps::Key& key : {ps::Key{"0123456789abcdef0123456789abcdef"}, ps::Key{"not-hex/key"}}) {
    for (bool evict : {false, true}) {
      using Factory = ps::StoreFactory<std::vector<double>>;
      const Factory factory(odd_config(), key, evict);
      const std::string codec = ps::detail::WireCodec<Factory>::encode(factory);
      CHECK(codec == ps::detail::encode_body(factory));  // cereal's path
      const Factory decoded = ps::detail::WireCodec<Factory>::decode(codec);
      CHECK(decoded.config() == factory.config());
      CHECK(decoded.key() == factory.key());
      CHECK(decoded.evict() == evict);
    }
  }
}

TEST_CASE("FutureFactory's wire codec writes cereal's bytes and reads them back",
          "[serialize][factory][future]") {
  ps::FutureOptions options;
  options.timeout = std::chrono::milliseconds(1234567);
  options.evict = true;
  using Factory = ps::FutureFactory<std::string>;
  const Factory factory(odd_config(), ps::Key{"k"}, options);
  const std::string codec = ps::detail::WireCodec<Factory>::encode(factory);
  CHECK(codec == ps::detail::encode_body(factory));  // cereal's path
  const Factory decoded = ps::detail::WireCodec<Factory>::decode(codec);
  CHECK(decoded.config() == factory.config());
  CHECK(decoded.key() == factory.key());
  CHECK(decoded.timeout() == options.timeout);
  CHECK(ps::detail::encode_body(decoded) == codec);  // the evict flag survived too
}

TEST_CASE("the factory wire codecs refuse truncated and trailing bytes", "[serialize][factory]") {
  using Codec = ps::detail::WireCodec<ps::StoreFactory<int>>;
  const std::string good = Codec::encode(ps::StoreFactory<int>(odd_config(), ps::Key{"k"}, true));
  CHECK_THROWS_AS(Codec::decode(good + "x"), ps::SerializationError);
  for (std::size_t n = 0; n < good.size(); ++n)
    CHECK_THROWS_AS(Codec::decode(std::string_view(good).substr(0, n)), ps::SerializationError);
  using FutureCodec = ps::detail::WireCodec<ps::FutureFactory<int>>;
  CHECK_THROWS_AS(FutureCodec::decode(good), ps::SerializationError);  // no timeout field
}

TEST_CASE("a proxy of a range formats as its target with fmt/ranges.h included first",
          "[proxy][fmt]") {
  using VectorProxy = ps::Proxy<std::vector<int>>;
  static_assert(fmt::range_format_kind<VectorProxy, char>::value == fmt::range_format::disabled);
  static_assert(fmt::is_formattable<VectorProxy>::value);
  const VectorProxy proxy{
      ps::Factory<std::vector<int>>(ps::SimpleFactory<std::vector<int>>({1, 2, 3}))};
  CHECK(fmt::format("{}", proxy) == "[1, 2, 3]");
}
