// SPDX-License-Identifier: Apache-2.0
// The wire payloads of StoreFactory and FutureFactory, compiled once here
// instead of in every translation unit that loads a proxy (cereal's
// machinery for configs and keys is the bulk of a consumer's compile time).
#include <proxystore/config.hpp>
#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/future.hpp>
#include <proxystore/key.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store_factory.hpp>

#include <cereal/cereal.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace proxystore::detail {
namespace {

// The same fields, names and order as StoreFactory<T>::serialize and
// FutureFactory<T>::serialize, so cereal writes the same bytes (and counts
// the same nesting) as it does for those classes.
struct StoreFactoryFields {
  StoreConfig config;
  Key key;
  bool evict = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("config", config), cereal::make_nvp("key", key),
       cereal::make_nvp("evict", evict));
  }
};

struct FutureFactoryFields {
  StoreConfig config;
  Key key;
  std::int64_t timeout_ms = 0;
  bool evict = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("config", config), cereal::make_nvp("key", key),
       cereal::make_nvp("timeout_ms", timeout_ms), cereal::make_nvp("evict", evict));
  }
};

}  // namespace

void load_factory_fields(WireInputArchive& ar, std::string& kind, std::string& signature,
                         std::string& payload) {
  ar(cereal::make_nvp("kind", kind), cereal::make_nvp("signature", signature),
     cereal::make_nvp("payload", payload));
}

FactoryTarget::FactoryTarget() = default;
FactoryTarget::FactoryTarget(StoreConfig config, Key key)
    : config(std::move(config)), key(std::move(key)) {}
FactoryTarget::FactoryTarget(const FactoryTarget& other) = default;
FactoryTarget::FactoryTarget(FactoryTarget&& other) noexcept = default;
FactoryTarget& FactoryTarget::operator=(const FactoryTarget& other) = default;
FactoryTarget& FactoryTarget::operator=(FactoryTarget&& other) noexcept = default;
FactoryTarget::~FactoryTarget() = default;

std::string encode_store_factory(const StoreConfig& config, const Key& key, bool evict) {
  return encode_body(StoreFactoryFields{config, key, evict});
}

void decode_store_factory(std::string_view payload, StoreConfig& config, Key& key, bool& evict) {
  auto fields = decode_body<StoreFactoryFields>(payload);
  config = std::move(fields.config);
  key = std::move(fields.key);
  evict = fields.evict;
}

std::string encode_future_factory(const StoreConfig& config, const Key& key,
                                  std::int64_t timeout_ms, bool evict) {
  return encode_body(FutureFactoryFields{config, key, timeout_ms, evict});
}

void decode_future_factory(std::string_view payload, StoreConfig& config, Key& key,
                           std::int64_t& timeout_ms, bool& evict) {
  auto fields = decode_body<FutureFactoryFields>(payload);
  config = std::move(fields.config);
  key = std::move(fields.key);
  timeout_ms = fields.timeout_ms;
  evict = fields.evict;
}

}  // namespace proxystore::detail
