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
// The wait is the backend's: RedisStore blocks in the server (BLPOP on a
// companion list `<key>:ready`, on a connection of its own), other stores
// poll with exponential backoff (1 ms doubling to 50 ms). The proxies'
// factory has kind "future" and is loadable in every process without
// registration. set_result may be called once per future; calling it again
// replaces the value for proxies that have not resolved yet. Evicting the
// key (ProxyOptions-free: `store.evict(f.key())`) removes the companion too.

#include <proxystore/config.hpp>
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
#include <string_view>
#include <utility>

namespace proxystore {

/// How a future's proxies wait.
struct FutureOptions {
  /// How long a resolution waits for set_result before it throws
  /// FutureTimeoutError. Travels with every proxy of the future.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// Remove the object after its first successful resolution anywhere.
  bool evict = false;
};

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
  FutureFactory(StoreConfig config, Key key, FutureOptions options)
      : config_(std::move(config)),
        key_(std::move(key)),
        timeout_ms_(options.timeout.count()),
        evict_(options.evict) {}

  /// Waits for the result and returns it.
  /// @throws FutureTimeoutError if it is not set within the timeout.
  /// @throws SerializationError if it holds another type.
  /// @throws StoreNotFoundError / ConnectionError if the store cannot be had.
  T operator()() const {
    std::shared_ptr<Store> store = get_or_create_store(config_);
    std::optional<Bytes> bytes = detail::StoreAccess::wait_get(*store, key_, timeout());
    if (!bytes) {
      throw FutureTimeoutError(
          fmt::format("store '{}' (type '{}') key '{}': the result of Future<{}> was not set "
                      "within the timeout of {} ms",
                      detail::printable(config_.name), detail::printable(config_.type),
                      detail::printable(key_.id), type_name<T>(), timeout_ms_));
    }
    T object = detail::StoreAccess::decode<T>(*store, key_, bytes->view());
    if (evict_)
      store->evict(key_);
    return object;
  }

  /// The config of the store the result will be in.
  const StoreConfig& config() const noexcept { return config_; }
  /// The result's key.
  const Key& key() const noexcept { return key_; }
  /// How long a resolution waits for the result.
  std::chrono::milliseconds timeout() const noexcept {
    return std::chrono::milliseconds(timeout_ms_);
  }

  /// cereal hook: config, key, timeout and evict flag.
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cereal::make_nvp("config", config_), cereal::make_nvp("key", key_),
       cereal::make_nvp("timeout_ms", timeout_ms_), cereal::make_nvp("evict", evict_));
  }

 private:
  StoreConfig config_;
  Key key_;
  std::int64_t timeout_ms_ = 0;
  bool evict_ = false;
};

/// The producer's side of a future: make proxies now, set the result
/// later. Copyable (copies name the same key).
template <class T>
class Future {
 public:
  /// A future on a fresh key of `store` (registers the store under its
  /// name, as store.proxy() does, so the proxies resolve here too).
  explicit Future(Store& store, FutureOptions options = {})
      : store_(detail::StoreAccess::shared(store)),
        key_(detail::StoreAccess::new_key(store)),
        options_(options) {
    detail::StoreAccess::register_self(store);
  }

  /// A proxy that resolves to the result, waiting for it if need be.
  Proxy<T> proxy() const {
    return Proxy<T>(Factory<T>(FutureFactory<T>(store_->config(), key_, options_)));
  }

  /// Stores the result and wakes every waiter.
  void set_result(const T& value) {
    const std::string bytes = serialize(value);
    detail::StoreAccess::put_result(*store_, key_, bytes);
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
