// SPDX-License-Identifier: Apache-2.0
// What the stores copy: the object cache keeps no copy of a large object
// (StoreOptions::cache_max_object_size) yet keeps its semantics for small
// ones; FileStore reads into the object (do_read) and writes head and body
// with one writev; LocalStore copies an object once. Checked through what
// a store does, on real files: a cached object is served after its file is
// gone, an uncached one is not.
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::CountingBackend;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;
namespace fs = std::filesystem;

namespace {

std::vector<char> bytes_of(std::size_t size) {
  std::vector<char> object(size);
  for (std::size_t i = 0; i < size; ++i)
    object[i] = static_cast<char>('a' + i % 23);
  return object;
}

std::vector<double> doubles_of(std::size_t count) {
  std::vector<double> object(count);
  for (std::size_t i = 0; i < count; ++i)
    object[i] = static_cast<double>(i) * 0.5;
  return object;
}

StoreOptions metered(StoreOptions options = {}) {
  options.metrics = true;
  return options;
}

/// Removes the file of `key` behind the store's back (as another process
/// evicting it would): only the cache can serve it afterwards.
void remove_behind(const FileStore& store, const Key& key) {
  REQUIRE(fs::remove(store.directory() / key.id));
}

}  // namespace

TEST_CASE("The default cache keeps no copy of a large object", "[store][cache]") {
  TempDir dir;
  const ScopedStoreName name(unique_name("copies-default"));
  auto store = std::make_shared<FileStore>(name, dir.path(), metered());
  REQUIRE(store->options().cache_size == 16);
  REQUIRE(store->options().cache_max_object_size == default_cache_max_object_size);

  const std::vector<char> large = bytes_of(std::size_t{1} << 20);
  const Key large_key = store->set(large);
  CHECK(store->get<std::vector<char>>(large_key) == large);
  CHECK(store->get<std::vector<char>>(large_key) == large);
  CHECK(store->metrics().at("cache_hit").count == 0);  // both reads went to the file
  CHECK(store->metrics().at("get").count == 2);

  // Resolving a proxy leaves nothing behind either: once the file is
  // gone, the next proxy to the key finds no object.
  auto p = store->proxy_from_key<std::vector<char>>(large_key);
  CHECK(p->size() == large.size());
  remove_behind(*store, large_key);
  CHECK_FALSE(store->get<std::vector<char>>(large_key).has_value());
  auto again = store->proxy_from_key<std::vector<char>>(large_key);
  CHECK_THROWS_AS(resolve(again), ProxyResolveMissingKeyError);
  CHECK(p->size() == large.size());  // the resolved proxy still holds its own target

  // A small object is cached as before: served after its file is gone.
  const std::string small = "small and cached";
  const Key small_key = store->set(small);
  CHECK(store->get<std::string>(small_key) == small);
  remove_behind(*store, small_key);
  CHECK(store->get<std::string>(small_key) == small);
  CHECK(store->proxy_from_key<std::string>(small_key) == small);
  CHECK(store->metrics().at("cache_hit").count == 2);
}

TEST_CASE("cache_max_object_size bounds the cached objects by their stored size",
          "[store][cache]") {
  TempDir dir;
  const std::vector<double> object = doubles_of(100);
  const std::size_t stored = serialize(object).size();

  SECTION("an object of exactly the bound is cached, one byte over is not") {
    for (const std::size_t bound : {stored, stored - 1}) {
      INFO("bound " << bound << ", object " << stored << " bytes");
      StoreOptions options;
      options.cache_max_object_size = bound;
      const ScopedStoreName name(unique_name("copies-bound"));
      auto store = std::make_shared<FileStore>(name, dir.path() / name.get(), options);
      const Key key = store->set(object);
      CHECK(store->get<std::vector<double>>(key) == object);
      remove_behind(*store, key);
      CHECK(store->get<std::vector<double>>(key).has_value() == (bound == stored));
    }
  }

  SECTION("get_batch caches under the same bound") {
    StoreOptions options;
    options.cache_max_object_size = stored;
    const ScopedStoreName name(unique_name("copies-batch"));
    auto store = std::make_shared<FileStore>(name, dir.path(), options);
    const std::vector<double> larger = doubles_of(101);
    const std::vector<Key> keys =
        store->set_batch(std::vector<std::vector<double>>{object, larger});
    const auto read = store->get_batch<std::vector<double>>(keys);
    CHECK(read[0] == object);
    CHECK(read[1] == larger);
    remove_behind(*store, keys[0]);
    remove_behind(*store, keys[1]);
    const auto cached = store->get_batch<std::vector<double>>(keys);
    CHECK(cached[0] == object);
    CHECK_FALSE(cached[1].has_value());
  }

  SECTION("a bound of 0 caches nothing") {
    StoreOptions options;
    options.cache_max_object_size = 0;
    const ScopedStoreName name(unique_name("copies-zero"));
    auto store = std::make_shared<FileStore>(name, dir.path(), options);
    const Key key = store->set(1);
    CHECK(store->get<int>(key) == 1);
    remove_behind(*store, key);
    CHECK_FALSE(store->get<int>(key).has_value());
  }

  SECTION("a store rebuilt from a proxy's config gets the default bound") {
    const ScopedStoreName name(unique_name("copies-rebuilt"));
    auto producer = std::make_shared<FileStore>(name, dir.path());
    const std::vector<char> large = bytes_of(std::size_t{1} << 20);
    const std::string wire = serialize(producer->proxy(large));
    unregister_store(name.get());
    auto p = deserialize<Proxy<std::vector<char>>>(wire);
    CHECK(*p == large);  // rebuilds the store from the config
    const std::shared_ptr<Store> rebuilt = get_store(name.get());
    REQUIRE(rebuilt);
    CHECK(rebuilt.get() != producer.get());
    CHECK(rebuilt->options().cache_max_object_size == default_cache_max_object_size);
    const Key key = get_factory(p).target<StoreFactory<std::vector<char>>>()->key();
    remove_behind(*producer, key);
    CHECK_FALSE(rebuilt->get<std::vector<char>>(key).has_value());  // nothing was cached
  }
}

TEST_CASE("The bounded cache keeps its semantics for the objects it holds", "[store][cache]") {
  const ScopedStoreName name(unique_name("copies-semantics"));
  StoreOptions options;
  options.cache_max_object_size = 64 << 10;
  auto store = std::make_shared<CountingBackend<LocalStore>>(name.get(), options);
  const std::vector<char> object = bytes_of(32 << 10);
  const Key key = store->set(object);
  CHECK(store->gets.load() == 0);  // set does not fill the cache
  CHECK(store->get<std::vector<char>>(key) == object);
  CHECK(store->get<std::vector<char>>(key) == object);
  CHECK(store->proxy_from_key<std::vector<char>>(key) == object);
  CHECK(store->gets.load() == 1);  // one backend read, then the cache
  CHECK_THROWS_MATCHES(store->get<std::string>(key), SerializationError,
                       MessageContains({"vector<char>", "string", key.id}));
  store->evict(key);
  CHECK_FALSE(store->get<std::vector<char>>(key).has_value());  // evict dropped it
  CHECK(store->gets.load() == 2);
}

TEST_CASE("FileStore reads objects straight from the file", "[store][file]") {
  TempDir dir;
  const ScopedStoreName name(unique_name("copies-file-read"));
  StoreOptions options;
  options.cache_size = 0;
  auto store = std::make_shared<FileStore>(name, dir.path(), options);

  SECTION("every size round-trips, around the streamed head and slices") {
    for (const std::size_t size :
         {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{127}, std::size_t{128},
          std::size_t{129}, (std::size_t{256} << 10) + 7, (std::size_t{1} << 20) + 3}) {
      INFO("size " << size);
      const std::vector<char> chars = bytes_of(size);
      const Key chars_key = store->set(chars);
      // The file holds exactly the serialized object (head and body written together).
      CHECK(dir.read_file(chars_key.id) == serialize(chars));
      CHECK(store->get<std::vector<char>>(chars_key) == chars);
      const std::vector<double> numbers = doubles_of(size / 8 + 1);
      const Key numbers_key = store->set(numbers);
      CHECK(store->get<std::vector<double>>(numbers_key) == numbers);
      const std::string text(chars.begin(), chars.end());
      const Key text_key = store->set(text);
      CHECK(store->get<std::string>(text_key) == text);
    }
    const std::map<std::string, int> map{{"a", 1}, {"b", 2}};
    CHECK(store->get<std::map<std::string, int>>(store->set(map)) == map);
  }

  SECTION("a large object read as another type names both types") {
    const Key key = store->set(doubles_of(200000));
    CHECK_THROWS_MATCHES(store->get<std::vector<char>>(key), SerializationError,
                         MessageContains({"vector<f64>", "vector<char>", key.id}));
  }

  SECTION("a truncated object file is a SerializationError, not a crash or a hang") {
    const std::string full = serialize(bytes_of(std::size_t{1} << 20));
    const Key key{"truncated"};
    dir.write_file(key.id, std::string_view(full).substr(0, full.size() / 2));
    CHECK_THROWS_MATCHES(store->get<std::vector<char>>(key), SerializationError,
                         MessageContains({key.id}));
  }

  SECTION("the size is checked against max_object_size before reading") {
    StoreOptions limited;
    limited.max_object_size = 1000;
    const ScopedStoreName other(unique_name("copies-file-limit"));
    auto small = std::make_shared<FileStore>(other, dir.path(), limited);
    const Key key = store->set(bytes_of(5000));
    CHECK_THROWS_MATCHES(small->get<std::vector<char>>(key), SerializationError,
                         MessageContains({key.id, "maximum object size"}));
  }

  SECTION("a FIFO under a key's name is refused without blocking") {
    const Key key{"fifo"};
    REQUIRE(::mkfifo((dir.path() / key.id).c_str(), 0600) == 0);
    CHECK_THROWS_MATCHES(store->get<std::vector<char>>(key), StoreOperationError,
                         MessageContains({key.id, "FIFO"}));
  }

  SECTION("a symlink under a key's name is not followed") {
    const std::string outside = serialize(bytes_of(300));
    const fs::path target = dir.write_file("outside", outside);
    const Key key{"link"};
    fs::create_symlink(target, dir.path() / key.id);
    CHECK_THROWS_MATCHES(store->get<std::vector<char>>(key), StoreOperationError,
                         MessageContains({key.id, "symbolic link"}));
  }
}

TEST_CASE("Stores derived from FileStore and LocalStore still see every byte operation",
          "[store][file]") {
  TempDir dir;
  const std::vector<char> large = bytes_of(std::size_t{1} << 20);
  StoreOptions options;
  options.cache_size = 0;

  const ScopedStoreName file_name(unique_name("copies-derived-file"));
  auto file = std::make_shared<CountingBackend<FileStore>>(file_name.get(), dir.path(), options);
  const Key file_key = file->set(large);
  CHECK(file->puts.load() == 1);  // through do_put, not the writev path
  CHECK(file->get<std::vector<char>>(file_key) == large);
  CHECK(file->gets.load() == 1);  // through do_get, not do_read

  const ScopedStoreName local_name(unique_name("copies-derived-local"));
  auto local = std::make_shared<CountingBackend<LocalStore>>(local_name.get(), options);
  const Key local_key = local->set(large);
  CHECK(local->puts.load() == 1);
  CHECK(local->get<std::vector<char>>(local_key) == large);
  CHECK(local->gets.load() == 1);
}

TEST_CASE("LocalStore round-trips large objects and overwrites in place", "[store]") {
  const ScopedStoreName name(unique_name("copies-local"));
  auto store = std::make_shared<LocalStore>(name.get());
  const std::vector<double> numbers = doubles_of((std::size_t{1} << 20) / 8);
  const Key key = store->set(numbers);
  CHECK(store->get<std::vector<double>>(key) == numbers);
  auto p = store->proxy(numbers);
  CHECK(*p == numbers);
  store->evict(key);
  CHECK_FALSE(store->exists(key));
}
