// SPDX-License-Identifier: Apache-2.0
// Compile-cost consumer (bench/compile_cost.sh): deserializes a
// Proxy<std::vector<double>> received from another process and uses it
// (resolution reads it from its store). Compiled twice: against the
// umbrella header (-DCOMPILE_COST_UMBRELLA) and against the minimal
// consumer header.
#ifdef COMPILE_COST_UMBRELLA
#include <proxystore/proxystore.hpp>
#else
#include <proxystore/consumer.hpp>
#endif

#include <fmt/format.h>

#include <numeric>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  namespace ps = proxystore;
  const std::string bytes = argc > 1 ? argv[1] : "";
  auto proxy = ps::deserialize<ps::Proxy<std::vector<double>>>(bytes);
  const std::vector<double>& values = proxy;
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  fmt::print("{} values, sum {}, first {}\n", proxy->size(), sum, values.empty() ? 0.0 : proxy[0]);
  return 0;
}
