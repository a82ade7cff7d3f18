// SPDX-License-Identifier: Apache-2.0
#include <proxystore/stores/local.hpp>

#include <mutex>
#include <shared_mutex>
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
  Bytes value{std::string(bytes)};  // copy outside the lock
  std::unique_lock<std::shared_mutex> lock(mutex_);
  objects_.insert_or_assign(key, std::move(value));
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
