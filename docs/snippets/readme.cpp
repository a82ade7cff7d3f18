// SPDX-License-Identifier: Apache-2.0
// The README's example (kept identical to it by docs/check_snippets.cmake).
//! [readme]
#include <proxystore/proxystore.hpp>

#include <filesystem>
#include <iostream>
#include <numeric>

namespace ps = proxystore;

double total(const std::vector<double>& v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}

int main() {
  // A store that other processes can read too: a directory of objects.
  auto store =
      std::make_shared<ps::FileStore>("demo", std::filesystem::temp_directory_path() / "ps");
  // Put 8 MB in the store, keep a proxy (evict: delete the object after its first use).
  auto proxy = store->proxy(std::vector<double>(1'000'000, 0.5), ps::ProxyOptions{/*evict=*/true});

  std::string wire = ps::serialize(proxy);  // ~70 bytes: send it through a pipe, a socket, a queue
  auto received = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);  // on the other side
  std::cout << total(received) << '\n';  // first use fetches the vector: prints 500000
}
//! [readme]
