// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test of the minimal consumer header: built against the
// installed package (tests/consumer/find_package), it includes only
// <proxystore/consumer.hpp>, gets a store from a built-in builder, and
// round-trips a proxy through its wire form.
#include <proxystore/consumer.hpp>

#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

int main() {
  namespace ps = proxystore;
  std::shared_ptr<ps::Store> store =
      ps::get_or_create_store(ps::StoreConfig{"local", "consumer-minimal", {}});
  const std::string wire = ps::serialize(store->proxy(std::vector<double>{0.5, 1.5, 2.0}));
  auto proxy = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);
  const std::vector<double>& values = proxy;
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  if (proxy->size() != 3 || sum != 4.0) {
    std::fprintf(stderr, "consumer (minimal header): expected 3 values summing to 4, got %zu, %g\n",
                 proxy->size(), sum);
    return 1;
  }
  std::printf("consumer (minimal header): ok (proxystore %s)\n", PROXYSTORE_VERSION_STRING);
  return 0;
}
