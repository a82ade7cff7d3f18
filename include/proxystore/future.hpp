// SPDX-License-Identifier: Apache-2.0
/// \file
/// Future<T>: a proxy you can hand out before its object exists.
#pragma once

// A Future<T> reserves a key in a store. `proxy()` gives a Proxy<T> that
// can be copied, serialized and sent anywhere at once; whoever resolves it
// (in any process) waits until the producer calls `set_result(value)`, up
// to FutureOptions::timeout, then throws FutureTimeoutError naming the
// store, the key and the timeout. A timed-out proxy stays unresolved, so
// a later access waits again (like any failed resolution).
//
//   ps::Future<Result> f = store->future<Result>();   // or make_future<Result>(*store)
//   send(ps::serialize(f.proxy()));                   // consumers may start now
//   f.set_result(compute());                          // wakes every waiter
//
// The wait is the backend's: RedisStore blocks in the server (BRPOPLPUSH on a
// companion list `<key>:ready`, on a connection of its own), other stores
// poll with exponential backoff (1 ms doubling to 50 ms). The proxies'
// factory has kind "future" and is loadable in every process without
// registration. set_result may be called once per future; calling it again
// replaces the value for proxies that have not resolved yet. Evicting the
// key (ProxyOptions-free: `store.evict(f.key())`) removes the companion too.
//
// A future may live in a Lifetime: FutureOptions::lifetime registers its
// key when the future is made, and set_result writes the value (and the
// wake-up token) with the lifetime's TTL in the same command, so with a
// LeaseLifetime on RedisStore a producer killed at any point leaks nothing.
// The other order works too — `lease->add(store, f.key())` before
// set_result: the store keeps the lease beside the key (`<key>:lease`) and
// set_result writes with it.

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

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace proxystore {

/// How a future's proxies wait.
struct FutureOptions {
  /// How long a resolution waits for set_result before it throws
  /// FutureTimeoutError. Travels with every proxy of the future.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Remove the object after its first successful resolution anywhere.
  bool evict = false;
  /// When set, the future's key is registered with this lifetime when the
  /// future is made, and set_result writes the value with the lifetime's
  /// TTL (a LeaseLifetime on its store). Does not travel with the proxies.
  std::shared_ptr<Lifetime> lifetime{};
};

namespace detail {
/// FutureFactory<T>'s resolution without the T: waits up to `timeout_ms`
/// for the result under `key` in the store `config` names, decodes it into
/// `*out` (ObjectType), then evicts it if `evict`. Throws
/// FutureTimeoutError when the timeout passes first. (store.cpp)
void resolve_future_object(const StoreConfig& config, const Key& key, std::int64_t timeout_ms,
                           bool evict, const ObjectType& type, void* out);
}  // namespace detail

/// The factory behind a future's proxies (kind "future"): a store config,
/// a key and the wait's timeout.
template <class T>
class FutureFactory {
 public:
  /// The wire kind of future factories.
  static constexpr std::string_view kind = "future";

  /// An empty factory (for deserialization).
  FutureFactory() = default;
  /// Waits for `key` in the store described by `config`, as `options` say.
  FutureFactory(StoreConfig config, Key key, const FutureOptions& options)
      : target_(std::move(config), std::move(key)),
        timeout_ms_(options.timeout.count()),
        evict_(options.evict) {}

  /// Waits for the result and returns it.
  /// @throws FutureTimeoutError if it is not set within the timeout.
  /// @throws SerializationError if it holds another type.
  /// @throws StoreNotFoundError / ConnectionError if the store cannot be had.
  T operator()() const {
    // Compiled once, in the library (detail::resolve_future_object).
    std::optional<T> object;
    detail::resolve_future_object(target_.config, target_.key, timeout_ms_, evict_,
                                  detail::ObjectTypeOf<T>::value, &object);
    return std::move(*object);
  }

  /// The config of the store the result will be in.
  const StoreConfig& config() const noexcept { return target_.config; }
  /// The result's key.
  const Key& key() const noexcept { return target_.key; }
  /// How long a resolution waits for the result.
  std::chrono::milliseconds timeout() const noexcept {
    return std::chrono::milliseconds(timeout_ms_);
  }

  /// cereal hook: config, key, timeout and evict flag.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("config", target_.config), cereal::make_nvp("key", target_.key),
       cereal::make_nvp("timeout_ms", timeout_ms_), cereal::make_nvp("evict", evict_));
  }

 private:
  friend struct detail::WireCodec<FutureFactory>;

  FutureFactory(detail::FactoryTarget target, std::int64_t timeout_ms, bool evict)
      : target_(std::move(target)), timeout_ms_(timeout_ms), evict_(evict) {}

  detail::FactoryTarget target_;
  std::int64_t timeout_ms_ = 0;
  bool evict_ = false;
};

namespace detail {

/// The wire payload of a FutureFactory: config, key, timeout and evict
/// flag, written as cereal writes FutureFactory::serialize with the wire
/// archive (same bytes), but compiled once, in the library
/// (store_factory_wire.cpp).
std::string encode_future_factory(const StoreConfig& config, const Key& key,
                                  std::int64_t timeout_ms, bool evict);
/// Reads what encode_future_factory wrote; every byte must be consumed.
/// @throws SerializationError on malformed input.
void decode_future_factory(std::string_view payload, StoreConfig& config, Key& key,
                           std::int64_t& timeout_ms, bool& evict);

template <class T>
struct IsSerializableFactory<FutureFactory<T>> : std::true_type {};

template <class T>
struct WireCodec<FutureFactory<T>> {
  static std::string encode(const FutureFactory<T>& factory) {
    return encode_future_factory(factory.target_.config, factory.target_.key, factory.timeout_ms_,
                                 factory.evict_);
  }
  static FutureFactory<T> decode(std::string_view payload) {
    FactoryTarget target;
    std::int64_t timeout_ms = 0;
    bool evict = false;
    decode_future_factory(payload, target.config, target.key, timeout_ms, evict);
    return FutureFactory<T>(std::move(target), timeout_ms, evict);
  }
};

}  // namespace detail

/// The producer's side of a future: make proxies now, set the result
/// later. Copyable (copies name the same key).
template <class T>
class Future {
 public:
  /// A future on a fresh key of `store` (registers the store under its
  /// name, as store.proxy() does, so the proxies resolve here too).
  /// @throws LifetimeError if FutureOptions::lifetime has ended or does
  ///         not cover `store`.
  explicit Future(Store& store, FutureOptions options = {})
      : store_(detail::StoreAccess::shared(store)),
        key_(detail::StoreAccess::new_key(store)),
        options_(std::move(options)) {
    if (options_.lifetime) {
      // Nothing is written yet: the key is registered, and the value
      // gets the lease's TTL when set_result writes it.
      if (auto expiry = options_.lifetime->expiry_for(store))
        options_.lifetime->add(store, key_, expiry->deadline);
      else
        options_.lifetime->add(store, key_);
    }
    detail::StoreAccess::register_self(store);
  }

  /// A proxy that resolves to the result, waiting for it if need be.
  Proxy<T> proxy() const {
    return Proxy<T>(Factory<T>(FutureFactory<T>(store_->config(), key_, options_)));
  }

  /// Stores the result and wakes every waiter (with FutureOptions::lifetime
  /// a lease's TTL is written in the same command).
  /// @throws LifetimeError if FutureOptions::lifetime has ended (nothing is
  ///         written: it would outlive its lifetime).
  void set_result(const T& value) {
    const std::string bytes = serialize(value);
    const std::shared_ptr<Lifetime>& lifetime = options_.lifetime;
    if (!lifetime) {
      detail::StoreAccess::put_result(*store_, key_, bytes);
      return;
    }
    const std::optional<Lifetime::WriteExpiry> expiry = lifetime->expiry_for(*store_);
    if (!expiry) {
      if (lifetime->done()) {
        throw LifetimeError(fmt::format(
            "{}: cannot set the result of Future<{}> under key '{}' of store '{}': it has ended",
            lifetime->description(), type_name<T>(), key_.id, store_->name()));
      }
      detail::StoreAccess::put_result(*store_, key_, bytes);
      return;
    }
    detail::StoreAccess::put_result_with_ttl(*store_, key_, bytes, expiry->ttl);
    // extend() meanwhile found no value to move: give it the new deadline.
    const std::optional<Lifetime::WriteExpiry> now = lifetime->expiry_for(*store_);
    if (now && now->deadline != expiry->deadline)
      detail::StoreAccess::expire(*store_, key_, now->ttl);
  }

  /// Whether the result has been set (asks the store).
  bool done() const { return store_->exists(key_); }

  /// The result's key.
  const Key& key() const noexcept { return key_; }
  /// The options the future was made with.
  const FutureOptions& options() const noexcept { return options_; }
  /// The store the result goes to.
  Store& store() const noexcept { return *store_; }

 private:
  std::shared_ptr<Store> store_;
  Key key_;
  FutureOptions options_;
};

/// A future on `store` (the same as `store.future<T>(options)`).
template <class T>
Future<T> make_future(Store& store, FutureOptions options = {}) {
  return Future<T>(store, options);
}

template <class T>
Future<T> Store::future(const FutureOptions& options) {
  return Future<T>(*this, options);
}

template <class T>
Future<T> Store::future() {
  return Future<T>(*this, FutureOptions{});
}

}  // namespace proxystore
