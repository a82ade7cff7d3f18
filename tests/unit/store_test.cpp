// SPDX-License-Identifier: Apache-2.0
// A user's backend written only against the protected backend interface; Bytes.
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::unique_name;

namespace {

/// Objects of every MapStore with the same "shelf" option live on one
/// shelf, so a MapStore rebuilt from a config sees what the original wrote
/// (the way a FileStore directory or a Redis server is shared).
class Shelves {
 public:
  static std::shared_ptr<Shelves> get(const std::string& shelf) {
    static std::mutex mutex;
    static std::map<std::string, std::shared_ptr<Shelves>> shelves;
    std::lock_guard<std::mutex> lock(mutex);
    auto& entry = shelves[shelf];
    if (!entry)
      entry = std::make_shared<Shelves>();
    return entry;
  }

  std::mutex mutex;
  // Values are shared_ptrs so do_get can hand out a foreign buffer with an owner.
  std::map<std::string, std::shared_ptr<const std::string>> objects;
};

/// A complete user backend: only the protected do_* interface and config().
class MapStore final : public Store {
 public:
  MapStore(std::string name, std::string shelf, StoreOptions options = {})
      : Store(std::move(name), options),
        shelf_name_(std::move(shelf)),
        shelf_(Shelves::get(shelf_name_)) {}

  StoreConfig config() const override { return {"test.map", name(), {{"shelf", shelf_name_}}}; }

  std::atomic<int> puts{0};
  std::atomic<int> gets{0};
  std::atomic<int> exists_calls{0};
  std::atomic<int> evicts{0};
  /// When set, do_get returns these bytes whatever the key.
  std::optional<std::string> corrupt_reads;
  /// When positive, that many do_get calls throw StoreOperationError first.
  std::atomic<int> failing_reads{0};

 protected:
  void do_put(const Key& key, std::string_view bytes) override {
    ++puts;
    auto value = std::make_shared<const std::string>(bytes);
    std::lock_guard<std::mutex> lock(shelf_->mutex);
    shelf_->objects[key.id] = std::move(value);
  }

  std::optional<Bytes> do_get(const Key& key) override {
    ++gets;
    if (failing_reads > 0) {
      --failing_reads;
      throw StoreOperationError("map store '" + name() + "': the shelf is wobbling");
    }
    if (corrupt_reads)
      return Bytes(*corrupt_reads);
    std::shared_ptr<const std::string> value;
    {
      std::lock_guard<std::mutex> lock(shelf_->mutex);
      auto it = shelf_->objects.find(key.id);
      if (it == shelf_->objects.end())
        return std::nullopt;
      value = it->second;
    }
    // A foreign buffer kept alive by its owner: no copy.
    return Bytes(value->data(), value->size(), value);
  }

  bool do_exists(const Key& key) override {
    ++exists_calls;
    std::lock_guard<std::mutex> lock(shelf_->mutex);
    return shelf_->objects.count(key.id) != 0;
  }

  void do_evict(const Key& key) override {
    ++evicts;
    std::lock_guard<std::mutex> lock(shelf_->mutex);
    shelf_->objects.erase(key.id);
  }

  Key do_new_key() override { return Key{"map-" + std::to_string(++next_key_)}; }

 private:
  std::string shelf_name_;
  std::shared_ptr<Shelves> shelf_;
  std::atomic<int> next_key_{0};
};

void register_map_store_type() {
  register_store_type("test.map", [](const StoreConfig& config) {
    return std::make_shared<MapStore>(config.name, config.options.at("shelf"));
  });
}

/// A backend whose batch read returns the wrong number of values.
class ShortBatchStore final : public Store {
 public:
  using Store::Store;
  StoreConfig config() const override { return {"test.short", name(), {}}; }

 protected:
  void do_put(const Key& /*key*/, std::string_view /*bytes*/) override {}
  std::optional<Bytes> do_get(const Key& /*key*/) override { return std::nullopt; }
  bool do_exists(const Key& /*key*/) override { return false; }
  void do_evict(const Key& /*key*/) override {}
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& /*keys*/) override {
    return {};
  }
};

}  // namespace

TEST_CASE("A custom backend gets typed operations and batches and its own keys", "[store]") {
  const ScopedStoreName name(unique_name("map"));
  auto store = std::make_shared<MapStore>(name, unique_name("shelf"));

  const Key key = store->set(std::vector<int>{1, 2, 3});
  CHECK(key.id == "map-1");  // do_new_key is the backend's
  CHECK(store->puts.load() == 1);
  CHECK(store->exists(key));
  CHECK(store->get<std::vector<int>>(key) == std::vector<int>{1, 2, 3});
  CHECK_FALSE(store->get<std::vector<int>>(Key{"map-99"}).has_value());

  const auto keys = store->set_batch(std::vector<std::string>{"a", "b"});
  CHECK(keys == std::vector<Key>{Key{"map-2"}, Key{"map-3"}});
  CHECK(store->puts.load() == 3);  // the default batch loops over do_put
  const auto values = store->get_batch<std::string>({keys[1], Key{"map-99"}, keys[0]});
  CHECK(values[0] == std::string("b"));
  CHECK_FALSE(values[1].has_value());
  CHECK(values[2] == std::string("a"));

  store->evict(key);
  CHECK(store->evicts.load() == 1);
  CHECK_FALSE(store->exists(key));
}

TEST_CASE("A custom backend gets type checks and decoding errors naming store and key", "[store]") {
  const ScopedStoreName name(unique_name("map"));
  auto store = std::make_shared<MapStore>(name, unique_name("shelf"));
  const Key key = store->set(std::string("text"));
  CHECK_THROWS_MATCHES(store->get<double>(key), SerializationError,
                       MessageContains({"string", "f64", name.get(), key.id}));

  store->corrupt_reads = std::string("definitely not an object");
  CHECK_THROWS_MATCHES(store->get<std::string>(Key{"map-7"}), SerializationError,
                       MessageContains({name.get(), "map-7"}));
  store->corrupt_reads = serialize(std::string("text")).substr(0, 10);
  CHECK_THROWS_AS(store->get<std::string>(Key{"map-8"}), SerializationError);
}

TEST_CASE("A custom backend gets the cache and metrics", "[store]") {
  const ScopedStoreName name(unique_name("map"));
  StoreOptions options;
  options.metrics = true;
  options.cache_size = 4;
  auto store = std::make_shared<MapStore>(name, unique_name("shelf"), options);
  const Key key = store->set(std::string("cached"));
  CHECK(store->get<std::string>(key) == std::string("cached"));
  CHECK(store->get<std::string>(key) == std::string("cached"));
  CHECK(store->gets.load() == 1);
  const StoreMetrics metrics = store->metrics();
  CHECK(metrics.at("set").count == 1);
  CHECK(metrics.at("set").bytes == serialize(std::string("cached")).size());
  CHECK(metrics.at("get").count == 1);
  CHECK(metrics.at("cache_hit").count == 1);

  store->evict(key);
  CHECK_FALSE(store->get<std::string>(key).has_value());
  CHECK(store->gets.load() == 2);
}

TEST_CASE("A custom backend gets proxies that resolve lazily also after a rebuild", "[store]") {
  register_map_store_type();
  const ScopedStoreName name(unique_name("map"));
  const std::string shelf = unique_name("shelf");
  auto store = std::make_shared<MapStore>(name, shelf);

  auto p = store->proxy(std::string("proxied"));
  CHECK(get_store(name.get()) == store);
  CHECK(store->gets.load() == 0);
  CHECK(p == "proxied");
  CHECK(store->gets.load() == 1);

  auto batch = store->proxy_batch(std::vector<double>{1.5, 2.5});
  CHECK(batch[0] == 1.5);
  CHECK(batch[1] == 2.5);
  auto from_key = store->proxy_from_key<std::string>(Key{"map-1"});
  CHECK(from_key == "proxied");

  // Another "process": no store of that name; the proxy rebuilds one from
  // its config through the registered builder and finds the same shelf.
  const std::string bytes = serialize(store->proxy(std::string("rebuilt")));
  unregister_store(name.get());
  auto q = deserialize<Proxy<std::string>>(bytes);
  CHECK(q == "rebuilt");
  const auto rebuilt = std::dynamic_pointer_cast<MapStore>(get_store(name.get()));
  REQUIRE(rebuilt != nullptr);
  CHECK(rebuilt != store);
  CHECK(rebuilt->gets.load() == 1);
  CHECK(rebuilt->config() == store->config());
}

TEST_CASE("A custom backend's read failure reaches the proxy access which retries", "[store]") {
  const ScopedStoreName name(unique_name("map"));
  auto store = std::make_shared<MapStore>(name, unique_name("shelf"));
  auto p = store->proxy(std::string("eventually"));
  store->failing_reads = 1;
  CHECK_THROWS_MATCHES(*p, StoreOperationError, MessageContains({name.get(), "wobbling"}));
  CHECK_FALSE(is_resolved(p));
  CHECK(p == "eventually");
  CHECK(store->gets.load() == 2);
}

TEST_CASE("A backend batch of the wrong length is an error naming the store", "[store]") {
  const ScopedStoreName name(unique_name("short"));
  auto store = std::make_shared<ShortBatchStore>(name);
  CHECK_THROWS_MATCHES(store->get_batch<int>({Key{"a"}, Key{"b"}}), StoreOperationError,
                       MessageContains({name.get(), "2"}));
}

TEST_CASE("A stack-allocated store works and its proxies resolve while it lives", "[store]") {
  const std::string name = unique_name("stack-map");
  {
    MapStore store(name, unique_name("shelf"));
    auto p = store.proxy(42);
    CHECK(get_store(name).get() == &store);  // registered without ownership
    CHECK(p == 42);
  }
  CHECK(get_store(name) == nullptr);  // it unregistered itself
}

TEST_CASE("Bytes owns or shares its buffer", "[store]") {
  Bytes empty;
  CHECK(empty.empty());
  CHECK(empty.size() == 0);
  CHECK(empty.view().empty());

  std::string text(1000, 'x');
  const char* original = text.data();
  Bytes owned(std::move(text));
  CHECK(owned.size() == 1000);
  CHECK(owned.data() == original);  // moved in, not copied
  Bytes copy = owned;
  CHECK(copy.data() == owned.data());  // copies share the buffer
  CHECK(copy.str() == std::string(1000, 'x'));

  std::weak_ptr<const std::string> watch;
  Bytes foreign;
  {
    auto buffer = std::make_shared<const std::string>("foreign buffer");
    watch = buffer;
    foreign = Bytes(buffer->data() + 8, 6, buffer);
  }
  CHECK_FALSE(watch.expired());  // kept alive by the Bytes
  CHECK(foreign.view() == "buffer");
  Bytes foreign_copy = foreign;
  foreign = Bytes();
  CHECK_FALSE(watch.expired());
  CHECK(foreign_copy.str() == "buffer");
  foreign_copy = Bytes();
  CHECK(watch.expired());
}
