// SPDX-License-Identifier: Apache-2.0
// StoreConfig: everything needed to rebuild an equivalent store elsewhere.
#pragma once

#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>

#include <map>
#include <ostream>
#include <string>

namespace proxystore {

/// Describes a store well enough that another process can rebuild an
/// equivalent one (see `register_store_type`). It travels inside every
/// proxy, so it never carries secrets: passwords and tokens are found
/// locally by the process that rebuilds the store.
struct StoreConfig {
  /// The store type, e.g. "local", "file" or "redis".
  std::string type;
  /// The store's registry name.
  std::string name;
  /// Type-specific options (e.g. "hostname", "port", "directory").
  std::map<std::string, std::string> options;

  friend bool operator==(const StoreConfig& a, const StoreConfig& b) {
    return a.type == b.type && a.name == b.name && a.options == b.options;
  }
  friend bool operator!=(const StoreConfig& a, const StoreConfig& b) { return !(a == b); }

  /// Prints `type "name" {k=v, ...}`.
  friend std::ostream& operator<<(std::ostream& os, const StoreConfig& config) {
    os << config.type << " \"" << config.name << "\" {";
    const char* separator = "";
    for (const auto& [key, value] : config.options) {
      os << separator << key << '=' << value;
      separator = ", ";
    }
    return os << '}';
  }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("type", type), cereal::make_nvp("name", name),
       cereal::make_nvp("options", options));
  }
};

template <>
struct TypeName<StoreConfig> {
  static std::string get() { return "proxystore.store_config"; }
};

}  // namespace proxystore
