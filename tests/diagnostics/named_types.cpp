// SPDX-License-Identifier: Apache-2.0
// Must compile with -DPROXYSTORE_REQUIRE_TYPE_NAMES: every type it stores is
// named (standard containers spell their element types and never name
// their allocators, comparators or hashers).
#include <proxystore/proxystore.hpp>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

struct Mesh {
  int cells = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(cells);
  }
};
PROXYSTORE_TYPE_NAME(Mesh, "diagnostics.mesh");

int main() {
  auto store = std::make_shared<proxystore::LocalStore>("diagnostics");
  auto mesh = store->proxy(Mesh{});
  auto table = store->proxy(std::unordered_map<std::string, std::vector<double>>{});
  auto mixed = store->proxy(std::map<int, std::variant<std::string, std::optional<float>>>{});
  auto tuple = store->proxy(std::tuple<Mesh, std::vector<Mesh>>{});
  const std::string bytes = proxystore::serialize(mesh);
  return mesh->cells + static_cast<int>(table->size() + mixed->size() + bytes.size() * 0) +
         std::get<0>(*tuple).cells;
}
