// SPDX-License-Identifier: Apache-2.0
// Not a benchmark: a translation unit to disassemble. bench/run.sh prints
// the machine code of these two functions (objdump), and
// docs/performance.md quotes it: access through a resolved proxy costs one
// load of the shared state, one (acquire) load of the target pointer and
// their null checks, on top of the plain access.
#include <proxystore/proxy.hpp>

#include <cstddef>
#include <vector>

std::size_t proxied_size(const proxystore::Proxy<std::vector<double>>& proxy) {
  return proxy->size();
}

std::size_t direct_size(const std::vector<double>& vector) {
  return vector.size();
}
