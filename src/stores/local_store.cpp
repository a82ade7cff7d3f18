// SPDX-License-Identifier: Apache-2.0
#include <proxystore/stores/local.hpp>

#include <mutex>
#include <shared_mutex>
#include <string>
#include <typeinfo>
#include <utility>

namespace proxystore {

LocalStore::LocalStore(std::string name, StoreOptions options) : Store(std::move(name), options) {}

StoreConfig LocalStore::config() const {
  return StoreConfig{"local", name(), {}};
}

std::shared_ptr<LocalStore> LocalStore::from_config(const StoreConfig& config) {
  return std::make_shared<LocalStore>(config.name);
}

void LocalStore::do_put(const Key& key, std::string_view bytes) {
  store_bytes(key, std::string(bytes));  // the one copy, outside the lock
}

void LocalStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  // A class derived from LocalStore may decorate do_put (count, transform):
  // for it the value goes through do_put, joined first, as for any store.
  if (typeid(*this) != typeid(LocalStore)) {
    Store::do_put_parts(key, head, body);
    return;
  }
  // One copy of the object: head and body straight into the buffer kept
  // (the default would join them, then copy the joined bytes again).
  std::string value;
  value.reserve(head.size() + body.size());
  value.append(head).append(body);
  store_bytes(key, std::move(value));
}

void LocalStore::store_bytes(const Key& key, std::string bytes) {
  Bytes value{std::move(bytes)};
  Bytes replaced;  // an overwritten value is released after the lock
  std::unique_lock<std::shared_mutex> lock(mutex_);
  auto [it, inserted] = objects_.try_emplace(key);
  if (!inserted)
    replaced = std::move(it->second);
  it->second = std::move(value);
}

std::optional<Bytes> LocalStore::do_get(const Key& key) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  auto it = objects_.find(key);
  if (it == objects_.end())
    return std::nullopt;
  return it->second;  // shares the buffer, no copy
}

bool LocalStore::do_exists(const Key& key) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return objects_.count(key) != 0;
}

void LocalStore::do_evict(const Key& key) {
  Bytes removed;  // released after the lock
  std::unique_lock<std::shared_mutex> lock(mutex_);
  if (auto it = objects_.find(key); it != objects_.end()) {
    removed = std::move(it->second);
    objects_.erase(it);
  }
}

}  // namespace proxystore
