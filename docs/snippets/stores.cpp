// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/stores.md.
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

void typed_operations() {
  //! [typed]
  auto store = std::make_shared<ps::LocalStore>("stores-doc");

  ps::Key key = store->set(std::map<std::string, int>{{"x", 1}});  // serialize + put
  CHECK(store->exists(key));
  std::optional<std::map<std::string, int>> value = store->get<std::map<std::string, int>>(key);
  CHECK(value && value->at("x") == 1);
  store->evict(key);
  CHECK(!store->get<std::map<std::string, int>>(key));  // nullopt: no such key

  // Batches: one backend round trip for many objects (MSET/MGET on Redis).
  std::vector<ps::Key> keys = store->set_batch(std::vector<std::string>{"a", "b"});
  std::vector<std::optional<std::string>> both = store->get_batch<std::string>(keys);
  CHECK(both[0] == "a" && both[1] == "b");

  // Proxies: store the object and get a lazy reference to it.
  ps::Proxy<std::string> one = store->proxy(std::string("one"));
  std::vector<ps::Proxy<int>> many = store->proxy_batch(std::vector<int>{1, 2, 3});
  ps::Proxy<std::string> again = store->proxy_from_key<std::string>(keys[0]);
  CHECK(one == "one" && many[2] == 3 && again == "a");
  //! [typed]
}

void store_options() {
  //! [options]
  ps::StoreOptions options;
  options.cache_size = 64;            // objects kept deserialized after a get (0: no cache)
  options.metrics = true;             // record StoreMetrics
  options.max_object_size = 1 << 30;  // refuse to decode anything over 1 GiB
  auto store = std::make_shared<ps::LocalStore>("stores-doc-options", options);

  ps::Key key = store->set(std::string(1000, 'x'));
  (void)store->get<std::string>(key);  // a backend read, then cached
  (void)store->get<std::string>(key);  // served from the cache

  ps::StoreMetrics metrics = store->metrics();
  CHECK(metrics.at("set").count == 1 && metrics.at("set").bytes > 1000);
  CHECK(metrics.at("get").count == 1 && metrics.at("cache_hit").count == 1);
  std::chrono::nanoseconds mean_get = metrics.at("get").mean_time();
  CHECK(mean_get.count() >= 0);
  //! [options]
}

void local_store() {
  //! [local]
  // In-process only: another process rebuilds an *empty* LocalStore of that name.
  auto local = std::make_shared<ps::LocalStore>("scratch");
  CHECK(local->config().type == "local" && local->config().options.empty());
  //! [local]
}

void file_store() {
  const std::filesystem::path shared_dir =
      std::filesystem::temp_directory_path() / ("stores-doc-" + ps::random_key().id);
  //! [file]
  // One file per object in `shared_dir` (created if missing); writes are
  // atomic, so readers in other processes see a whole object or none.
  // Any process that can read the directory can resolve its proxies: the
  // same machine, or others over a shared file system.
  auto files = std::make_shared<ps::FileStore>("results", shared_dir);
  CHECK(files->config().type == "file");
  CHECK(files->config().options.at("directory") == files->directory().string());  // absolute
  //! [file]
  std::filesystem::remove_all(shared_dir);
}

void redis_store() {
  //! [redis]
  ps::RedisOptions options;
  options.username = "";        // ACL user ("": default user)
  options.password = "s3cret";  // AUTH; never in config()
  options.db = 0;               // SELECT index
  options.connect_timeout = std::chrono::milliseconds(5000);
  options.command_timeout = std::chrono::milliseconds(10000);
  options.key_prefix = "myapp:";                 // the store touches only these keys
  options.pool_size = 4;                         // connections shared by threads
  options.chunk_size = std::size_t{256} << 20U;  // split values larger than this
  options.store.cache_size = 16;                 // StoreOptions, as for any store
  options.store.metrics = false;

  // Does not connect: the first operation does (ConnectionError if it cannot).
  auto redis = std::make_shared<ps::RedisStore>("cache", "127.0.0.1", 6379, options);

  ps::StoreConfig config = redis->config();  // what every proxy of this store carries
  CHECK(config.type == "redis" && config.options.at("hostname") == "127.0.0.1");
  CHECK(config.options.at("key_prefix") == "myapp:" && config.options.count("password") == 0);
  //! [redis]
}

int main() {
  return run_snippet("stores", [] {
    typed_operations();
    store_options();
    local_store();
    file_store();
    redis_store();
  });
}
