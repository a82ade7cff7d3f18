// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/object_cache.hpp>

#include <list>
#include <unordered_map>
#include <utility>

namespace proxystore::detail {

struct ObjectCache::Table {
  using Order = std::list<std::pair<Key, Entry>>;
  Order order;  // most recently used first
  std::unordered_map<Key, Order::iterator> index;
};

ObjectCache::ObjectCache(std::size_t capacity)
    : capacity_(capacity), table_(std::make_unique<Table>()) {}

ObjectCache::~ObjectCache() = default;

std::optional<ObjectCache::Entry> ObjectCache::find(const Key& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = table_->index.find(key);
  if (it == table_->index.end())
    return std::nullopt;
  table_->order.splice(table_->order.begin(), table_->order, it->second);  // now most recent
  return it->second->second;
}

void ObjectCache::put(const Key& key, Entry entry) {
  std::lock_guard<std::mutex> lock(mutex_);
  Table& table = *table_;
  if (auto it = table.index.find(key); it != table.index.end()) {
    it->second->second = std::move(entry);
    table.order.splice(table.order.begin(), table.order, it->second);
    return;
  }
  table.order.emplace_front(key, std::move(entry));
  table.index.emplace(key, table.order.begin());
  if (table.order.size() > capacity_) {
    table.index.erase(table.order.back().first);
    table.order.pop_back();
  }
}

void ObjectCache::erase(const Key& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = table_->index.find(key); it != table_->index.end()) {
    table_->order.erase(it->second);
    table_->index.erase(it);
  }
}

}  // namespace proxystore::detail
