// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/custom-store.md: the smallest complete backend.
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

//! [backend]
// Keeps objects in a map. A backend only moves bytes: serialization, type
// checks, the cache, metrics, batches and proxies come from ps::Store.
class MapStore : public ps::Store {
 public:
  explicit MapStore(std::string name, ps::StoreOptions options = {})
      : Store(std::move(name), options) {}

  // What a proxy carries to rebuild this store elsewhere: never secrets.
  ps::StoreConfig config() const override { return {"example.map", name(), {}}; }

 protected:
  // Called from many threads at once: a backend must be thread-safe.
  void do_put(const ps::Key& key, std::string_view bytes) override {
    ps::Bytes copy{std::string(bytes)};  // copy outside the lock
    std::unique_lock lock(mutex_);
    objects_.insert_or_assign(key, std::move(copy));
  }

  std::optional<ps::Bytes> do_get(const ps::Key& key) override {
    std::shared_lock lock(mutex_);
    auto it = objects_.find(key);
    if (it == objects_.end())
      return std::nullopt;  // absent: get() returns nullopt, a proxy throws MissingKey
    return it->second;      // Bytes copies share the buffer: no byte is copied
  }

  bool do_exists(const ps::Key& key) override {
    std::shared_lock lock(mutex_);
    return objects_.count(key) != 0;
  }

  void do_evict(const ps::Key& key) override {
    std::unique_lock lock(mutex_);
    objects_.erase(key);
  }

 private:
  std::shared_mutex mutex_;
  std::map<ps::Key, ps::Bytes> objects_;
};
//! [backend]

int main() {
  return run_snippet("custom_store", [] {
    //! [register]
    // How a process that meets an "example.map" config (inside a proxy) but
    // has no store of that name builds one. The builder must not register it.
    ps::register_store_type("example.map", [](const ps::StoreConfig& config) {
      return std::make_shared<MapStore>(config.name);
    });
    //! [register]

    //! [use]
    auto store = std::make_shared<MapStore>("map");
    ps::Proxy<std::string> proxy = store->proxy(std::string("stored in a map"));
    CHECK(proxy == "stored in a map");
    // The whole typed API works; batches default to looping over do_put/do_get.
    std::vector<ps::Key> keys = store->set_batch(std::vector<int>{1, 2, 3});
    CHECK(store->get<int>(keys[2]) == 3);
    //! [use]

    //! [key_and_config]
    // A Key is a struct around one std::string: key.id is the text to use as
    // a file name, a row id or a server-side key. Keys compare, order, hash
    // and format (fmt::format("{}", key)) as that string.
    ps::Key key = store->set(std::string("hello"));
    const std::string& id = key.id;
    CHECK(id.size() == 32);  // the default do_new_key(): 128 random bits in hex
    CHECK(fmt::format("{}", key) == id);

    // StoreConfig::options is a std::map<std::string, std::string>: options
    // travel as text, so a builder parses (and checks) numbers itself.
    ps::StoreConfig config{"example.map", "map", {{"capacity", std::to_string(1000)}}};
    const std::map<std::string, std::string>& options = config.options;
    CHECK(std::stoul(options.at("capacity")) == 1000);
    //! [key_and_config]

    // A process without the store rebuilds it through the builder (here an
    // empty map, as for LocalStore: in-memory stores do not cross processes).
    const std::string wire = ps::serialize(proxy);
    ps::unregister_store("map");
    auto elsewhere = ps::deserialize<ps::Proxy<std::string>>(wire);
    try {
      ps::resolve(elsewhere);
      CHECK(false);
    } catch (const ps::ProxyResolveMissingKeyError&) {
    }
    CHECK(ps::get_store("map") != nullptr && ps::get_store("map") != store);
  });
}
