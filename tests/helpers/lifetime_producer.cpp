// SPDX-License-Identifier: Apache-2.0
// A producer process for lifetime tests.
//
//   lifetime_producer lease-redis <host> <port> <key_prefix> <lease_ms>
//       stores a 1000-byte string in chunks of 64 bytes under a lease,
//       prints its key, then kills itself with SIGKILL (no cleanup at all).
//   lifetime_producer lease-all-redis <host> <port> <key_prefix> <lease_ms>
//   lifetime_producer lease-all-cluster <seed host:port> <key_prefix> <lease_ms>
//       under one lease, writes through every write path — a small value,
//       a batch, a large value (the writev path), a chunked value, a
//       future with FutureOptions::lifetime and a future added to the lease
//       before set_result — prints "written", then kills itself with
//       SIGKILL. Every key it wrote must carry a TTL.
//   lifetime_producer static-file <directory>
//       stores one string with the StaticLifetime and one without, prints
//       both keys ("<static> <kept>") and exits normally.
//
// On failure: "error: <message>" on stderr, exit 3.
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

template <class T>
std::string key_of(const ps::Proxy<T>& proxy) {
  return ps::get_factory(proxy).template target<ps::StoreFactory<T>>()->key().id;
}

int lease_redis(const std::string& host, int port, const std::string& prefix, int lease_ms) {
  ps::RedisOptions options;
  options.key_prefix = prefix;
  options.chunk_size = 1024;  // RedisOptions::min_chunk_size
  auto store = std::make_shared<ps::RedisStore>("lifetime-producer", host, port, options);
  auto lease = std::make_shared<ps::LeaseLifetime>(store, std::chrono::milliseconds(lease_ms));
  ps::ProxyOptions proxy_options;
  proxy_options.lifetime = lease;
  const auto proxy = store->proxy(std::string(16000, 'x'), proxy_options);  // 16 chunks
  std::cout << key_of(proxy) << std::endl;  // flushed: the parent must see it
  std::raise(SIGKILL);
  return 4;  // unreachable
}

/// Every write path of `store` under one lease, then SIGKILL.
int lease_all(const std::shared_ptr<ps::Store>& store, int lease_ms) {
  auto lease = std::make_shared<ps::LeaseLifetime>(store, std::chrono::milliseconds(lease_ms));
  ps::ProxyOptions options;
  options.lifetime = lease;
  const auto small = store->proxy(std::string("small"), options);
  const auto batch = store->proxy_batch(std::vector<std::string>{"a", "b", "c"}, options);
  const auto large = store->proxy(std::vector<char>(std::size_t{100} << 10U, 'L'), options);
  const auto chunked = store->proxy(std::string(std::size_t{300} << 10U, 'C'), options);
  ps::FutureOptions future_options;
  future_options.lifetime = lease;
  ps::Future<std::string> leased = store->future<std::string>(future_options);
  leased.set_result("leased future");
  ps::Future<std::string> added = store->future<std::string>();
  lease->add(*store, added.key());                              // the other order: the lease first
  added.set_result(std::string(std::size_t{300} << 10U, 'F'));  // chunked, too
  std::cout << "written" << std::endl;
  std::raise(SIGKILL);
  return 4;  // unreachable
}

ps::RedisOptions lease_all_options(const std::string& prefix) {
  ps::RedisOptions options;
  options.key_prefix = prefix;
  options.chunk_size = std::size_t{128} << 10U;  // 300 KB values: 3 chunks
  return options;
}

int static_file(const std::string& directory) {
  auto store = std::make_shared<ps::FileStore>("lifetime-producer", directory);
  ps::ProxyOptions options;
  options.lifetime = ps::StaticLifetime::instance();
  const auto leased = store->proxy(std::string("until exit"), options);
  const auto kept = store->proxy(std::string("forever"));
  std::cout << key_of(leased) << ' ' << key_of(kept) << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "lease-redis" && argc == 6)
      return lease_redis(argv[2], std::stoi(argv[3]), argv[4], std::stoi(argv[5]));
    if (mode == "lease-all-redis" && argc == 6) {
      return lease_all(
          std::make_shared<ps::RedisStore>("lifetime-producer", argv[2], std::stoi(argv[3]),
                                           lease_all_options(argv[4])),
          std::stoi(argv[5]));
    }
    if (mode == "lease-all-cluster" && argc == 5) {
      return lease_all(
          std::make_shared<ps::RedisClusterStore>(
              "lifetime-producer", std::vector<std::string>{argv[2]}, lease_all_options(argv[3])),
          std::stoi(argv[4]));
    }
    if (mode == "static-file" && argc == 3)
      return static_file(argv[2]);
    std::cerr << "usage: lifetime_producer lease-redis <host> <port> <prefix> <lease_ms> | "
                 "lease-all-redis <host> <port> <prefix> <lease_ms> | "
                 "lease-all-cluster <host:port> <prefix> <lease_ms> | static-file <directory>\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 3;
  }
}
