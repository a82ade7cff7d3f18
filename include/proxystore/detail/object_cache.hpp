// SPDX-License-Identifier: Apache-2.0
// The LRU cache of deserialized objects inside a Store.
#pragma once

#include <proxystore/key.hpp>

#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

namespace proxystore::detail {

/// Thread-safe LRU map from key to a type-erased immutable object. The
/// type name travels with each object so a read as another type is caught.
class ObjectCache {
 public:
  struct Entry {
    std::shared_ptr<const void> object;
    std::string type_name;
  };

  explicit ObjectCache(std::size_t capacity) : capacity_(capacity) {}

  bool enabled() const noexcept { return capacity_ != 0; }

  std::optional<Entry> find(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end())
      return std::nullopt;
    order_.splice(order_.begin(), order_, it->second);  // now most recent
    return it->second->second;
  }

  void put(const Key& key, Entry entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(entry);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    order_.emplace_front(key, std::move(entry));
    index_.emplace(key, order_.begin());
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  void erase(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
  }

 private:
  using Order = std::list<std::pair<Key, Entry>>;

  const std::size_t capacity_;
  std::mutex mutex_;
  Order order_;  // most recently used first
  std::unordered_map<Key, Order::iterator> index_;
};

}  // namespace proxystore::detail
