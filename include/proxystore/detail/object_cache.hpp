// SPDX-License-Identifier: Apache-2.0
// The LRU cache of deserialized objects inside a Store.
#pragma once

#include <proxystore/key.hpp>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace proxystore::detail {

/// Thread-safe LRU map from key to a type-erased immutable object. The
/// type name travels with each object so a read as another type is caught.
/// Its operations are compiled into the library (object_cache.cpp): they
/// run beside a backend read, never on a resolved proxy's access, and
/// keeping the hash table out of the header spares every translation unit
/// that loads a proxy its instantiation.
class ObjectCache {
 public:
  struct Entry {
    std::shared_ptr<const void> object;
    std::string type_name;
  };

  explicit ObjectCache(std::size_t capacity);
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;
  ~ObjectCache();

  bool enabled() const noexcept { return capacity_ != 0; }

  std::optional<Entry> find(const Key& key);
  void put(const Key& key, Entry entry);
  void erase(const Key& key);

 private:
  struct Table;  // the list and index (object_cache.cpp)

  const std::size_t capacity_;
  std::mutex mutex_;
  std::unique_ptr<Table> table_;  // guarded by mutex_
};

}  // namespace proxystore::detail
