// SPDX-License-Identifier: Apache-2.0
/// \file
/// Proxy<T>: a small, serializable reference that resolves itself on first use.
#pragma once

// Rationale
// ---------
// A Proxy<T> stands in for a T that lives in a store. It holds a factory;
// the first access (->, *, conversion, extract, resolve) calls the factory
// and keeps the result. Choices, in the shape of folly/Lazy.h:
//
// * Implicit conversion to T& / const T&. Consumer code takes `const T&`
//   and never learns that a proxy was involved: that is the point of a
//   transparent proxy. Comparisons, [], range-for, hashing, streaming and
//   fmt forward to T, and exist only when T supports them, so a proxy never
//   makes an overload set ambiguous.
// * Copies share one resolution. A proxy is a handle to shared state (a
//   factory, a target slot, a mutex): copying is a reference-count bump,
//   the factory runs at most once across all copies, and a change made
//   through one copy is seen by all. It is never written back to the store,
//   and a serialized copy carries only the factory, never the target.
// * Thread safety. Resolution is guarded by a per-proxy mutex, so 16
//   threads touching one unresolved proxy make one factory call; once
//   resolved, an access is an acquire load and a dereference. Concurrent
//   *mutation* of the target through copies is the user's to synchronise,
//   exactly as for a shared T.
// * Retry after failure. A factory that throws leaves the proxy unresolved;
//   the exception reaches the access that triggered it and the next access
//   tries again (a store may come back, a key may appear).
//
// folly/ConcurrentLazy.h makes the other trade-off (a lock-free once-flag
// and no retry); we keep the mutex because the factory is a network round
// trip — the lock is never the cost — and retry is what callers of a
// remote store need.

#include <proxystore/detail/proxy_state.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/factory.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>

#include <cstddef>
#include <functional>
#include <iterator>
#include <memory>
#include <ostream>
#include <type_traits>
#include <utility>

namespace proxystore {

namespace detail {
struct ProxyAccess;

template <class T>
struct IsProxy : std::false_type {};
template <class T>
struct IsProxy<Proxy<T>> : std::true_type {};
template <class T>
inline constexpr bool is_proxy_v = IsProxy<std::remove_cv_t<std::remove_reference_t<T>>>::value;
}  // namespace detail

/// A lazy, shareable, serializable reference to a `T` produced by a
/// factory. Cheap to copy; copies share one resolution and one target.
/// A default-constructed (or moved-from) proxy is empty: using it throws
/// Error; serializing it round-trips as empty.
template <class T>
class Proxy {
  static_assert(!std::is_reference_v<T>, "proxystore::Proxy<T>: T must not be a reference");
  static_assert(!std::is_void_v<T>, "proxystore::Proxy<T>: T must not be void");
  static_assert(!std::is_const_v<T>,
                "proxystore::Proxy<T>: T must not be const; a const Proxy<T> gives const access");

 public:
  /// The target type.
  using element_type = T;

  /// An empty proxy (so a struct holding one can be deserialized).
  Proxy() noexcept = default;

  /// A lazy proxy that will call `factory` on first use.
  explicit Proxy(Factory<T> factory)
      : state_(std::make_shared<detail::ProxyState<T>>(std::move(factory))) {}

  /// @{
  /// The target, resolving it first if needed (const access on a const proxy).
  /// @throws Error on an empty proxy; whatever the factory throws.
  T* operator->() { return &target(); }
  const T* operator->() const { return &target(); }
  T& operator*() { return target(); }
  const T& operator*() const { return target(); }
  operator T&() { return target(); }  // NOLINT(google-explicit-constructor): transparency
  operator const T&() const { return target(); }  // NOLINT(google-explicit-constructor)
  /// @}

  /// @{
  /// `p[i]`, when `T` has operator[].
  template <class I>
  auto operator[](I&& index) -> decltype(std::declval<T&>()[std::forward<I>(index)]) {
    return target()[std::forward<I>(index)];
  }
  template <class I>
  auto operator[](I&& index) const -> decltype(std::declval<const T&>()[std::forward<I>(index)]) {
    return target()[std::forward<I>(index)];
  }
  /// @}

  /// @{
  /// Range-for over the target, when `T` is a range.
  template <class U = T>
  auto begin() -> decltype(std::begin(std::declval<U&>())) {
    return std::begin(target());
  }
  template <class U = T>
  auto end() -> decltype(std::end(std::declval<U&>())) {
    return std::end(target());
  }
  template <class U = T>
  auto begin() const -> decltype(std::begin(std::declval<const U&>())) {
    return std::begin(target());
  }
  template <class U = T>
  auto end() const -> decltype(std::end(std::declval<const U&>())) {
    return std::end(target());
  }
  /// @}

  /// Writes the factory only — never the target.
  template <class Archive>
  void save(Archive& ar) const {
    ar(cereal::make_nvp("factory", state_ ? state_->factory() : Factory<T>()));
  }

  /// Reads a factory: the proxy becomes a new, unresolved proxy (or an
  /// empty one, for an empty factory).
  template <class Archive>
  void load(Archive& ar) {
    Factory<T> factory;
    ar(cereal::make_nvp("factory", factory));
    state_ = factory ? std::make_shared<detail::ProxyState<T>>(std::move(factory)) : nullptr;
  }

 private:
  friend struct detail::ProxyAccess;

  explicit Proxy(std::shared_ptr<detail::ProxyState<T>> state) noexcept
      : state_(std::move(state)) {}

  detail::ProxyState<T>& state() const {
    if (!state_)
      throw_empty();
    return *state_;
  }

  [[noreturn]] PROXYSTORE_DETAIL_COLD static void throw_empty() {
    throw Error(
        fmt::format("empty Proxy<{}>: it has no factory (default-constructed or "
                    "moved-from)",
                    type_name<T>()));
  }

  T& target() const { return state().get(); }

  std::shared_ptr<detail::ProxyState<T>> state_;
};

namespace detail {
struct ProxyAccess {
  template <class T>
  static ProxyState<T>& state(const Proxy<T>& proxy) {
    return proxy.state();
  }
  template <class T>
  static bool has_state(const Proxy<T>& proxy) noexcept {
    return proxy.state_ != nullptr;
  }
  template <class T>
  static Proxy<T> make_resolved(Factory<T> factory, T&& target) {
    return Proxy<T>(std::make_shared<ProxyState<T>>(std::move(factory), std::forward<T>(target)));
  }
};

/// A proxy that already holds `target` (ProxyOptions::populate_target):
/// the producer gets its object back without a fetch; serialized copies
/// still carry only the factory.
template <class T>
Proxy<T> make_resolved_proxy(Factory<T> factory, T&& target) {
  return ProxyAccess::make_resolved(std::move(factory), std::forward<T>(target));
}
}  // namespace detail

/// True once the proxy holds its target (false for an empty proxy).
template <class T>
bool is_resolved(const Proxy<T>& proxy) noexcept {
  return detail::ProxyAccess::has_state(proxy) && detail::ProxyAccess::state(proxy).resolved();
}

/// Resolves the proxy now (a no-op if it already is).
/// @throws Error on an empty proxy; whatever the factory throws.
template <class T>
void resolve(const Proxy<T>& proxy) {
  detail::ProxyAccess::state(proxy).get();
}

/// Starts resolving on a background thread and returns at once. An access
/// meanwhile waits for it; if it failed, that access rethrows its error
/// once and the next access retries.
template <class T>
void resolve_async(const Proxy<T>& proxy) {
  detail::ProxyAccess::state(proxy).resolve_async();
}

/// The target, resolving it first if needed.
template <class T>
T& extract(Proxy<T>& proxy) {
  return detail::ProxyAccess::state(proxy).get();
}
/// The target of a const proxy (const access only), resolving it first if
/// needed.
template <class T>
const T& extract(const Proxy<T>& proxy) {
  return detail::ProxyAccess::state(proxy).get();
}

/// The factory the proxy resolves with.
/// @throws Error on an empty proxy.
template <class T>
const Factory<T>& get_factory(const Proxy<T>& proxy) {
  return detail::ProxyAccess::state(proxy).factory();
}

// --- comparisons: valid exactly when `const T& op u` is ---------------------

#define PROXYSTORE_DETAIL_PROXY_COMPARISON(OP)                                   \
  template <class T, class U, std::enable_if_t<!detail::is_proxy_v<U>, int> = 0> \
  auto operator OP(const Proxy<T>& proxy, const U& other)                        \
      ->decltype(std::declval<const T&>() OP other) {                            \
    return extract(proxy) OP other;                                              \
  }                                                                              \
  template <class U, class T, std::enable_if_t<!detail::is_proxy_v<U>, int> = 0> \
  auto operator OP(const U& other, const Proxy<T>& proxy)                        \
      ->decltype(other OP std::declval<const T&>()) {                            \
    return other OP extract(proxy);                                              \
  }                                                                              \
  template <class T, class U>                                                    \
  auto operator OP(const Proxy<T>& proxy, const Proxy<U>& other)                 \
      ->decltype(std::declval<const T&>() OP std::declval<const U&>()) {         \
    return extract(proxy) OP extract(other);                                     \
  }

PROXYSTORE_DETAIL_PROXY_COMPARISON(==)
PROXYSTORE_DETAIL_PROXY_COMPARISON(!=)
PROXYSTORE_DETAIL_PROXY_COMPARISON(<)
PROXYSTORE_DETAIL_PROXY_COMPARISON(<=)
PROXYSTORE_DETAIL_PROXY_COMPARISON(>)
PROXYSTORE_DETAIL_PROXY_COMPARISON(>=)
#undef PROXYSTORE_DETAIL_PROXY_COMPARISON

/// Streams the target, when `T` is streamable.
template <class T>
auto operator<<(std::ostream& os, const Proxy<T>& proxy)
    -> decltype(os << std::declval<const T&>()) {
  return os << extract(proxy);
}

template <class T>
struct TypeName<Proxy<T>> {
  static std::string get() { return "proxy<" + type_name<T>() + ">"; }
};

namespace detail {
/// std::hash<Proxy<T>> is enabled exactly when std::hash<T> is.
template <class T, class = void>
struct ProxyHash {
  ProxyHash() = delete;
  ProxyHash(const ProxyHash&) = delete;
  ProxyHash& operator=(const ProxyHash&) = delete;
  ~ProxyHash() = delete;
};
template <class T>
struct ProxyHash<T, std::enable_if_t<std::is_default_constructible_v<std::hash<T>>>> {
  std::size_t operator()(const Proxy<T>& proxy) const { return std::hash<T>{}(extract(proxy)); }
};
}  // namespace detail

}  // namespace proxystore

/// @cond SPECIALISATIONS
// std::hash and fmt support for Proxy (described on Proxy). Hidden from
// Doxygen, which cannot place specialisations in namespaces it does not see.
template <class T>
struct std::hash<proxystore::Proxy<T>> : proxystore::detail::ProxyHash<T> {};

// A proxy formats as its target, when the target is formattable — and
// never as a range, even when `T` is one (fmt/ranges.h would otherwise see
// its begin()/end()). fmt/ranges.h is not included (a consumer that never
// formats a range should not compile it): its trait and enum are declared
// here, which is valid before or after the header, and the enumerator is
// named only when the trait is instantiated — by fmt/ranges.h itself.
FMT_BEGIN_NAMESPACE
enum class range_format;  // NOLINT(readability-identifier-naming): fmt's own name
template <typename T, typename Char, typename Enable>
struct range_format_kind;
FMT_END_NAMESPACE

namespace proxystore::detail {
template <class Format, class T>
inline constexpr Format range_format_disabled = Format::disabled;
}  // namespace proxystore::detail

template <class T, class Char>
struct fmt::range_format_kind<proxystore::Proxy<T>, Char, void>
    : std::integral_constant<fmt::range_format,
                             proxystore::detail::range_format_disabled<fmt::range_format, T>> {};

template <class T, class Char>
struct fmt::formatter<proxystore::Proxy<T>, Char,
                      std::enable_if_t<fmt::is_formattable<T, Char>::value>> {
  template <class ParseContext>
  constexpr auto parse(ParseContext& ctx) -> decltype(ctx.begin()) {
    return target_formatter_.parse(ctx);
  }
  template <class FormatContext>
  auto format(const proxystore::Proxy<T>& proxy, FormatContext& ctx) const -> decltype(ctx.out()) {
    return target_formatter_.format(proxystore::extract(proxy), ctx);
  }

 private:
  mutable fmt::formatter<T, Char> target_formatter_;
};
/// @endcond
