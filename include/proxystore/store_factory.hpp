// SPDX-License-Identifier: Apache-2.0
/// \file
/// StoreFactory<T>: resolves a proxy by reading its key from a store.
#pragma once

#include <proxystore/config.hpp>
#include <proxystore/detail/factory_model.hpp>
#include <proxystore/detail/factory_target.hpp>
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/key.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/store.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace proxystore {

namespace detail {
template <class F>
struct WireCodec;

/// StoreFactory<T>'s resolution without the T: reads the object under
/// `key` from the store `config` names (created from it if needed) into
/// `*out` (ObjectType), then evicts it if `evict`. Throws
/// ProxyResolveMissingKeyError when there is none; a connection failure
/// names the proxy's type and key too. (store.cpp)
void resolve_store_object(const StoreConfig& config, const Key& key, bool evict,
                          const ObjectType& type, void* out);
}  // namespace detail

/// The factory behind every store proxy: a store config, a key and
/// options. Serializable (kind "store"). On call it finds the store by
/// name in the registry — or rebuilds it from the config and registers it
/// when this process has none — and reads the key as a `T`.
template <class T>
class StoreFactory {
 public:
  /// The wire kind of store factories.
  static constexpr std::string_view kind = "store";

  /// An empty factory (for deserialization).
  StoreFactory() = default;
  /// Reads `key` from the store described by `config`; with `evict`, removes
  /// the object after the first successful read.
  StoreFactory(StoreConfig config, Key key, bool evict = false)
      : target_(std::move(config), std::move(key)), evict_(evict) {}

  /// @throws ProxyResolveMissingKeyError if the key holds no object.
  /// @throws SerializationError if it holds another type.
  /// @throws StoreNotFoundError / ConnectionError if the store cannot be had.
  T operator()() const {
    // The store lookup, the read and every error are compiled once, in
    // the library (detail::resolve_store_object); only decoding is per T.
    std::optional<T> object;
    detail::resolve_store_object(target_.config, target_.key, evict_,
                                 detail::ObjectTypeOf<T>::value, &object);
    return std::move(*object);
  }

  /// The config of the store the object lives in.
  const StoreConfig& config() const noexcept { return target_.config; }
  /// The object's key in that store.
  const Key& key() const noexcept { return target_.key; }
  /// Whether the object is evicted after its first successful resolution.
  bool evict() const noexcept { return evict_; }

  /// cereal hook: config, key and evict flag.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("config", target_.config), cereal::make_nvp("key", target_.key),
       cereal::make_nvp("evict", evict_));
  }

 private:
  friend struct detail::WireCodec<StoreFactory>;
  StoreFactory(detail::FactoryTarget target, bool evict)
      : target_(std::move(target)), evict_(evict) {}

  detail::FactoryTarget target_;
  bool evict_ = false;
};

namespace detail {

/// The wire payload of a StoreFactory: its config, key and evict flag,
/// written as cereal writes StoreFactory::serialize with the wire archive
/// (same bytes), but compiled once, in the library (store_factory_wire.cpp).
std::string encode_store_factory(const StoreConfig& config, const Key& key, bool evict);
/// Reads what encode_store_factory wrote; every byte must be consumed.
/// @throws SerializationError on malformed input.
void decode_store_factory(std::string_view payload, StoreConfig& config, Key& key, bool& evict);

template <class T>
struct IsSerializableFactory<StoreFactory<T>> : std::true_type {};

template <class T>
struct WireCodec<StoreFactory<T>> {
  static std::string encode(const StoreFactory<T>& factory) {
    return encode_store_factory(factory.config(), factory.key(), factory.evict());
  }
  static StoreFactory<T> decode(std::string_view payload) {
    FactoryTarget target;
    bool evict = false;
    decode_store_factory(payload, target.config, target.key, evict);
    return StoreFactory<T>(std::move(target), evict);
  }
};

}  // namespace detail

}  // namespace proxystore
