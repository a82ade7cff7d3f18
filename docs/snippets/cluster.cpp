// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/cluster.md. Constructing a RedisClusterStore does not
// connect, so this runs without a cluster; the guide's text says what the
// first operation does.
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

void cluster_store() {
  //! [cluster]
  ps::RedisOptions options;
  options.key_prefix = "myapp:";  // no '{' or '}': ids are the hash tags
  options.command_timeout = std::chrono::milliseconds(10000);  // also bounds retries
  options.chunk_size = std::size_t{8} << 20U;  // large values: 8 MiB chunks over all nodes

  ps::RedisClusterOptions cluster;
  cluster.wait_replicas = 1;  // a write returns once a replica has it (WAIT)
  cluster.wait_timeout = std::chrono::milliseconds(1000);

  // Any reachable seed is enough; the store learns the rest from the cluster.
  auto store = std::make_shared<ps::RedisClusterStore>(
      "shared", std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"}, options, cluster);

  ps::StoreConfig config = store->config();  // what every proxy carries: the seeds
  CHECK(config.type == "redis-cluster");
  CHECK(config.options.at("seeds") == "127.0.0.1:7000,127.0.0.1:7001");
  CHECK(config.options.count("password") == 0);
  //! [cluster]
}

int main() {
  return run_snippet("cluster", [] { cluster_store(); });
}
