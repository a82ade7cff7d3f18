// SPDX-License-Identifier: Apache-2.0
// 8 threads get and put values from 10 B to 2 MB at once through one
// EndpointStore client and its PeerStore owner: eager messages, rendezvous
// replies received into a buffer, and rendezvous values received straight
// into the caller's object (PendingValue::receive), all on one progress
// thread each side. Tagged [concurrency]: CI runs it under TSan.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::test::unique_name;

TEST_CASE("PeerStore: 8 threads move eager and rendezvous values at once", "[peer][concurrency]") {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(10000);
  options.command_timeout = std::chrono::milliseconds(60000);  // TSan is slow
  options.store.cache_size = 0;
  auto owner = std::make_shared<PeerStore>(unique_name("peer-mt"), options);
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), options);
  const std::vector<std::size_t> sizes = {
      10, 200, 5000, 70000, std::size_t{1} << 20U, (std::size_t{2} << 20U) + 5};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 12; ++i) {
        const std::size_t size = sizes[static_cast<std::size_t>(t + i) % sizes.size()];
        std::string value(size, static_cast<char>('a' + (t + i) % 26));
        value.front() = static_cast<char>(t);
        // Put by the owner (a local insert) or by the client (a transfer),
        // read back by the client: into the string (direct), a map (through
        // a buffer) or a batch (one reply for several values).
        const proxystore::Key key = (i % 2 == 0) ? owner->set(value) : client->set(value);
        switch (i % 3) {
          case 0:
            if (client->get<std::string>(key) != value)
              ++failures;
            break;
          case 1: {
            const std::map<int, std::string> map{{t, value}};
            const proxystore::Key map_key = client->set(map);
            if (client->get<std::map<int, std::string>>(map_key) != map)
              ++failures;
            client->evict(map_key);
            break;
          }
          default: {
            const auto values = client->get_batch<std::string>({key, key});
            if (values.size() != 2 || values[0] != value || values[1] != value)
              ++failures;
            break;
          }
        }
        client->evict(key);
        if (owner->exists(key))
          ++failures;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(failures.load() == 0);
  CHECK(owner->memory_bytes() == 0);
}

#endif  // PROXYSTORE_HAS_UCX
