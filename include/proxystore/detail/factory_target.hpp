// SPDX-License-Identifier: Apache-2.0
// The store and key a StoreFactory or FutureFactory points at.
#pragma once

#include <proxystore/config.hpp>
#include <proxystore/key.hpp>

namespace proxystore::detail {

/// What a StoreFactory or FutureFactory points at: a store's config and a
/// key. Its copies, moves and destruction (a config is a map of strings)
/// are compiled once, in the library, not inlined into the factories of
/// every `T` (store_factory_wire.cpp).
struct FactoryTarget {
  /// Empty (for deserialization).
  FactoryTarget();
  /// `key` in the store `config` describes.
  FactoryTarget(StoreConfig config, Key key);
  /// @{
  /// Copies and moves, as the members'.
  FactoryTarget(const FactoryTarget& other);
  FactoryTarget(FactoryTarget&& other) noexcept;
  FactoryTarget& operator=(const FactoryTarget& other);
  FactoryTarget& operator=(FactoryTarget&& other) noexcept;
  /// @}
  ~FactoryTarget();

  /// The store's config.
  StoreConfig config;  // NOLINT(misc-non-private-member-variables-in-classes)
  /// The object's key in that store.
  Key key;  // NOLINT(misc-non-private-member-variables-in-classes)
};

}  // namespace proxystore::detail
