// SPDX-License-Identifier: Apache-2.0
// Per-backend traits for the store conformance suite (tests/unit/store_conformance_test.cpp).
#pragma once

// Adding a backend to the conformance suite
// -----------------------------------------
// Write a traits struct with
//
//   static constexpr const char* type;               // its StoreConfig::type
//   static constexpr bool shares_data_when_rebuilt;  // does a store rebuilt from
//                                                    // config() see the same objects?
//   template <class S = TheStore>
//   std::shared_ptr<S> make(const std::string& name, StoreOptions options = {});
//
// where S is TheStore or a class derived from it that inherits its
// constructors (the suite passes CountingBackend<TheStore> to count backend
// calls). A traits object lives for one run of the test body, so it can own
// a temp dir or a server. Then add it to ConformanceBackends.
// RedisStoreTraits lives with the Redis harness (support/redis_server.hpp):
// each run of the body gets a private redis-server.

#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace proxystore::test {

/// Counts the backend calls of any store class `Backend` (which must have
/// the standard do_* overrides), forwarding to it.
template <class Backend>
class CountingBackend final : public Backend {
 public:
  using Backend::Backend;

  std::atomic<int> puts{0};
  std::atomic<int> gets{0};
  std::atomic<int> exists_calls{0};
  std::atomic<int> evicts{0};
  std::atomic<int> put_batches{0};
  std::atomic<int> get_batches{0};
  std::atomic<int> get_batch_keys{0};  ///< keys asked for in all get batches

 protected:
  void do_put(const Key& key, std::string_view bytes) override {
    ++puts;
    Backend::do_put(key, bytes);
  }
  std::optional<Bytes> do_get(const Key& key) override {
    ++gets;
    return Backend::do_get(key);
  }
  bool do_exists(const Key& key) override {
    ++exists_calls;
    return Backend::do_exists(key);
  }
  void do_evict(const Key& key) override {
    ++evicts;
    Backend::do_evict(key);
  }
  void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) override {
    ++put_batches;
    Backend::do_put_batch(items);
  }
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys) override {
    ++get_batches;
    get_batch_keys += static_cast<int>(keys.size());
    return Backend::do_get_batch(keys);
  }
};

struct LocalStoreTraits {
  static constexpr const char* type = "local";
  static constexpr bool shares_data_when_rebuilt = false;  // a new, empty in-process store

  template <class S = LocalStore>
  std::shared_ptr<S> make(const std::string& name, StoreOptions options = {}) {
    return std::make_shared<S>(name, options);
  }
};

struct FileStoreTraits {
  static constexpr const char* type = "file";
  static constexpr bool shares_data_when_rebuilt = true;

  TempDir dir{"proxystore-conformance"};

  template <class S = FileStore>
  std::shared_ptr<S> make(const std::string& name, StoreOptions options = {}) {
    return std::make_shared<S>(name, dir.path() / "objects", options);
  }
};

/// The store class a traits type makes by default (e.g. LocalStore).
template <class Traits>
using store_type_t = typename decltype(std::declval<Traits&>().make(std::string()))::element_type;

/// Unregisters a store name when the scope ends (the registry is
/// process-wide and outlives each test).
class ScopedStoreName {
 public:
  explicit ScopedStoreName(std::string name) : name_(std::move(name)) {}
  ScopedStoreName(const ScopedStoreName&) = delete;
  ScopedStoreName& operator=(const ScopedStoreName&) = delete;
  ~ScopedStoreName() { unregister_store(name_); }
  const std::string& get() const noexcept { return name_; }
  operator const std::string&() const noexcept { return name_; }  // NOLINT: convenience

 private:
  std::string name_;
};

/// The backends every conformance test runs on
/// (`TEMPLATE_LIST_TEST_CASE(name, tags, ConformanceBackends)`).
using ConformanceBackends = std::tuple<LocalStoreTraits, FileStoreTraits, RedisStoreTraits>;

}  // namespace proxystore::test
