// SPDX-License-Identifier: Apache-2.0
// The two halves of scaling out together: a MultiStore whose small objects
// go to a RedisClusterStore (on a throwaway local cluster) and whose large
// ones go to a shared FileStore, with proxies resolved by a separate process
// that rebuilds the MultiStore, the cluster store and the FileStore from the
// config inside each proxy.
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/redis_cluster.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ChildOptions;
using proxystore::test::ChildResult;
using proxystore::test::RedisCluster;
using proxystore::test::run_child;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

RedisCluster::Options primaries_only() {
  RedisCluster::Options options;
  options.replicas_per_primary = 0;  // routing needs no failover here
  return options;
}

template <class T>
const Key& key_of(const Proxy<T>& proxy) {
  return get_factory(proxy).template target<StoreFactory<T>>()->key();
}

ChildResult consume(const std::string& type, const std::string& serialized) {
  ChildOptions options;
  options.timeout = std::chrono::milliseconds(20000);
  ChildResult result = run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {type}, serialized, options);
  UNSCOPED_INFO(result.describe());
  return result;
}

}  // namespace

TEST_CASE("MultiStore routes small objects over a Redis Cluster and large ones to files",
          "[multistore][redis-cluster][redis][file]") {
  RedisCluster cluster(primaries_only());
  TempDir dir{"proxystore-multi-cluster"};
  ScopedStoreName cluster_name{unique_name("msc-cluster")};
  ScopedStoreName files_name{unique_name("msc-files")};
  ScopedStoreName multi_name{unique_name("msc-multi")};

  RedisOptions redis_options;
  redis_options.key_prefix = "msc:";
  redis_options.command_timeout = std::chrono::milliseconds(5000);
  auto clustered =
      std::make_shared<RedisClusterStore>(cluster_name, cluster.seeds(), redis_options);
  auto files = std::make_shared<FileStore>(files_name, dir / "shared");
  RoutingPolicy small;  // untagged or "hot" objects up to 4 KiB
  small.max_size = 4096;
  small.subset_tags = {"hot"};
  auto multi = std::make_shared<MultiStore>(
      multi_name, std::vector<MultiStore::Route>{{clustered, small}, {files, {}}});

  // Small objects spread over every primary of the cluster.
  std::vector<Proxy<std::string>> small_proxies;
  std::set<std::string> nodes;
  for (int i = 0; i < 60; ++i) {
    small_proxies.push_back(multi->proxy("object " + std::to_string(i)));
    const auto [child, id] = multi->locate(key_of(small_proxies.back()));
    REQUIRE(child == clustered);
    nodes.insert(clustered->node_for_key(id));
  }
  CHECK(nodes.size() == 3);

  // A large object, and a small one tagged "bulk" (not a subset of {"hot"}),
  // land in the FileStore.
  const std::vector<double> numbers(50000, 0.5);
  auto large_proxy = multi->proxy(numbers);
  ProxyOptions bulk;
  bulk.tags = {"bulk"};
  auto tagged_proxy = multi->proxy(std::string("tagged, small"), bulk);
  for (const Key& key : {key_of(large_proxy), key_of(tagged_proxy)}) {
    const auto [child, id] = multi->locate(key);
    CHECK(child == files);
    CHECK(std::filesystem::exists(dir / "shared" / id.id));
  }

  // Another process rebuilds all three stores from the proxies alone.
  ChildResult small_result = consume("string", serialize(small_proxies[7]));
  CHECK(small_result.exit_code == 0);
  CHECK(small_result.out == "object 7");
  ChildResult large_result = consume("vector_f64", serialize(large_proxy));
  CHECK(large_result.exit_code == 0);
  CHECK(large_result.out == "size=50000 sum=25000");
  ChildResult tagged_result = consume("string", serialize(tagged_proxy));
  CHECK(tagged_result.exit_code == 0);
  CHECK(tagged_result.out == "tagged, small");
}
