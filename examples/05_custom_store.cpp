// SPDX-License-Identifier: Apache-2.0
// 05 — A custom Store backend in under 100 lines.
//
// A backend only moves bytes: it implements do_put / do_get / do_exists /
// do_evict and config(). Everything else — serialization and type checks,
// the object cache, metrics, batches, proxies — comes from the Store base.
// register_store_type() tells the registry how to rebuild the store from its
// config in a process (or after an unregister) where it is not registered.
//
// SpoolStore keeps each object as `<directory>/<key>.obj`. It is a teaching
// backend: FileStore is the production version of the same idea.
//
// Run: build/examples/05_custom_store
#include <proxystore/proxystore.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ps = proxystore;
namespace fs = std::filesystem;

// ---- the backend -----------------------------------------------------------
class SpoolStore : public ps::Store {
 public:
  SpoolStore(std::string name, fs::path directory, ps::StoreOptions options = {})
      : Store(std::move(name), options), directory_(std::move(directory)) {
    fs::create_directories(directory_);
  }

  // What a proxy carries: type, name and options; enough to rebuild us.
  ps::StoreConfig config() const override {
    return {"example.spool", name(), {{"directory", directory_.string()}}};
  }

  // The builder handed to register_store_type(): config -> store (unregistered).
  static std::shared_ptr<ps::Store> from_config(const ps::StoreConfig& config) {
    auto directory = config.options.find("directory");
    if (directory == config.options.end())
      throw ps::Error("spool store '" + config.name + "': config has no 'directory'");
    return std::make_shared<SpoolStore>(config.name, directory->second);
  }

 protected:
  void do_put(const ps::Key& key, std::string_view bytes) override {
    // Write a temporary file and rename it: readers never see half an object.
    const fs::path temporary = path(key).concat(".tmp");
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out.flush())
        throw ps::StoreOperationError("spool store '" + name() + "': cannot write " +
                                      temporary.string());
    }
    fs::rename(temporary, path(key));
  }

  std::optional<ps::Bytes> do_get(const ps::Key& key) override {
    std::ifstream in(path(key), std::ios::binary);
    if (!in)
      return std::nullopt;  // absent: the base turns this into nullopt / MissingKey
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  bool do_exists(const ps::Key& key) override { return fs::exists(path(key)); }

  void do_evict(const ps::Key& key) override {
    std::error_code ignored;
    fs::remove(path(key), ignored);
  }

 private:
  // Keys come from do_new_key() (32 hex digits), so they are safe file names.
  fs::path path(const ps::Key& key) const { return directory_ / (key.id + ".obj"); }

  fs::path directory_;
};
// ---- end of the backend ------------------------------------------------------

int main() {
  const fs::path directory = fs::temp_directory_path() / ("proxystore-05-" + ps::random_key().id);
  int failures = 0;
  auto check = [&failures](bool ok, const char* what) {
    std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
    failures += ok ? 0 : 1;
  };

  // 1. Teach the registry to rebuild "example.spool" stores from a config.
  ps::register_store_type("example.spool", &SpoolStore::from_config);

  {
    ps::StoreOptions options;
    options.metrics = true;
    auto store = std::make_shared<SpoolStore>("spool", directory, options);

    // 2. The whole typed API works on the new backend.
    const ps::Key key = store->set(std::map<std::string, int>{{"apples", 3}, {"pears", 5}});
    check(store->exists(key), "set() then exists()");
    check(store->get<std::map<std::string, int>>(key)->at("pears") == 5, "get<T>() round trip");
    try {
      (void)store->get<std::vector<double>>(key);  // the wrong type
      check(false, "reading as the wrong type throws");
    } catch (const ps::SerializationError& e) {
      check(true, "reading as the wrong type throws SerializationError:");
      std::printf("         %s\n", e.what());
    }
    const std::vector<ps::Key> keys = store->set_batch(std::vector<std::string>{"a", "b", "c"});
    check(keys.size() == 3 && store->get<std::string>(keys[2]) == "c", "set_batch()");

    // 3. Proxies, serialized as they would be to send them elsewhere.
    const std::string wire = ps::serialize(store->proxy(std::string("spooled text")));
    check(store->metrics().at("set").count == 2, "metrics count the writes");

    // 4. Forget the store, as a fresh process would not know it...
    ps::unregister_store("spool");
    auto proxy = ps::deserialize<ps::Proxy<std::string>>(wire);
    // ...and the proxy rebuilds it from its config through our builder.
    check(proxy == "spooled text", "a deserialized proxy resolves through the rebuilt store");
    auto rebuilt = ps::get_store("spool");
    check(rebuilt != nullptr && rebuilt != store, "the registry now holds a rebuilt SpoolStore");
  }

  fs::remove_all(directory);
  std::puts(failures == 0 ? "05_custom_store: all checks passed" : "05_custom_store: FAILED");
  return failures == 0 ? 0 : 1;
}
