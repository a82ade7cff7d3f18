// SPDX-License-Identifier: Apache-2.0
/// \file
/// LocalStore: an in-process store (objects live in this process's memory).
#pragma once

#include <proxystore/store.hpp>

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace proxystore {

/// Keeps serialized objects in memory, each in one buffer: a set copies
/// the object once (a vector's or string's body straight from its own
/// memory), a get copies it once out of that buffer (the buffer is shared
/// with nothing the caller can change). Proxies resolve only in this
/// process: in another process a LocalStore of the same name is a new,
/// empty store. Config: type "local", no options.
class LocalStore : public Store {
 public:
  /// An empty in-memory store named `name`.
  explicit LocalStore(std::string name, StoreOptions options = {});

  StoreConfig config() const override;

  /// Rebuilds a store from `config()` output (the registry's builder).
  /// @throws Error if a required option is missing.
  static std::shared_ptr<LocalStore> from_config(const StoreConfig& config);

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  /// Copies head and body once, into the buffer the store keeps.
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  std::optional<Bytes> do_get(const Key& key) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;

 private:
  /// Keeps `bytes` (moved, not copied) under `key`.
  void store_bytes(const Key& key, std::string bytes);

  std::shared_mutex mutex_;
  std::unordered_map<Key, Bytes> objects_;
};

}  // namespace proxystore
