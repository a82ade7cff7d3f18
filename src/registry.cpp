// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/security.hpp>
#include <proxystore/store.hpp>
#include <proxystore/stores/file.hpp>
#include <proxystore/stores/local.hpp>
#include <proxystore/stores/multi.hpp>
#if PROXYSTORE_HAS_UCX
#include <proxystore/stores/peer.hpp>
#endif
#include <proxystore/stores/redis.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <list>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

namespace proxystore {
namespace {

/// The two process-wide tables, behind one function-local static so they
/// exist before any caller (also from other static initialisers).
class Registry {
 public:
  static Registry& instance() {
    // Never destroyed: stores destroyed at exit unregister themselves, and
    // must find the registry still there.
    static auto* const registry = new Registry();
    return *registry;
  }

  std::mutex stores_mutex;  // guards `stores` and `rebuilt`; never held while building
  std::map<std::string, std::shared_ptr<Store>, std::less<>> stores;
  // Names of the stores get_or_create_store() rebuilt from configs and
  // that are still registered as built, most recently used first. Bounded
  // by StorePolicy::max_rebuilt_stores; user-registered stores never
  // appear here.
  std::list<std::string> rebuilt;
  std::map<std::string, std::list<std::string>::iterator, std::less<>> rebuilt_index;

  /// Forgets `name` as a rebuilt store (it was replaced or unregistered).
  void forget_rebuilt(std::string_view name) {
    if (auto it = rebuilt_index.find(name); it != rebuilt_index.end()) {
      rebuilt.erase(it->second);
      rebuilt_index.erase(it);
    }
  }
  /// Marks rebuilt store `name` as just used.
  void touch_rebuilt(std::string_view name) {
    if (auto it = rebuilt_index.find(name); it != rebuilt_index.end())
      rebuilt.splice(rebuilt.begin(), rebuilt, it->second);
  }

  std::mutex types_mutex;
  std::map<std::string, StoreBuilder, std::less<>> types;

  // Serialises get_or_create_store's builds so two threads never build the
  // same store; recursive because a builder may itself resolve a store.
  std::recursive_mutex build_mutex;

 private:
  Registry() {
    types.emplace("local", [](const StoreConfig& c) { return LocalStore::from_config(c); });
    types.emplace("file", [](const StoreConfig& c) { return FileStore::from_config(c); });
    types.emplace("redis", [](const StoreConfig& c) { return RedisStore::from_config(c); });
    types.emplace("redis-cluster", [](const StoreConfig& c) {
      // The cluster names its nodes itself: each must pass the policy's
      // host check like the seeds did, or a forged proxy could steer us.
      std::shared_ptr<RedisClusterStore> store = RedisClusterStore::from_config(c);
      store->set_node_check([c](const std::string& host, int port) {
        detail::check_store_host(c, host, std::to_string(port));
      });
      return store;
    });
    types.emplace("multi", [](const StoreConfig& c) { return MultiStore::from_config(c); });
#if PROXYSTORE_HAS_UCX
    // A PeerStore's or an endpoint's proxies: a client fetching from the
    // config's host:port (check_store_config has judged that host).
    types.emplace("peer", [](const StoreConfig& c) { return EndpointStore::from_config(c); });
#endif
  }
};

std::shared_ptr<Store> find_store(Registry& registry, std::string_view name) {
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  auto it = registry.stores.find(name);
  if (it == registry.stores.end())
    return nullptr;
  registry.touch_rebuilt(name);
  return it->second;
}

}  // namespace

void register_store(std::shared_ptr<Store> store, bool exist_ok) {
  if (!store)
    throw Error("register_store: the store is null");
  auto& registry = Registry::instance();
  std::shared_ptr<Store> replaced;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  auto [it, inserted] = registry.stores.try_emplace(store->name(), store);
  if (inserted)
    return;
  if (!exist_ok) {
    throw StoreExistsError(fmt::format(
        "store '{}' is already registered (pass exist_ok=true to replace it)", store->name()));
  }
  registry.forget_rebuilt(it->first);  // the user's store now: never evicted
  replaced = std::exchange(it->second, std::move(store));
}

std::shared_ptr<Store> get_store(std::string_view name) {
  return find_store(Registry::instance(), name);
}

void unregister_store(std::string_view name) {
  auto& registry = Registry::instance();
  std::shared_ptr<Store> removed;  // destroyed after the lock is released
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  if (auto it = registry.stores.find(name); it != registry.stores.end()) {
    removed = std::move(it->second);
    registry.stores.erase(it);
    registry.forget_rebuilt(name);
  }
}

void register_store_type(std::string type, StoreBuilder builder) {
  if (!builder)
    throw Error(fmt::format("register_store_type '{}': the builder is empty", type));
  auto& registry = Registry::instance();
  std::lock_guard<std::mutex> lock(registry.types_mutex);
  registry.types.insert_or_assign(std::move(type), std::move(builder));
}

std::shared_ptr<Store> get_or_create_store(const StoreConfig& config) {
  auto& registry = Registry::instance();
  if (auto store = find_store(registry, config.name))
    return store;

  std::lock_guard<std::recursive_mutex> build_lock(registry.build_mutex);
  if (auto store = find_store(registry, config.name))
    return store;  // built meanwhile

  StoreBuilder builder;
  {
    std::lock_guard<std::mutex> lock(registry.types_mutex);
    auto it = registry.types.find(config.type);
    if (it == registry.types.end()) {
      throw StoreNotFoundError(
          fmt::format("store '{}': no builder for store type '{}' (call register_store_type first)",
                      detail::printable(config.name), detail::printable(config.type)));
    }
    builder = it->second;
  }
  // The config came from outside this process (a proxy): the store policy
  // decides whether we may act on it (security.hpp). Throws
  // ForbiddenStoreError before the builder connects or touches anything.
  check_store_config(config);
  std::shared_ptr<Store> store = builder(config);
  if (!store || store->name() != config.name) {
    throw Error(
        fmt::format("store '{}': the builder for type '{}' returned {}",
                    detail::printable(config.name), detail::printable(config.type),
                    store ? fmt::format("a store named '{}'", detail::printable(store->name()))
                          : std::string("null")));
  }
  // Read before taking the lock: the policy has its own.
  const std::size_t bound = std::max<std::size_t>(1, store_policy().max_rebuilt_stores);
  // `store` and the evicted ones outlive the lock: if another thread
  // registered the name meanwhile, ours is dropped (and unregisters
  // nothing) after unlocking; evicted stores close their connections there.
  std::vector<std::shared_ptr<Store>> evicted;
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  auto [it, inserted] = registry.stores.try_emplace(config.name, store);
  if (!inserted)
    return it->second;
  registry.rebuilt.push_front(config.name);
  registry.rebuilt_index.emplace(config.name, registry.rebuilt.begin());
  while (registry.rebuilt.size() > bound) {
    const std::string oldest = std::move(registry.rebuilt.back());
    registry.rebuilt_index.erase(oldest);
    registry.rebuilt.pop_back();
    if (auto victim = registry.stores.find(oldest); victim != registry.stores.end()) {
      evicted.push_back(std::move(victim->second));
      registry.stores.erase(victim);
    }
  }
  return it->second;
}

namespace detail {
std::size_t rebuilt_store_count() {
  auto& registry = Registry::instance();
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  return registry.rebuilt.size();
}
}  // namespace detail

namespace detail {

bool has_store_builder(std::string_view type) {
  auto& registry = Registry::instance();
  std::lock_guard<std::mutex> lock(registry.types_mutex);
  return registry.types.find(type) != registry.types.end();
}

void register_store_if_absent(const std::shared_ptr<Store>& store) {
  auto& registry = Registry::instance();
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  registry.stores.try_emplace(store->name(), store);
}

void unregister_store_if_same(std::string_view name, const Store* store) noexcept {
  auto& registry = Registry::instance();
  std::lock_guard<std::mutex> lock(registry.stores_mutex);
  if (auto it = registry.stores.find(name);
      it != registry.stores.end() && it->second.get() == store) {
    // A non-owning entry (the store was not owned by a shared_ptr): drop it
    // before the store it points to is gone.
    registry.stores.erase(it);
    registry.forget_rebuilt(name);
  }
}

}  // namespace detail
}  // namespace proxystore
