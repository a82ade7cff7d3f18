// SPDX-License-Identifier: Apache-2.0
/// \file
/// StoreConfig: everything needed to rebuild an equivalent store elsewhere.
#pragma once

#include <proxystore/detail/compact_codec.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>

#include <map>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

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

  /// @{
  /// Equal when type, name and every option are equal.
  friend bool operator==(const StoreConfig& a, const StoreConfig& b) {
    return a.type == b.type && a.name == b.name && a.options == b.options;
  }
  friend bool operator!=(const StoreConfig& a, const StoreConfig& b) { return !(a == b); }
  /// @}

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

  /// cereal hook: type, name and options (common words coded as one byte
  /// in the wire format).
  template <class Archive>
  void save(Archive& ar) const {
    if constexpr (std::is_same_v<Archive, detail::WireOutputArchive>) {
      detail::save_word(ar, type);
      detail::save_word(ar, name);
      ar.save_varint(options.size());
      for (const auto& [option, value] : options) {
        detail::save_word(ar, option);
        detail::save_word(ar, value);
      }
    } else {
      ar(cereal::make_nvp("type", type), cereal::make_nvp("name", name),
         cereal::make_nvp("options", options));
    }
  }

  /// cereal hook: reads what save() wrote.
  template <class Archive>
  void load(Archive& ar) {
    if constexpr (std::is_same_v<Archive, detail::WireInputArchive>) {
      type = detail::load_word(ar);
      name = detail::load_word(ar);
      options.clear();
      for (auto count = ar.load_length(); count > 0; --count) {
        std::string option = detail::load_word(ar);
        options.insert_or_assign(std::move(option), detail::load_word(ar));
      }
    } else {
      ar(cereal::make_nvp("type", type), cereal::make_nvp("name", name),
         cereal::make_nvp("options", options));
    }
  }
};

template <>
struct TypeName<StoreConfig> {
  static std::string get() { return "proxystore.store_config"; }
};

}  // namespace proxystore
