// SPDX-License-Identifier: Apache-2.0
/// \file
/// Store: the base of every backend — serialization, cache, metrics, proxies.
#pragma once

#include <proxystore/bytes.hpp>
#include <proxystore/config.hpp>
#include <proxystore/detail/metrics_recorder.hpp>
#include <proxystore/detail/object_cache.hpp>
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/fwd.hpp>
#include <proxystore/key.hpp>
#include <proxystore/lifetimes.hpp>
#include <proxystore/metrics.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace proxystore {

/// The default StoreOptions::cache_max_object_size: 256 KiB. Copying an
/// object of this size costs a few microseconds, well under a read from
/// any backend but memory; copying 1 MB or more would cost as much as the
/// read it saves.
inline constexpr std::size_t default_cache_max_object_size = std::size_t{256} << 10U;

/// Options every store takes.
struct StoreOptions {
  /// How many deserialized objects the LRU cache keeps (0 disables it).
  std::size_t cache_size = 16;
  /// The largest object the cache keeps, in stored (serialized) bytes. The
  /// cache holds its own copy of each object — a caller's result or a
  /// proxy's target may be changed, so they cannot share it — and for a
  /// large object that copy costs about as much as reading it again and
  /// doubles its memory: larger objects are read from the backend each
  /// time. 0: no object is cached.
  std::size_t cache_max_object_size = default_cache_max_object_size;
  /// Whether to record StoreMetrics.
  bool metrics = false;
  /// Objects larger than this are refused when read (SerializationError).
  std::size_t max_object_size = unlimited_object_size;
};

/// How a proxy made by a store behaves.
struct ProxyOptions {
  /// Remove the object from the store after its first successful
  /// resolution anywhere.
  bool evict = false;
  /// The proxy returned to the producer already holds the object (no fetch
  /// back); serialized copies still carry only the factory.
  bool populate_target = false;
  /// When set, every object the call creates is registered with this
  /// lifetime and evicted when it ends (lifetimes.hpp). Null: the object
  /// stays until evicted explicitly.
  std::shared_ptr<Lifetime> lifetime{};
  /// Labels for the objects the call creates, handed to the backend when it
  /// mints their keys (PutInfo). Most stores ignore them; a MultiStore
  /// routes by them (stores/multi.hpp).
  std::vector<std::string> tags{};
};

/// How `Store::set` / `Store::set_batch` store objects.
struct SetOptions {
  /// Labels handed to the backend when it mints the keys (PutInfo); a
  /// MultiStore routes by them, other stores ignore them.
  std::vector<std::string> tags{};
};

/// What a backend knows about an object when it mints its key
/// (`Store::do_new_key_for`): already serialized, not yet stored. Valid
/// only during that call (it refers to the caller's tags).
struct PutInfo {
  /// The size of the serialized object in bytes (header and body).
  std::size_t size;
  /// The caller's tags (SetOptions::tags / ProxyOptions::tags), often empty.
  const std::vector<std::string>& tags;
};

namespace detail {
template <class T>
Proxy<T> make_resolved_proxy(Factory<T> factory, T&& target);  // proxy.hpp
struct StoreAccess;

/// A ValueReader over bytes already in memory (the default Store::do_read).
class BytesReader final : public ValueReader {
 public:
  explicit BytesReader(std::string_view bytes) noexcept : bytes_(bytes) {}
  std::size_t size() const noexcept override { return bytes_.size(); }
  void read(char* into, std::size_t n) override {
    if (n != 0)
      std::memcpy(into, bytes_.data() + position_, n);
    position_ += n;
  }
  std::optional<std::string_view> whole() const noexcept override { return bytes_; }

 private:
  std::string_view bytes_;
  std::size_t position_ = 0;
};

/// Registers `store` under its name unless the name is taken (registry.cpp).
void register_store_if_absent(const std::shared_ptr<Store>& store);
/// Unregisters `name` only if it is registered to `store` (registry.cpp).
void unregister_store_if_same(std::string_view name, const Store* store) noexcept;
}  // namespace detail

/// Abstract base of every store. Thread-safe. A backend implements only
/// the protected `do_*` byte operations and `config()`; serialization, the
/// object cache, metrics, batches, type checks and proxies live here, once.
///
/// Create stores with std::make_shared: `proxy()` registers the store
/// under its name so its proxies resolve in this process. A store not
/// owned by a shared_ptr is registered without ownership and unregisters
/// itself when destroyed.
class Store : public std::enable_shared_from_this<Store> {
 public:
  /// A store named `name` (its registry name, carried by its proxies) with
  /// `options` (cache, metrics, limits).
  explicit Store(std::string name, StoreOptions options = {})
      : name_(std::move(name)),
        options_(options),
        cache_(options.cache_size),
        metrics_(options.metrics) {}

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store();

  /// The store's registry name.
  const std::string& name() const noexcept { return name_; }

  /// The options the store was created with.
  const StoreOptions& options() const noexcept { return options_; }

  /// Everything another process needs to rebuild an equivalent store.
  /// Never contains secrets.
  virtual StoreConfig config() const = 0;

  /// Serializes `object` and stores it under a new key.
  template <class T>
  Key set(const T& object) {
    return put_object(object, no_tags());
  }

  /// Serializes `object` and stores it under a new key, handing
  /// `options.tags` to the backend (a MultiStore routes by them).
  template <class T>
  Key set(const T& object, const SetOptions& options) {
    return put_object(object, options.tags);
  }

  /// The object under `key`, or nullopt if there is none.
  /// @throws SerializationError if it is not a `T` (the message names both
  ///         types) or its bytes are corrupt.
  template <class T>
  std::optional<T> get(const Key& key) {
    // Everything but decoding and copying a T is compiled once, in the
    // library (get_object): a consumer's translation unit instantiates
    // little more than deserialize<T>.
    std::optional<T> object;
    if (!get_object(key, detail::ObjectTypeOf<T>::value, &object))
      return std::nullopt;  // (a read that found the value gone may have left part of it)
    return object;
  }

  /// Whether an object is stored under `key` (asks the backend).
  bool exists(const Key& key);

  /// Removes the object under `key` (a no-op if there is none). Another
  /// process's cache may still serve it until that cache drops it.
  void evict(const Key& key);

  /// Stores many objects in one backend batch (one round trip on Redis).
  template <class T>
  std::vector<Key> set_batch(const std::vector<T>& objects) {
    return put_objects(objects, no_tags());
  }

  /// Stores many objects in one backend batch, handing `options.tags` (the
  /// same for every object) to the backend.
  template <class T>
  std::vector<Key> set_batch(const std::vector<T>& objects, const SetOptions& options) {
    return put_objects(objects, options.tags);
  }

  /// Reads many objects in one backend batch; nullopt where a key is absent.
  template <class T>
  std::vector<std::optional<T>> get_batch(const std::vector<Key>& keys) {
    const auto started = metrics_.start();
    std::vector<std::optional<T>> objects(keys.size());
    std::vector<Key> missing;
    std::vector<std::size_t> missing_at;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      objects[i] = find_cached<T>(keys[i]);
      if (!objects[i]) {
        missing.push_back(keys[i]);
        missing_at.push_back(i);
      }
    }
    std::uint64_t total = 0;
    if (!missing.empty()) {
      std::vector<std::optional<Bytes>> fetched = do_get_batch(missing);
      if (fetched.size() != missing.size()) {
        throw StoreOperationError(fmt::format("store '{}': get batch of {} keys returned {} values",
                                              name_, missing.size(), fetched.size()));
      }
      for (std::size_t j = 0; j < fetched.size(); ++j) {
        if (!fetched[j])
          continue;
        total += fetched[j]->size();
        auto& object = objects[missing_at[j]];
        object.emplace(decode<T>(missing[j], fetched[j]->view()));
        cache<T>(missing[j], object, fetched[j]->size());
      }
    }
    metrics_.record("get_batch", started, total);
    return objects;
  }

  /// Stores `object` and returns a lazy proxy to it.
  template <class T>
  Proxy<T> proxy(T object, ProxyOptions options = {}) {
    const std::optional<Lifetime::WriteExpiry> expiry = write_expiry(options);
    Key key = put_object(object, options.tags, expiry);
    attach_lifetime(options, {key}, expiry);
    register_self();
    return make_proxy<T>(config(), std::move(key), options, std::move(object));
  }

  /// Stores `objects` in one batch and returns a proxy to each.
  template <class T>
  std::vector<Proxy<T>> proxy_batch(std::vector<T> objects, ProxyOptions options = {}) {
    const std::optional<Lifetime::WriteExpiry> expiry = write_expiry(options);
    std::vector<Key> keys = put_objects(objects, options.tags, expiry);
    attach_lifetime(options, keys, expiry);
    register_self();
    const StoreConfig store_config = config();
    std::vector<Proxy<T>> proxies;
    proxies.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      proxies.push_back(
          make_proxy<T>(store_config, std::move(keys[i]), options, std::move(objects[i])));
    }
    return proxies;
  }

  /// A proxy to an object already stored under `key` (populate_target is
  /// ignored: there is nothing local to populate it with).
  template <class T>
  Proxy<T> proxy_from_key(Key key, ProxyOptions options = {}) {
    register_self();
    return Proxy<T>(Factory<T>(StoreFactory<T>(config(), std::move(key), options.evict)));
  }

  /// Stores `object` and returns its owner: a move-only proxy whose
  /// destruction evicts the object (ownership.hpp).
  template <class T>
  OwnedProxy<T> owned_proxy(T object, ProxyOptions options = {});

  /// @{
  /// A future: a key with no object yet, whose proxies wait for
  /// `set_result` when resolved (future.hpp); default FutureOptions when
  /// none are given.
  template <class T>
  Future<T> future(const FutureOptions& options);
  template <class T>
  Future<T> future();
  /// @}

  /// A snapshot of the metrics (empty unless StoreOptions::metrics).
  StoreMetrics metrics() const { return metrics_.snapshot(); }

  /// Checks now that the backend answers, so an application can fail fast
  /// at start-up instead of at its first proxy. RedisStore sends PING (and
  /// connects, authenticates and selects its database if it had not yet);
  /// RedisClusterStore loads the slot map and PINGs every primary; other
  /// stores make a cheap probe of their backend (a lookup of a key that is
  /// never stored).
  /// @throws ConnectionError (TimeoutError) naming host:port when a server
  ///         is unreachable, refuses the credentials or does not answer in
  ///         time; the backend's own error for other failures.
  void ping() { do_ping(); }

 protected:
  // --- the backend interface: bytes in, bytes out --------------------------

  /// Stores `bytes` under `key`, replacing any previous value.
  virtual void do_put(const Key& key, std::string_view bytes) = 0;
  /// The bytes under `key`, or nullopt if there are none.
  virtual std::optional<Bytes> do_get(const Key& key) = 0;
  /// Optional, for large values: stores `head` followed by `body` under
  /// `key`. Store::set passes a vector's or string's own memory as `body`,
  /// so a backend that writes scattered buffers (RedisStore: writev) never
  /// copies it. The default joins the two and calls do_put.
  virtual void do_put_parts(const Key& key, std::string_view head, std::string_view body);
  /// Optional, for large values: calls `consume` once with a reader of the
  /// value under `key` and returns true, or returns false if there is none.
  /// Store::get reads a vector's or string's body straight into the
  /// object's memory through it. The default wraps do_get.
  virtual bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume);
  /// Whether `key` holds bytes.
  virtual bool do_exists(const Key& key) = 0;
  /// ping(): throws when the backend cannot be reached. The default looks
  /// up a key that is never stored (do_exists), which reaches the backend.
  virtual void do_ping();
  /// Removes `key` (a no-op if absent).
  virtual void do_evict(const Key& key) = 0;
  /// A fresh key (default: random 128-bit hex id).
  virtual Key do_new_key();
  /// `count` fresh keys for a batch; the default calls do_new_key() for
  /// each (a backend may mint them together: RedisStore draws all their
  /// random bits in one system call).
  virtual std::vector<Key> do_new_keys(std::size_t count);
  /// A fresh key for the object `info` describes (its serialized size and
  /// the caller's tags), minted just before it is stored. Store::set and
  /// the proxies call this; the default ignores `info` and calls
  /// do_new_key(). A backend that places objects by size or tag overrides
  /// it (MultiStore picks a child store here).
  virtual Key do_new_key_for(const PutInfo& info);
  /// Fresh keys for a batch, one per entry of `infos`, in order. The
  /// default ignores the infos and calls do_new_keys(infos.size()).
  virtual std::vector<Key> do_new_keys_for(const std::vector<PutInfo>& infos);
  /// Stores many values; the default loops over do_put.
  virtual void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items);
  /// Reads many values, in order; the default loops over do_get.
  virtual std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys);

  /// Gives `key` a time to live of `ttl` on the backend's side (and to
  /// every backend key the value occupies, e.g. Redis chunks); a zero or
  /// negative `ttl` evicts it. Returns false when the backend has no
  /// server-side expiry (the default): LeaseLifetime then evicts with a
  /// timer instead.
  virtual bool do_expire(const Key& key, std::chrono::milliseconds ttl);

  /// The bytes under `key`, waiting up to `timeout` for them to appear
  /// (Future). nullopt when the timeout passes first. The default polls
  /// do_get with exponential backoff (1 ms doubling to 50 ms); a backend
  /// with a blocking primitive overrides it (RedisStore: BRPOPLPUSH).
  virtual std::optional<Bytes> do_wait_get(const Key& key,
                                           std::chrono::milliseconds timeout);  // store.cpp

  /// Stores the result of a future and wakes whoever waits in
  /// do_wait_get. The default is do_put (pollers see it on their next
  /// try); RedisStore also pushes a wake-up token.
  virtual void do_put_result(const Key& key, std::string_view bytes);

  // --- writes with a time to live (LeaseLifetime) --------------------------
  // A backend with server-side expiry overrides these to write the value
  // and its TTL in one command (RedisStore: SET ... PX), so a writer killed
  // at any point leaks nothing. The defaults write, then call do_expire —
  // two steps, for backends without an atomic form (or without expiry at
  // all: do_expire returns false and the lease's timer evicts instead).

  /// do_put, the value expiring after `ttl` (positive).
  virtual void do_put_with_ttl(const Key& key, std::string_view bytes,
                               std::chrono::milliseconds ttl);
  /// do_put_parts, the value expiring after `ttl` (positive).
  virtual void do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                                     std::chrono::milliseconds ttl);
  /// do_put_batch, every value expiring after `ttl` (positive).
  virtual void do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                                     std::chrono::milliseconds ttl);
  /// do_put_result, the value (and any wake-up token) expiring after `ttl`
  /// (positive).
  virtual void do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                      std::chrono::milliseconds ttl);

 private:
  friend struct detail::StoreAccess;

  /// The TTL options.lifetime wants new objects written with (nullopt:
  /// none, or no lifetime).
  std::optional<Lifetime::WriteExpiry> write_expiry(const ProxyOptions& options) const;

  /// Registers new keys with options.lifetime (written with `expiry`, if
  /// any); if the lifetime refuses them (it has ended), evicts them so
  /// nothing leaks, and rethrows.
  void attach_lifetime(const ProxyOptions& options, const std::vector<Key>& keys,
                       const std::optional<Lifetime::WriteExpiry>& expiry);

  static const std::vector<std::string>& no_tags() noexcept {
    static const std::vector<std::string> none;
    return none;
  }

  /// set(): serializes `object`, mints its key knowing its size and tags,
  /// stores it.
  template <class T>
  Key put_object(const T& object, const std::vector<std::string>& tags,
                 const std::optional<Lifetime::WriteExpiry>& expiry = std::nullopt) {
    const auto started = metrics_.start();
    if constexpr (detail::has_raw_body_v<T>) {
      // A vector's or string's body is its own memory: handed down as is.
      const detail::SplitObject split = detail::serialize_split(object);
      const std::size_t size = split.head.size() + split.body.size();
      Key key = do_new_key_for(PutInfo{size, tags});
      if (expiry)
        do_put_parts_with_ttl(key, split.head, split.body, expiry->ttl);
      else
        do_put_parts(key, split.head, split.body);
      metrics_.record("set", started, size);
      return key;
    } else {
      std::string bytes = serialize(object);
      Key key = do_new_key_for(PutInfo{bytes.size(), tags});
      if (expiry)
        do_put_with_ttl(key, bytes, expiry->ttl);
      else
        do_put(key, bytes);
      metrics_.record("set", started, bytes.size());
      return key;
    }
  }

  /// set_batch(): serializes every object first, so the keys are minted
  /// together knowing each size, then stores them in one backend batch.
  template <class T>
  std::vector<Key> put_objects(const std::vector<T>& objects, const std::vector<std::string>& tags,
                               const std::optional<Lifetime::WriteExpiry>& expiry = std::nullopt) {
    const auto started = metrics_.start();
    std::vector<std::string> encoded;
    encoded.reserve(objects.size());
    std::vector<PutInfo> infos;
    infos.reserve(objects.size());
    std::uint64_t total = 0;
    for (const T& object : objects) {
      encoded.push_back(serialize(object));
      total += encoded.back().size();
      infos.push_back(PutInfo{encoded.back().size(), tags});
    }
    std::vector<Key> new_keys = do_new_keys_for(infos);
    if (new_keys.size() != objects.size()) {
      throw StoreOperationError(fmt::format("store '{}': asked for {} new keys, got {}", name_,
                                            objects.size(), new_keys.size()));
    }
    std::vector<std::pair<Key, std::string_view>> items;
    items.reserve(objects.size());
    for (std::size_t i = 0; i < objects.size(); ++i)
      items.emplace_back(std::move(new_keys[i]), encoded[i]);
    if (expiry)
      do_put_batch_with_ttl(items, expiry->ttl);
    else
      do_put_batch(items);
    std::vector<Key> keys;
    keys.reserve(items.size());
    for (auto& item : items)
      keys.push_back(std::move(item.first));
    metrics_.record("set_batch", started, total);
    return keys;
  }

  void register_self();

  template <class T>
  Proxy<T> make_proxy(StoreConfig store_config, Key key, const ProxyOptions& options, T&& object) {
    Factory<T> factory(StoreFactory<T>(std::move(store_config), std::move(key), options.evict));
    if (options.populate_target) {
      return detail::make_resolved_proxy(std::move(factory), std::forward<T>(object));
    }
    return Proxy<T>(std::move(factory));
  }

  /// Runs a backend read of `key`. Sizes come from the peer, so running out
  /// of memory is an answer to input, never a std::bad_alloc escaping to
  /// the caller: it becomes a StoreOperationError naming store and key.
  template <class Read>
  decltype(auto) out_of_memory_is_error(const Key& key, Read&& read_value) const {
    try {
      return read_value();
    } catch (const std::bad_alloc& e) {
      throw StoreOperationError(
          fmt::format("store '{}' key '{}': out of memory reading the object ({})",
                      detail::printable(name_), detail::printable(key.id), e.what()));
    }
  }

  /// get<T>() without the T (ObjectType): the cache, the backend read
  /// (streamed for a raw-body type), size checks, metrics, errors naming
  /// the store and key. Returns whether the object was found; when not,
  /// `*out` may hold part of an object whose value vanished mid-read (a
  /// chunk gone), which the caller discards. (store.cpp)
  bool get_object(const Key& key, const detail::ObjectType& type, void* out);
  /// Decodes the whole stored object `bytes` into `*out`; a
  /// SerializationError names the store and key. (store.cpp)
  void decode_object(const Key& key, const detail::ObjectType& type, std::string_view bytes,
                     void* out) const;
  /// Copies the cached object under `key` into `*out` if there is one; a
  /// cached object of another type is a SerializationError. (store.cpp)
  bool find_cached_object(const Key& key, const detail::ObjectType& type, void* out);
  /// Keeps a copy of `*object` (read from `stored_size` bytes) in the
  /// cache, unless the cache is off, the type cannot be copied or the
  /// object is over cache_max_object_size: then nothing is copied.
  /// (store.cpp)
  void cache_object(const Key& key, const detail::ObjectType& type, const void* object,
                    std::size_t stored_size);

  template <class T>
  T decode(const Key& key, std::string_view bytes) const {
    std::optional<T> object;
    decode_object(key, detail::ObjectTypeOf<T>::value, bytes, &object);
    return std::move(*object);
  }

  template <class T>
  std::optional<T> find_cached(const Key& key) {
    std::optional<T> object;
    find_cached_object(key, detail::ObjectTypeOf<T>::value, &object);
    return object;
  }

  /// Keeps a copy of `object` in the cache (cache_object).
  template <class T>
  void cache(const Key& key, const std::optional<T>& object, std::size_t stored_size) {
    cache_object(key, detail::ObjectTypeOf<T>::value, &object, stored_size);
  }

  const std::string name_;
  const StoreOptions options_;
  detail::ObjectCache cache_;
  detail::MetricsRecorder metrics_;
};

namespace detail {
/// The library's own way into Store's protected backend hooks (lifetimes,
/// futures); not for users.
struct StoreAccess {
  static bool expire(Store& store, const Key& key, std::chrono::milliseconds ttl) {
    return store.do_expire(key, ttl);
  }
  static std::optional<Bytes> wait_get(Store& store, const Key& key,
                                       std::chrono::milliseconds timeout) {
    return store.do_wait_get(key, timeout);
  }
  static void put_result(Store& store, const Key& key, std::string_view bytes) {
    store.do_put_result(key, bytes);
  }
  static void put_result_with_ttl(Store& store, const Key& key, std::string_view bytes,
                                  std::chrono::milliseconds ttl) {
    store.do_put_result_with_ttl(key, bytes, ttl);
  }
  template <class T>
  static T decode(const Store& store, const Key& key, std::string_view bytes) {
    return store.decode<T>(key, bytes);
  }
  static void decode_object(const Store& store, const Key& key, const ObjectType& type,
                            std::string_view bytes, void* out) {
    store.decode_object(key, type, bytes, out);
  }
  static bool get_object(Store& store, const Key& key, const ObjectType& type, void* out) {
    return store.get_object(key, type, out);
  }
  /// `store` as a shared_ptr: owning when it is owned by one, else a
  /// non-owning alias (the store must then outlive the holder).
  static std::shared_ptr<Store> shared(Store& store) {
    std::shared_ptr<Store> self = store.weak_from_this().lock();
    if (!self)
      self = std::shared_ptr<Store>(std::shared_ptr<Store>(), &store);
    return self;
  }
  static void register_self(Store& store) { store.register_self(); }
  static Key new_key(Store& store) { return store.do_new_key(); }

  // The remaining backend hooks, for stores built from other stores
  // (MultiStore forwards each operation to the child that holds the key).
  static Key new_key_for(Store& store, const PutInfo& info) { return store.do_new_key_for(info); }
  static std::vector<Key> new_keys_for(Store& store, const std::vector<PutInfo>& infos) {
    return store.do_new_keys_for(infos);
  }
  static void put(Store& store, const Key& key, std::string_view bytes) {
    store.do_put(key, bytes);
  }
  static void put_parts(Store& store, const Key& key, std::string_view head,
                        std::string_view body) {
    store.do_put_parts(key, head, body);
  }
  static std::optional<Bytes> get(Store& store, const Key& key) { return store.do_get(key); }
  static bool read(Store& store, const Key& key, const std::function<void(ValueReader&)>& consume) {
    return store.do_read(key, consume);
  }
  static void put_batch(Store& store, const std::vector<std::pair<Key, std::string_view>>& items) {
    store.do_put_batch(items);
  }
  static void put_with_ttl(Store& store, const Key& key, std::string_view bytes,
                           std::chrono::milliseconds ttl) {
    store.do_put_with_ttl(key, bytes, ttl);
  }
  static void put_parts_with_ttl(Store& store, const Key& key, std::string_view head,
                                 std::string_view body, std::chrono::milliseconds ttl) {
    store.do_put_parts_with_ttl(key, head, body, ttl);
  }
  static void put_batch_with_ttl(Store& store,
                                 const std::vector<std::pair<Key, std::string_view>>& items,
                                 std::chrono::milliseconds ttl) {
    store.do_put_batch_with_ttl(items, ttl);
  }
  static std::vector<std::optional<Bytes>> get_batch(Store& store, const std::vector<Key>& keys) {
    return store.do_get_batch(keys);
  }
};
}  // namespace detail

}  // namespace proxystore

// Store, StoreFactory, Factory and Proxy refer to each other; Store needs
// the others only inside templates, so they may follow it.
#include <proxystore/proxy.hpp>
#include <proxystore/store_factory.hpp>
// Store::future and Store::owned_proxy are defined with their types.
#include <proxystore/future.hpp>
#include <proxystore/ownership.hpp>
