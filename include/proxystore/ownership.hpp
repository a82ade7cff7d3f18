// SPDX-License-Identifier: Apache-2.0
/// \file
/// OwnedProxy<T>, RefProxy<T>, RefMutProxy<T>: RAII ownership of stored objects.
#pragma once

// Ownership, the Rust way, checked at run time where the compiler cannot:
//
//   OwnedProxy<T> owned = store->owned_proxy(obj);   // move-only owner
//   RefProxy<T> a = borrow(owned), b = a;            // many shared borrows ...
//   RefMutProxy<T> m = mut_borrow(owned);            // ... OR one mutable one
//   OwnedProxy<T> other = clone(owned);              // a new object and key
//   OwnedProxy<T> mine = into_owned(a);              // a copy, owned by `mine`
//   // `owned` destroyed: the object is evicted from the store.
//
// Rules (each violation throws BorrowError naming the store, the key and
// the live borrows):
// * A mutable borrow needs no other borrow to be live; a shared borrow
//   needs no mutable one. Copying a RefProxy adds a shared borrow;
//   RefMutProxy is move-only.
// * The owner cannot be used (accessed, borrowed, cloned) while it is
//   mutably borrowed. Reading through the owner while shared borrows live
//   is allowed; C++ cannot tell a read from a write through a non-const
//   owner, so mutating through it then is not detected.
// * A moved-from owner owns nothing: using or borrowing it throws.
// * Destroying the owner while borrows live cannot throw (destructors must
//   not): the eviction is deferred until the last borrow ends, and the
//   borrow-violation handler is called at once with the details. The
//   default handler prints one line to stderr; install your own with
//   set_borrow_violation_handler() (e.g. to abort in debug builds).
//
// Access forwards like Proxy: `->`, `*`, and conversion to `const T&`
// (RefProxy) or `T&` (OwnedProxy, RefMutProxy); a const owner or borrow
// gives only const access. All share one resolution with the owner, and,
// like Proxy, changes are never written back to the store.
//
// Crossing a process: RefProxy and RefMutProxy serialize exactly like
// Proxy (the factory only). A deserialized borrow is *detached*: borrow
// tracking does not cross processes, so it enforces no rule, and it is
// valid only while the owner (in the producer) has not evicted the object.
// OwnedProxy is not serializable — ownership stays in one process; send a
// borrow instead. into_owned() of a detached borrow copies the object into
// a new key of the same store (rebuilt from the config if need be).

#include <proxystore/errors.hpp>
#include <proxystore/key.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/store.hpp>
#include <proxystore/store_factory.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>

namespace proxystore {

/// What the borrow-violation handler is told when an owner is destroyed
/// while borrows of it live.
struct BorrowViolation {
  std::string store;           ///< the store's name
  Key key;                     ///< the owned object's key
  std::size_t shared_borrows;  ///< live shared borrows
  bool mutable_borrow;         ///< whether a mutable borrow is live
  std::string message;         ///< all of the above, in one sentence
};

/// The function called (from a destructor: it must not throw) when an
/// owner is destroyed while borrowed.
using BorrowViolationHandler = std::function<void(const BorrowViolation&)>;

/// Installs `handler` (null restores the default, which prints
/// `message` to stderr) and returns the previous one. Thread-safe.
BorrowViolationHandler set_borrow_violation_handler(BorrowViolationHandler handler);

namespace detail {

/// The borrow state of one owned object, shared by its owner and its
/// borrows; evicts the object once the owner is gone and no borrow lives.
class Ownership {
 public:
  Ownership(std::shared_ptr<Store> store, Key key);
  Ownership(const Ownership&) = delete;
  Ownership& operator=(const Ownership&) = delete;
  ~Ownership() = default;

  /// @throws BorrowError if mutably borrowed.
  void acquire_shared();
  void release_shared() noexcept;
  /// @throws BorrowError if borrowed at all.
  void acquire_mut();
  void release_mut() noexcept;
  /// @throws BorrowError if mutably borrowed.
  void check_owner_access() const;
  /// The owner is gone: evicts now, or after the last borrow (reporting
  /// the violation to the handler).
  void release_owner() noexcept;

  Store& store() const noexcept { return *store_; }
  const Key& key() const noexcept { return key_; }

 private:
  std::string describe_locked() const;
  void evict_quietly() noexcept;

  const std::shared_ptr<Store> store_;
  const Key key_;
  mutable std::mutex mutex_;
  std::size_t shared_ = 0;   // guarded by mutex_
  bool mutable_ = false;     // guarded by mutex_
  bool owner_alive_ = true;  // guarded by mutex_
};

/// Shared access operators of the ownership types, written once: Derived
/// provides `target()` (a T& or const T&). Mutable adds non-const access.
template <class Derived, class T, bool Mutable>
class OwnershipAccess {
 public:
  const T* operator->() const { return &self().target(); }
  const T& operator*() const { return self().target(); }
  operator const T&() const { return self().target(); }  // NOLINT(google-explicit-constructor)

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

template <class Derived, class T>
class OwnershipAccess<Derived, T, true> : public OwnershipAccess<Derived, T, false> {
  using Base = OwnershipAccess<Derived, T, false>;

 public:
  using Base::operator->;
  using Base::operator*;
  T* operator->() { return &self().target(); }
  T& operator*() { return self().target(); }
  operator T&() { return self().target(); }  // NOLINT(google-explicit-constructor)

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

struct OwnedAccess;

}  // namespace detail

template <class T>
class RefProxy;
template <class T>
class RefMutProxy;

/// The owner of one stored object: move-only; destroying it (or assigning
/// another owner to it) evicts the object. Not serializable.
template <class T>
class OwnedProxy : public detail::OwnershipAccess<OwnedProxy<T>, T, true> {
 public:
  /// An owner of nothing (like a moved-from one).
  OwnedProxy() noexcept = default;
  /// Takes over `other`'s object; `other` owns nothing afterwards.
  OwnedProxy(OwnedProxy&& other) noexcept = default;
  /// Evicts the object owned so far, then takes over `other`'s.
  OwnedProxy& operator=(OwnedProxy&& other) noexcept {
    if (this != &other) {
      reset();
      proxy_ = std::move(other.proxy_);
      ownership_ = std::move(other.ownership_);
    }
    return *this;
  }
  OwnedProxy(const OwnedProxy&) = delete;
  OwnedProxy& operator=(const OwnedProxy&) = delete;
  ~OwnedProxy() { reset(); }

  /// Whether it owns an object.
  explicit operator bool() const noexcept { return ownership_ != nullptr; }

  /// The owned object's key.
  /// @throws BorrowError if it owns nothing.
  const Key& key() const { return ownership().key(); }

  /// Evicts the object now and owns nothing (a no-op if it owns nothing).
  void reset() noexcept {
    if (ownership_)
      std::exchange(ownership_, nullptr)->release_owner();
    proxy_ = Proxy<T>();
  }

  /// Not serializable: a compile-time error that says so.
  template <class Archive>
  void save(Archive&) const {
    static_assert(sizeof(Archive) == 0,
                  "OwnedProxy<T> is not serializable: ownership stays in one process; "
                  "serialize borrow(owned) instead");
  }

 private:
  friend struct detail::OwnedAccess;
  friend class detail::OwnershipAccess<OwnedProxy<T>, T, true>;
  friend class detail::OwnershipAccess<OwnedProxy<T>, T, false>;

  OwnedProxy(Proxy<T> proxy, std::shared_ptr<detail::Ownership> ownership) noexcept
      : proxy_(std::move(proxy)), ownership_(std::move(ownership)) {}

  detail::Ownership& ownership() const {
    if (!ownership_) {
      throw BorrowError(
          fmt::format("OwnedProxy<{}> owns nothing (default-constructed, "
                      "moved-from or reset)",
                      type_name<T>()));
    }
    return *ownership_;
  }

  T& target() const {
    ownership().check_owner_access();
    return extract(proxy_);
  }

  mutable Proxy<T> proxy_;  // a handle: const access is the mixin's business
  std::shared_ptr<detail::Ownership> ownership_;
};

/// A shared borrow: const access to the owner's object. Copyable (each
/// copy is a borrow). Serializes like a Proxy; a deserialized one is
/// detached (no borrow tracking across processes).
template <class T>
class RefProxy : public detail::OwnershipAccess<RefProxy<T>, T, false> {
 public:
  /// An empty borrow (so a struct holding one can be deserialized).
  RefProxy() noexcept = default;
  /// Another shared borrow of the same object.
  RefProxy(const RefProxy& other) : proxy_(other.proxy_), ownership_(other.ownership_) {
    if (ownership_)
      ownership_->acquire_shared();
  }
  /// Takes over `other`'s borrow.
  RefProxy(RefProxy&& other) noexcept = default;
  /// Ends the borrow held so far and borrows what `other` borrows.
  RefProxy& operator=(const RefProxy& other) {
    RefProxy copy(other);
    swap(copy);
    return *this;
  }
  /// Ends the borrow held so far and takes over `other`'s.
  RefProxy& operator=(RefProxy&& other) noexcept {
    RefProxy moved(std::move(other));
    swap(moved);
    return *this;
  }
  ~RefProxy() {
    if (ownership_)
      ownership_->release_shared();
  }

  /// Whether borrow rules are tracked (false once it crossed a process).
  bool tracked() const noexcept { return ownership_ != nullptr; }

  /// Exchanges two borrows.
  void swap(RefProxy& other) noexcept {
    std::swap(proxy_, other.proxy_);
    std::swap(ownership_, other.ownership_);
  }

  /// Writes the proxy's factory (the same bytes as the Proxy).
  template <class Archive>
  void save(Archive& ar) const {
    proxy_.save(ar);
  }
  /// Reads a proxy: the result is a detached borrow.
  template <class Archive>
  void load(Archive& ar) {
    *this = RefProxy();
    proxy_.load(ar);
  }

 private:
  friend struct detail::OwnedAccess;
  friend class detail::OwnershipAccess<RefProxy<T>, T, false>;

  RefProxy(Proxy<T> proxy, std::shared_ptr<detail::Ownership> ownership) noexcept
      : proxy_(std::move(proxy)), ownership_(std::move(ownership)) {}

  const T& target() const { return extract(proxy_); }

  mutable Proxy<T> proxy_;                        // a handle: const access is the mixin's business
  std::shared_ptr<detail::Ownership> ownership_;  // null when detached
};

/// The one mutable borrow: mutable access to the owner's object (seen by
/// the owner; never written back to the store). Move-only. Serializes
/// like a Proxy; a deserialized one is detached.
template <class T>
class RefMutProxy : public detail::OwnershipAccess<RefMutProxy<T>, T, true> {
 public:
  RefMutProxy() noexcept = default;
  /// Takes over `other`'s borrow (still one borrow).
  RefMutProxy(RefMutProxy&& other) noexcept = default;
  /// Ends the borrow held so far, then takes over `other`'s.
  RefMutProxy& operator=(RefMutProxy&& other) noexcept {
    if (this != &other) {
      if (ownership_)
        ownership_->release_mut();
      proxy_ = std::move(other.proxy_);
      ownership_ = std::move(other.ownership_);
    }
    return *this;
  }
  RefMutProxy(const RefMutProxy&) = delete;
  RefMutProxy& operator=(const RefMutProxy&) = delete;
  ~RefMutProxy() {
    if (ownership_)
      ownership_->release_mut();
  }

  /// Whether borrow rules are tracked (false once it crossed a process).
  bool tracked() const noexcept { return ownership_ != nullptr; }

  /// Writes the proxy's factory (the same bytes as the Proxy).
  template <class Archive>
  void save(Archive& ar) const {
    proxy_.save(ar);
  }
  /// Reads a proxy: the result is a detached borrow.
  template <class Archive>
  void load(Archive& ar) {
    *this = RefMutProxy();
    proxy_.load(ar);
  }

 private:
  friend struct detail::OwnedAccess;
  friend class detail::OwnershipAccess<RefMutProxy<T>, T, true>;
  friend class detail::OwnershipAccess<RefMutProxy<T>, T, false>;

  RefMutProxy(Proxy<T> proxy, std::shared_ptr<detail::Ownership> ownership) noexcept
      : proxy_(std::move(proxy)), ownership_(std::move(ownership)) {}

  T& target() const { return extract(proxy_); }

  mutable Proxy<T> proxy_;                        // a handle: const access is the mixin's business
  std::shared_ptr<detail::Ownership> ownership_;  // null when detached
};

namespace detail {
struct OwnedAccess {
  template <class T>
  static OwnedProxy<T> make_owned(Proxy<T> proxy, std::shared_ptr<Store> store, Key key) {
    return OwnedProxy<T>(std::move(proxy),
                         std::make_shared<Ownership>(std::move(store), std::move(key)));
  }
  template <class T>
  static RefProxy<T> borrow(const OwnedProxy<T>& owned) {
    Ownership& ownership = owned.ownership();
    ownership.acquire_shared();
    return RefProxy<T>(owned.proxy_, owned.ownership_);
  }
  template <class T>
  static RefMutProxy<T> mut_borrow(OwnedProxy<T>& owned) {
    Ownership& ownership = owned.ownership();
    ownership.acquire_mut();
    return RefMutProxy<T>(owned.proxy_, owned.ownership_);
  }
  template <class T>
  static Store& store(const OwnedProxy<T>& owned) {
    return owned.ownership().store();
  }
  template <class T>
  static const Proxy<T>& proxy(const RefProxy<T>& ref) {
    return ref.proxy_;
  }
};
}  // namespace detail

/// Borrows travel as proxies: the same wire type name, the same bytes.
template <class T>
struct TypeName<RefProxy<T>> : TypeName<Proxy<T>> {};
template <class T>
struct TypeName<RefMutProxy<T>> : TypeName<Proxy<T>> {};

template <class T>
OwnedProxy<T> Store::owned_proxy(T object, ProxyOptions options) {
  const std::optional<Lifetime::WriteExpiry> expiry = write_expiry(options);
  Key key = put_object(object, options.tags, expiry);
  attach_lifetime(options, {key}, expiry);
  register_self();
  Proxy<T> proxy = make_proxy<T>(config(), key, options, std::move(object));
  return detail::OwnedAccess::make_owned(std::move(proxy), detail::StoreAccess::shared(*this),
                                         std::move(key));
}

/// A shared borrow of `owned`.
/// @throws BorrowError if it is mutably borrowed or owns nothing.
template <class T>
RefProxy<T> borrow(const OwnedProxy<T>& owned) {
  return detail::OwnedAccess::borrow(owned);
}

/// The mutable borrow of `owned`.
/// @throws BorrowError if it is borrowed at all or owns nothing.
template <class T>
RefMutProxy<T> mut_borrow(OwnedProxy<T>& owned) {
  return detail::OwnedAccess::mut_borrow(owned);
}

/// A new owner of a copy of `owned`'s object, under a new key of the same
/// store. @throws BorrowError if `owned` is mutably borrowed or owns nothing.
template <class T>
OwnedProxy<T> clone(const OwnedProxy<T>& owned) {
  static_assert(std::is_copy_constructible_v<T>, "clone(OwnedProxy<T>): T must be copyable");
  const T& object = *owned;
  return detail::OwnedAccess::store(owned).template owned_proxy<T>(T(object));
}

/// A new owner of a copy of the borrowed object, under a new key of the
/// object's store (like Rust's to_owned: the original owner keeps its
/// object). Works for detached borrows too: the store is found by name or
/// rebuilt from the borrow's config.
/// @throws Error if the borrow is empty or its factory is not a store's.
template <class T>
OwnedProxy<T> into_owned(const RefProxy<T>& ref) {
  static_assert(std::is_copy_constructible_v<T>, "into_owned(RefProxy<T>): T must be copyable");
  const Proxy<T>& proxy = detail::OwnedAccess::proxy(ref);
  const auto* factory = get_factory(proxy).template target<StoreFactory<T>>();
  if (factory == nullptr) {
    throw Error(fmt::format("into_owned(RefProxy<{}>): the borrow was not made by a store",
                            type_name<T>()));
  }
  std::shared_ptr<Store> store = get_or_create_store(factory->config());
  return store->template owned_proxy<T>(T(extract(proxy)));
}

}  // namespace proxystore
