// SPDX-License-Identifier: Apache-2.0
// RedisClusterStore on the run's Redis Cluster against RedisStore on the
// run's single redis-server: batches of 1000 objects, and one large get,
// unchunked and in chunks that spread over the primaries.
//
// Names: cluster/<proxy_batch|get_batch>/<size>/<cluster|single>
//        cluster/get/char/<size>/<cluster|cluster_chunked|single_chunked>
// The unchunked single-node get and the floor are the Redis rows'
// redis/get/char/<size>/<store|floor>.
#include "bench_common.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace proxystore::bench {

std::vector<std::size_t> cluster_batch_sizes() {
  if (settings().smoke)
    return {100};
  return {100, 10 * 1024};
}

std::size_t cluster_chunk_size() {
  // Never under the smallest chunk a store accepts (quick runs use 10 KB).
  return std::max(largest_size() / 25, RedisOptions::min_chunk_size);
}

namespace {

using Object = std::vector<char>;

void evict_all(Store& store, const std::vector<Key>& keys) {
  for (const Key& key : keys)
    store.evict(key);
}

/// Connects before anything is timed: the cluster store loads its slot map
/// and opens connections to every primary (64 keys spread over the slots).
void warm_up(Store& store) {
  evict_all(store, store.set_batch(std::vector<Object>(64, make_object<Object>(100))));
}

/// The stores compared, created on first use. cache_size = 0: every get
/// reaches the servers.
struct ClusterStores {
  std::shared_ptr<RedisStore> single;
  std::shared_ptr<RedisStore> single_chunked;
  std::shared_ptr<RedisClusterStore> cluster;
  std::shared_ptr<RedisClusterStore> cluster_chunked;
};

ClusterStores& stores() {
  static ClusterStores s = [] {
    const Settings& run = settings();
    RedisOptions whole;
    whole.store.cache_size = 0;
    RedisOptions chunked = whole;
    chunked.chunk_size = cluster_chunk_size();
    ClusterStores c;
    c.single = std::make_shared<RedisStore>("bench-single", run.redis_host, run.redis_port, whole);
    c.single_chunked = std::make_shared<RedisStore>("bench-single-chunked", run.redis_host,
                                                    run.redis_port, chunked);
    c.cluster = std::make_shared<RedisClusterStore>("bench-cluster", run.cluster_seeds, whole);
    c.cluster_chunked =
        std::make_shared<RedisClusterStore>("bench-cluster-chunked", run.cluster_seeds, chunked);
    for (const std::shared_ptr<Store>& store :
         {std::shared_ptr<Store>(c.single), std::shared_ptr<Store>(c.single_chunked),
          std::shared_ptr<Store>(c.cluster), std::shared_ptr<Store>(c.cluster_chunked)}) {
      register_store(store, /*exist_ok=*/true);
      warm_up(*store);
    }
    return c;
  }();
  return s;
}

/// Batches: a fixed number of iterations per repetition, because evicting
/// the 1000 keys a batch wrote (outside the timed region, one round trip
/// each) costs more than the batch itself.
constexpr int batch_iterations = 10;

template <class StoreOf>
void add_batches(const std::string& variant, std::size_t size, StoreOf store) {
  const std::string suffix = "/" + size_label(size) + "/" + variant;
  auto* proxy_batch =
      add_timed("cluster/proxy_batch" + suffix, [size, store](benchmark::State& state) {
        Store& s = *store();
        const std::vector<Object> objects(batch_count, make_object<Object>(size));
        for (auto _ : state) {
          std::vector<Object> input = objects;  // proxy_batch takes them by value
          std::vector<Proxy<Object>> proxies;
          timed(state, [&] { proxies = s.proxy_batch(std::move(input)); });
          for (const Proxy<Object>& p : proxies)
            s.evict(get_factory(p).target<StoreFactory<Object>>()->key());
        }
      });
  auto* get_batch = add_timed("cluster/get_batch" + suffix, [size, store](benchmark::State& state) {
    Store& s = *store();
    const std::vector<Key> keys =
        s.set_batch(std::vector<Object>(batch_count, make_object<Object>(size)));
    for (auto _ : state) {
      std::vector<std::optional<Object>> values;
      timed(state, [&] { values = s.get_batch<Object>(keys); });
      for (const std::optional<Object>& value : values) {
        if (!value || value->size() != size) {
          state.SkipWithError("get_batch: a value is missing or has the wrong size");
          break;
        }
      }
    }
    evict_all(s, keys);
  });
  if (!settings().smoke) {
    proxy_batch->Iterations(batch_iterations);
    get_batch->Iterations(batch_iterations);
  }
}

}  // namespace

void register_cluster_benchmarks() {
  for (std::size_t size : cluster_batch_sizes()) {
    add_batches("single", size, [] { return stores().single; });
    add_batches("cluster", size, [] { return stores().cluster; });
  }
  const std::string prefix = "cluster/get/char/" + size_label(largest_size()) + "/";
  add_store_get<Object>(prefix + "single_chunked", largest_size(),
                        [] { return stores().single_chunked; });
  add_store_get<Object>(prefix + "cluster", largest_size(), [] { return stores().cluster; });
  add_store_get<Object>(prefix + "cluster_chunked", largest_size(),
                        [] { return stores().cluster_chunked; });
}

}  // namespace proxystore::bench
