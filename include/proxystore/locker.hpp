// SPDX-License-Identifier: Apache-2.0
/// \file
/// ProxyLocker<T>: a proxy that code merely forwarding it cannot resolve.
#pragma once

#include <proxystore/proxy.hpp>
#include <proxystore/type_name.hpp>

#include <string>
#include <utility>

namespace proxystore {

/// Wraps a Proxy<T> so that code which only passes it along cannot
/// resolve it by accident: a locker has no access operators, no
/// conversion to T and no comparisons; only `unlock()` gives the proxy
/// back. Cheap to copy (copies share the proxy's resolution). Serializes
/// exactly like the proxy inside (the same bytes), so a locker and a proxy
/// are interchangeable on the wire.
template <class T>
class ProxyLocker {
 public:
  /// An empty locker (unlock() gives an empty proxy).
  ProxyLocker() = default;
  /// Locks `proxy` away from accidental use.
  explicit ProxyLocker(Proxy<T> proxy) noexcept : proxy_(std::move(proxy)) {}

  /// @{
  /// The proxy, for code that means to use it (moved out of an rvalue locker).
  const Proxy<T>& unlock() const& noexcept { return proxy_; }
  Proxy<T> unlock() && noexcept { return std::move(proxy_); }
  /// @}

  /// @{
  /// cereal hooks: exactly the bytes of the proxy inside.
  template <class Archive>
  void save(Archive& ar) const {
    proxy_.save(ar);
  }
  template <class Archive>
  void load(Archive& ar) {
    proxy_.load(ar);
  }
  /// @}

 private:
  Proxy<T> proxy_;
};

/// `ProxyLocker<T>(proxy)`, with T deduced.
template <class T>
ProxyLocker<T> lock(Proxy<T> proxy) noexcept {
  return ProxyLocker<T>(std::move(proxy));
}

/// A locker's wire type name is its proxy's: the bytes are the same.
template <class T>
struct TypeName<ProxyLocker<T>> : TypeName<Proxy<T>> {};

}  // namespace proxystore
