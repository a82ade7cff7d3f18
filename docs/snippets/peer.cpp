// SPDX-License-Identifier: Apache-2.0
// Snippet of docs/peer.md: a PeerStore serves an object from this process's
// memory. Built with UCX it runs; without UCX there is nothing to show.
#include <proxystore/proxystore.hpp>
#if PROXYSTORE_HAS_UCX
#include <proxystore/stores/peer.hpp>
#endif

#include "check.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace ps = proxystore;

int main() {
#if PROXYSTORE_HAS_UCX
  return run_snippet("peer", [] {
    const std::vector<double> big_vector(1'000'000, 1.5);

    //! [peer]
    auto store = std::make_shared<ps::PeerStore>("results");  // listens on 127.0.0.1:<ephemeral>
    auto proxy = store->proxy(big_vector);                    // a local insert: no network
    const std::string wire = ps::serialize(proxy);            // send it to the consumer
    // The consumer's first access fetches the bytes from this process.
    //! [peer]

    CHECK(store->address().rfind("127.0.0.1:", 0) == 0);
    CHECK(wire.size() < 512);
    const auto received = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);
    CHECK(*received == big_vector);
  });
#else
  std::puts("peer: built without UCX, nothing to show");
  return 0;
#endif
}
