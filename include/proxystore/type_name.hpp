// SPDX-License-Identifier: Apache-2.0
/// \file
/// type_name<T>(): a portable name for T, written into every stored object.
#pragma once

#include <array>
#include <bitset>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <forward_list>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace proxystore {

namespace detail {
/// Demangles a `typeid(...).name()`; returns it unchanged if that fails.
std::string demangle(const char* mangled);

/// The type names of the first `Shown` of Ts, comma separated; the others
/// (allocators, comparators) are never named, so never instantiated.
template <std::size_t Shown, class... Ts>
std::string join_type_names();
}  // namespace detail

namespace detail {
/// False for every `T`, but only once `T` is known: lets a static_assert
/// fire when a template is instantiated, not when it is parsed.
template <class T>
inline constexpr bool dependent_false_v = false;
}  // namespace detail

/// Customisation point behind `type_name<T>()`. Specialise it with
/// `PROXYSTORE_TYPE_NAME(T, "name")`; the primary template falls back to the
/// demangled typeid name prefixed `cxx:`, which is stable only within one
/// toolchain. Define `PROXYSTORE_REQUIRE_TYPE_NAMES` (before any proxystore
/// header, e.g. with `-DPROXYSTORE_REQUIRE_TYPE_NAMES`) to make that
/// fallback a compile error, so no type crosses processes unnamed.
template <class T, class Enable = void>
struct TypeName {
  /// The name of `T` (called once per type; `type_name<T>()` caches it).
  static std::string get() {
#ifdef PROXYSTORE_REQUIRE_TYPE_NAMES
    static_assert(detail::dependent_false_v<T>,
                  "proxystore: this type has no portable name and PROXYSTORE_REQUIRE_TYPE_NAMES "
                  "is defined. Name it at global scope, once, in a header producer and consumer "
                  "both include: PROXYSTORE_TYPE_NAME(my::Type, \"my.type\"); (the notes "
                  "around this error name the type: T = ...). See docs/serialization.md "
                  "(\"Type names\").");
#endif
    return "cxx:" + detail::demangle(typeid(T).name());
  }
};

/// The portable name of `T` (cv-qualifiers ignored): arithmetic types by
/// width (`i32`, `u8`, `f64`; `long` and `long long` are both `i64` on
/// LP64), `string`, standard containers spelled recursively
/// (`vector<f64>`, `map<string,i64>`), user types as named with
/// `PROXYSTORE_TYPE_NAME`. Identical across compilers, standard libraries
/// and processes for everything but the `cxx:` fallback.
template <class T>
const std::string& type_name() {
  static const std::string name = TypeName<std::remove_cv_t<T>>::get();
  return name;
}

// --- arithmetic -------------------------------------------------------------

template <class T>
struct TypeName<T, std::enable_if_t<std::is_arithmetic_v<T>>> {
  static std::string get() {
    if constexpr (std::is_same_v<T, bool>) {
      return "bool";
    } else if constexpr (std::is_same_v<T, char>) {
      return "char";  // distinct from i8/u8: its signedness is the platform's
    } else if constexpr (std::is_same_v<T, wchar_t>) {
      return "wchar";
    } else if constexpr (std::is_same_v<T, char16_t>) {
      return "char16";
    } else if constexpr (std::is_same_v<T, char32_t>) {
      return "char32";
    } else if constexpr (std::is_integral_v<T>) {
      return (std::is_signed_v<T> ? "i" : "u") + std::to_string(8 * sizeof(T));
    } else if constexpr (std::is_same_v<T, long double>) {
      return "ldouble";  // 80, 64 or 128 bits depending on the ABI
    } else {
      return "f" + std::to_string(8 * sizeof(T));
    }
  }
};

template <>
struct TypeName<std::byte> {
  static std::string get() { return "byte"; }
};

template <class Traits, class Alloc>
struct TypeName<std::basic_string<char, Traits, Alloc>> {
  static std::string get() { return "string"; }
};

// --- standard templates, spelled recursively -------------------------------

namespace detail {
/// The spelling of a standard class template and how many of its leading
/// arguments the name shows (allocators, comparators and hashers are left
/// out: they do not change what is stored).
template <template <class...> class Template>
struct TemplateSpelling {};

#define PROXYSTORE_DETAIL_SPELL(TEMPLATE, NAME, SHOWN) \
  template <>                                          \
  struct TemplateSpelling<TEMPLATE> {                  \
    static constexpr const char* name = NAME;          \
    static constexpr std::size_t shown = SHOWN;        \
  }
PROXYSTORE_DETAIL_SPELL(std::vector, "vector", 1);
PROXYSTORE_DETAIL_SPELL(std::deque, "deque", 1);
PROXYSTORE_DETAIL_SPELL(std::list, "list", 1);
PROXYSTORE_DETAIL_SPELL(std::forward_list, "forward_list", 1);
PROXYSTORE_DETAIL_SPELL(std::set, "set", 1);
PROXYSTORE_DETAIL_SPELL(std::multiset, "multiset", 1);
PROXYSTORE_DETAIL_SPELL(std::unordered_set, "unordered_set", 1);
PROXYSTORE_DETAIL_SPELL(std::unordered_multiset, "unordered_multiset", 1);
PROXYSTORE_DETAIL_SPELL(std::map, "map", 2);
PROXYSTORE_DETAIL_SPELL(std::multimap, "multimap", 2);
PROXYSTORE_DETAIL_SPELL(std::unordered_map, "unordered_map", 2);
PROXYSTORE_DETAIL_SPELL(std::unordered_multimap, "unordered_multimap", 2);
PROXYSTORE_DETAIL_SPELL(std::pair, "pair", 2);
PROXYSTORE_DETAIL_SPELL(std::tuple, "tuple", static_cast<std::size_t>(-1));
PROXYSTORE_DETAIL_SPELL(std::variant, "variant", static_cast<std::size_t>(-1));
PROXYSTORE_DETAIL_SPELL(std::optional, "optional", 1);
PROXYSTORE_DETAIL_SPELL(std::complex, "complex", 1);
PROXYSTORE_DETAIL_SPELL(std::shared_ptr, "shared_ptr", 1);
PROXYSTORE_DETAIL_SPELL(std::unique_ptr, "unique_ptr", 1);
#undef PROXYSTORE_DETAIL_SPELL
}  // namespace detail

template <template <class...> class Template, class... Args>
struct TypeName<Template<Args...>,
                std::void_t<decltype(detail::TemplateSpelling<Template>::name)>> {
  static std::string get() {
    using Spelling = detail::TemplateSpelling<Template>;
    return std::string(Spelling::name) + "<" + detail::join_type_names<Spelling::shown, Args...>() +
           ">";
  }
};

template <class T, std::size_t N>
struct TypeName<std::array<T, N>> {
  static std::string get() { return "array<" + type_name<T>() + "," + std::to_string(N) + ">"; }
};

template <std::size_t N>
struct TypeName<std::bitset<N>> {
  static std::string get() { return "bitset<" + std::to_string(N) + ">"; }
};

template <>
struct TypeName<std::monostate> {
  static std::string get() { return "monostate"; }
};

namespace detail {
template <class TypeList, std::size_t... I>
std::string join_indexed_type_names(std::index_sequence<I...> /*indices*/) {
  std::string joined;
  ((joined += (I == 0 ? "" : ","), joined += type_name<std::tuple_element_t<I, TypeList>>()), ...);
  return joined;
}

template <std::size_t Shown, class... Ts>
std::string join_type_names() {
  constexpr std::size_t count = Shown < sizeof...(Ts) ? Shown : sizeof...(Ts);
  return join_indexed_type_names<std::tuple<Ts...>>(std::make_index_sequence<count>{});
}
}  // namespace detail

}  // namespace proxystore

/// Names a user type portably: `PROXYSTORE_TYPE_NAME(my::Mesh, "my.mesh");`
/// Use it at global scope, once per type, before the type is stored. Both
/// producer and consumer must see the same name.
#define PROXYSTORE_TYPE_NAME(TYPE, NAME)                   \
  template <>                                              \
  struct proxystore::TypeName<TYPE> {                      \
    static std::string get() { return std::string(NAME); } \
  }
