// SPDX-License-Identifier: Apache-2.0
// Must NOT compile: Mesh has no cereal serialization. The diagnostics test
// expects proxystore's one static_assert, naming Mesh, not cereal's wall.
#include <proxystore/proxystore.hpp>

struct Mesh {
  int cells = 0;
};

int main() {
  auto store = std::make_shared<proxystore::LocalStore>("diagnostics");
  auto proxy = store->proxy(Mesh{});
  return proxy->cells;
}
