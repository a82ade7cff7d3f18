// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/multistore.md. (The guide's Redis child is a LocalStore
// here, so the snippet runs without a server; the routing is the same.)
#include <proxystore/proxystore.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

void route_by_size() {
  const std::filesystem::path shared_dir =
      std::filesystem::temp_directory_path() / "proxystore-multistore-doc";
  //! [size]
  auto fast = std::make_shared<ps::LocalStore>("multi-doc-fast");  // e.g. a RedisStore
  auto shared = std::make_shared<ps::FileStore>("multi-doc-shared", shared_dir);

  ps::RoutingPolicy small;
  small.max_size = 1 << 20;  // serialized bytes, inclusive
  auto store = std::make_shared<ps::MultiStore>(
      "multi-doc", std::vector<ps::MultiStore::Route>{{fast, small}, {shared, {}}});

  ps::Proxy<std::string> note = store->proxy(std::string("a few bytes"));
  ps::Proxy<std::vector<double>> big = store->proxy(std::vector<double>(1 << 18, 1.0));  // 2 MiB
  CHECK(note == "a few bytes" && big->size() == (1 << 18));

  // Keys remember their child: "<child name>/<the child's key id>".
  ps::Key key = store->set(std::string(3 << 20, 'x'));
  auto [child, child_key] = store->locate(key);
  CHECK(child == shared && shared->exists(child_key));
  CHECK(key.id == "multi-doc-shared/" + child_key.id);
  //! [size]
  std::filesystem::remove_all(shared_dir);
}

void route_by_tag() {
  //! [tags]
  auto hot = std::make_shared<ps::LocalStore>("multi-doc-hot");
  auto images = std::make_shared<ps::LocalStore>("multi-doc-images");
  auto rest = std::make_shared<ps::LocalStore>("multi-doc-rest");

  ps::RoutingPolicy must_be_hot;
  must_be_hot.superset_tags = {"hot"};  // the object must carry every one of these
  must_be_hot.priority = 10;            // tried before the routes below
  ps::RoutingPolicy image_tags_only;
  image_tags_only.subset_tags = {"png", "jpeg"};  // the object may carry only these
  auto store = std::make_shared<ps::MultiStore>(
      "multi-doc-tags", std::vector<ps::MultiStore::Route>{
                            {images, image_tags_only}, {rest, {}}, {hot, must_be_hot}});

  ps::Key a = store->set(1, ps::SetOptions{{"hot"}});         // -> hot
  ps::Key b = store->set(2, ps::SetOptions{{"png"}});         // -> images
  ps::Key c = store->set(3, ps::SetOptions{{"png", "raw"}});  // -> rest: "raw" is not allowed
  ps::Key d = store->set(4);                                  // -> images: no tags is a subset
  CHECK(store->locate(a).first == hot && store->locate(b).first == images);
  CHECK(store->locate(c).first == rest && store->locate(d).first == images);

  ps::ProxyOptions options;
  options.tags = {"hot"};  // proxies and batches carry tags too
  ps::Proxy<int> counter = store->proxy(42, options);
  std::vector<ps::Key> pair = store->set_batch(std::vector<int>{5, 6}, ps::SetOptions{{"hot"}});
  CHECK(counter == 42 && store->locate(pair[1]).first == hot);
  //! [tags]
}

void no_route() {
  //! [no_route]
  auto fast = std::make_shared<ps::LocalStore>("multi-doc-only-small");
  ps::RoutingPolicy small;
  small.max_size = 1024;
  ps::MultiStore store("multi-doc-strict", {{fast, small}});
  bool refused = false;
  try {
    store.set(std::string(4096, 'x'));
  } catch (const ps::StoreOperationError& e) {
    // multi store 'multi-doc-strict': no route accepts an object of 4114 bytes
    // with no tags (children: 'multi-doc-only-small')
    refused = std::string(e.what()).find("of 4114 bytes with no tags") != std::string::npos;
  }
  CHECK(refused);
  //! [no_route]
}

void config() {
  //! [config]
  auto fast = std::make_shared<ps::LocalStore>("multi-doc-cfg-fast");
  ps::RoutingPolicy small;
  small.max_size = 100;
  ps::MultiStore store("multi-doc-cfg", {{fast, small}});

  ps::StoreConfig config = store.config();  // what every proxy of the MultiStore carries
  CHECK(config.type == "multi" && config.options.at("routes") == "1");
  CHECK(config.options.at("route.0.type") == "local");
  CHECK(config.options.at("route.0.name") == "multi-doc-cfg-fast");
  CHECK(config.options.at("route.0.max_size") == "100");

  // Another process rebuilds it (get_or_create_store calls this for type "multi"),
  // reusing any child it has registered under the same name.
  std::shared_ptr<ps::MultiStore> rebuilt = ps::MultiStore::from_config(config);
  CHECK(rebuilt->config() == config);
  //! [config]
}

int main() {
  return run_snippet("multistore", [] {
    route_by_size();
    route_by_tag();
    no_route();
    config();
  });
}
