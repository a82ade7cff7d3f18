// SPDX-License-Identifier: Apache-2.0
// Must NOT compile with -DPROXYSTORE_REQUIRE_TYPE_NAMES: Mesh has no
// PROXYSTORE_TYPE_NAME.
#include <proxystore/proxystore.hpp>

struct Mesh {
  int cells = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cells);
  }
};

int main() {
  auto store = std::make_shared<proxystore::LocalStore>("diagnostics");
  auto proxy = store->proxy(Mesh{});
  return proxy->cells;
}
