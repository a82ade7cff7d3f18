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

/// Keeps serialized objects in memory. Proxies resolve only in this
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
  std::optional<Bytes> do_get(const Key& key) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;

 private:
  std::shared_mutex mutex_;
  std::unordered_map<Key, Bytes> objects_;
};

}  // namespace proxystore
