// SPDX-License-Identifier: Apache-2.0
// Store's out-of-line members: what every Store<T> instantiation shares,
// compiled once here instead of in every consumer's translation unit.
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/future.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

namespace proxystore {

Store::~Store() {
  detail::unregister_store_if_same(name_, this);
}

bool Store::exists(const Key& key) {
  const auto started = metrics_.start();
  const bool found = do_exists(key);
  metrics_.record("exists", started, 0);
  return found;
}

void Store::evict(const Key& key) {
  const auto started = metrics_.start();
  cache_.erase(key);
  do_evict(key);
  metrics_.record("evict", started, 0);
}

void Store::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  std::string joined;
  joined.reserve(head.size() + body.size());
  joined.append(head).append(body);
  do_put(key, joined);
}

bool Store::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  std::optional<Bytes> bytes = do_get(key);
  if (!bytes)
    return false;
  detail::BytesReader reader(bytes->view());
  consume(reader);
  return true;
}

void Store::do_ping() {
  (void)do_exists(Key{"proxystore:ping"});
}

Key Store::do_new_key() {
  return random_key();
}

std::vector<Key> Store::do_new_keys(std::size_t count) {
  std::vector<Key> keys;
  keys.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    keys.push_back(do_new_key());
  return keys;
}

Key Store::do_new_key_for(const PutInfo& info) {
  (void)info;
  return do_new_key();
}

std::vector<Key> Store::do_new_keys_for(const std::vector<PutInfo>& infos) {
  return do_new_keys(infos.size());
}

void Store::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  for (const auto& [key, bytes] : items)
    do_put(key, bytes);
}

std::vector<std::optional<Bytes>> Store::do_get_batch(const std::vector<Key>& keys) {
  std::vector<std::optional<Bytes>> values;
  values.reserve(keys.size());
  for (const Key& key : keys)
    values.push_back(do_get(key));
  return values;
}

bool Store::do_expire(const Key& key, std::chrono::milliseconds ttl) {
  (void)key;
  (void)ttl;
  return false;
}

void Store::do_put_result(const Key& key, std::string_view bytes) {
  do_put(key, bytes);
}

void Store::do_put_with_ttl(const Key& key, std::string_view bytes, std::chrono::milliseconds ttl) {
  do_put(key, bytes);
  do_expire(key, ttl);
}

void Store::do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                                  std::chrono::milliseconds ttl) {
  do_put_parts(key, head, body);
  do_expire(key, ttl);
}

void Store::do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                                  std::chrono::milliseconds ttl) {
  do_put_batch(items);
  for (const auto& item : items)
    do_expire(item.first, ttl);
}

void Store::do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                   std::chrono::milliseconds ttl) {
  do_put_result(key, bytes);
  do_expire(key, ttl);
}

std::optional<Lifetime::WriteExpiry> Store::write_expiry(const ProxyOptions& options) const {
  if (!options.lifetime)
    return std::nullopt;
  return options.lifetime->expiry_for(*this);
}

void Store::attach_lifetime(const ProxyOptions& options, const std::vector<Key>& keys,
                            const std::optional<Lifetime::WriteExpiry>& expiry) {
  if (!options.lifetime)
    return;
  std::size_t added = 0;
  try {
    for (; added < keys.size(); ++added) {
      if (expiry)
        options.lifetime->add(*this, keys[added], expiry->deadline);
      else
        options.lifetime->add(*this, keys[added]);
    }
  } catch (...) {
    for (std::size_t i = added; i < keys.size(); ++i)
      evict(keys[i]);
    throw;
  }
}

void Store::register_self() {
  std::shared_ptr<Store> self = weak_from_this().lock();
  if (!self)
    self = std::shared_ptr<Store>(std::shared_ptr<Store>(), this);  // not owning
  detail::register_store_if_absent(self);
}

std::optional<Bytes> Store::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::chrono::milliseconds pause(1);
  for (;;) {
    if (std::optional<Bytes> bytes = do_get(key))
      return bytes;
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
}

bool Store::get_object(const Key& key, const detail::ObjectType& type, void* out) {
  const auto started = metrics_.start();
  if (find_cached_object(key, type, out)) {
    metrics_.record("cache_hit", started, 0);
    return true;
  }
  std::size_t size = 0;
  if (type.raw != nullptr) {
    // A large body is read straight into the object's memory (do_read).
    const bool found = out_of_memory_is_error(key, [&] {
      return do_read(key, [&](ValueReader& reader) {
        size = reader.size();
        try {
          detail::read_object_into(reader, options_.max_object_size, type, out);
        } catch (const SerializationError& e) {
          throw SerializationError(fmt::format("store '{}' key '{}': {}", detail::printable(name_),
                                               detail::printable(key.id), e.what()));
        }
      });
    });
    if (!found) {
      metrics_.record("get", started, 0);
      return false;
    }
  } else {
    std::optional<Bytes> bytes = out_of_memory_is_error(key, [&] { return do_get(key); });
    if (!bytes) {
      metrics_.record("get", started, 0);
      return false;
    }
    size = bytes->size();
    decode_object(key, type, bytes->view(), out);
  }
  cache_object(key, type, out, size);
  metrics_.record("get", started, size);
  return true;
}

void Store::decode_object(const Key& key, const detail::ObjectType& type, std::string_view bytes,
                          void* out) const {
  try {
    type.decode(out, bytes, options_.max_object_size);
  } catch (const SerializationError& e) {
    throw SerializationError(fmt::format("store '{}' key '{}': {}", detail::printable(name_),
                                         detail::printable(key.id), e.what()));
  }
}

bool Store::find_cached_object(const Key& key, const detail::ObjectType& type, void* out) {
  if (type.copy == nullptr || !cache_.enabled())
    return false;  // a move-only object cannot be handed out twice
  std::optional<detail::ObjectCache::Entry> entry = cache_.find(key);
  if (!entry)
    return false;
  if (entry->type_name != type.name()) {
    throw SerializationError(
        fmt::format("store '{}' key '{}': cannot decode '{}': the object holds a '{}', not a '{}'",
                    detail::printable(name_), detail::printable(key.id), type.name(),
                    detail::printable(entry->type_name), type.name()));
  }
  type.copy(out, entry->object.get());
  return true;
}

void Store::cache_object(const Key& key, const detail::ObjectType& type, const void* object,
                         std::size_t stored_size) {
  if (type.share != nullptr && cache_.enabled() && stored_size <= options_.cache_max_object_size)
    cache_.put(key, {type.share(object), type.name()});
}

namespace detail {

void resolve_store_object(const StoreConfig& config, const Key& key, bool evict,
                          const ObjectType& type, void* out) {
  // A connection failure names the proxy too (its type and key), not only
  // the server: an application resolving many proxies learns which failed.
  const auto resolving = [&](const ConnectionError& e) {
    return fmt::format("resolving a Proxy<{}> (key '{}' in store '{}' of type '{}'): {}",
                       type.name(), printable(key.id), printable(config.name),
                       printable(config.type), e.what());
  };
  try {
    std::shared_ptr<Store> store = get_or_create_store(config);
    if (!StoreAccess::get_object(*store, key, type, out)) {
      throw ProxyResolveMissingKeyError(fmt::format(
          "store '{}' (type '{}') has no object under key '{}' to resolve a Proxy<{}> "
          "(never stored, evicted, or expired)",
          printable(config.name), printable(config.type), printable(key.id), type.name()));
    }
    if (evict)
      store->evict(key);
  } catch (const TimeoutError& e) {
    throw TimeoutError(resolving(e));
  } catch (const ConnectionError& e) {
    throw ConnectionError(resolving(e));
  }
}

void resolve_future_object(const StoreConfig& config, const Key& key, std::int64_t timeout_ms,
                           bool evict, const ObjectType& type, void* out) {
  std::shared_ptr<Store> store = get_or_create_store(config);
  std::optional<Bytes> bytes =
      StoreAccess::wait_get(*store, key, std::chrono::milliseconds(timeout_ms));
  if (!bytes) {
    throw FutureTimeoutError(
        fmt::format("store '{}' (type '{}') key '{}': the result of Future<{}> was not set "
                    "within the timeout of {} ms",
                    printable(config.name), printable(config.type), printable(key.id), type.name(),
                    timeout_ms));
  }
  StoreAccess::decode_object(*store, key, type, bytes->view(), out);
  if (evict)
    store->evict(key);
}

}  // namespace detail

}  // namespace proxystore
