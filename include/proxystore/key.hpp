// SPDX-License-Identifier: Apache-2.0
/// \file
/// Key: the name of one object inside a store.
#pragma once

#include <proxystore/detail/compact_codec.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>
#include <cereal/types/string.hpp>

#include <functional>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>

namespace proxystore {

/// Identifies one object inside one store. Keys are opaque to users; a
/// backend mints them in `do_new_key()` (by default a random 128-bit hex id).
struct Key {
  /// The key's text: what the backend stores the object under.
  std::string id;

  /// @{
  /// Keys compare (and order) as their ids.
  friend bool operator==(const Key& a, const Key& b) { return a.id == b.id; }
  friend bool operator!=(const Key& a, const Key& b) { return a.id != b.id; }
  friend bool operator<(const Key& a, const Key& b) { return a.id < b.id; }
  friend bool operator>(const Key& a, const Key& b) { return b.id < a.id; }
  friend bool operator<=(const Key& a, const Key& b) { return !(b.id < a.id); }
  friend bool operator>=(const Key& a, const Key& b) { return !(a.id < b.id); }
  /// @}

  /// Prints the id.
  friend std::ostream& operator<<(std::ostream& os, const Key& key) { return os << key.id; }

  /// cereal hook: the id (packed into 16 bytes in the wire format when it is
  /// 32 hex digits).
  template <class Archive>
  void save(Archive& ar) const {
    if constexpr (std::is_same_v<Archive, detail::WireOutputArchive>) {
      detail::save_key_id(ar, id);
    } else {
      ar(cereal::make_nvp("id", id));
    }
  }

  /// cereal hook: reads what save() wrote.
  template <class Archive>
  void load(Archive& ar) {
    if constexpr (std::is_same_v<Archive, detail::WireInputArchive>) {
      id = detail::load_key_id(ar);
    } else {
      ar(cereal::make_nvp("id", id));
    }
  }
};

/// A fresh random key: 128 bits from the kernel's CSPRNG as 32 hex digits.
/// Safe across fork() (no user-space generator state is shared).
Key random_key();

template <>
struct TypeName<Key> {
  static std::string get() { return "proxystore.key"; }
};

}  // namespace proxystore

/// @cond SPECIALISATIONS
// std::hash and fmt::formatter for Key (described on Key). Hidden from
// Doxygen, which cannot place specialisations in namespaces it does not see.
template <>
struct std::hash<proxystore::Key> {
  std::size_t operator()(const proxystore::Key& key) const noexcept {
    return std::hash<std::string>{}(key.id);
  }
};

// Formats a key as its id.
template <>
struct fmt::formatter<proxystore::Key> : fmt::formatter<fmt::string_view> {
  template <class FormatContext>
  auto format(const proxystore::Key& key, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(key.id), ctx);
  }
};
/// @endcond
