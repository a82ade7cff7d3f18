// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/concepts.md.
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

int main() {
  return run_snippet("concepts", [] {
    const auto dir = std::filesystem::temp_directory_path() / ("concepts-" + ps::random_key().id);
    //! [travels]
    auto store = std::make_shared<ps::FileStore>("datasets", dir);
    ps::Proxy<std::vector<double>> proxy = store->proxy(std::vector<double>(1'000'000, 1.0));

    // A proxy is a factory; a store proxy's factory is a StoreFactory.
    const ps::Factory<std::vector<double>>& factory = ps::get_factory(proxy);
    const auto& from_store = *factory.target<ps::StoreFactory<std::vector<double>>>();

    // Everything a serialized proxy carries:
    fmt::print("kind    {}\n", factory.kind());  // store
    fmt::print("config  {}\n",
               fmt::streamed(from_store.config()));  // file "datasets" {directory=/tmp/...}
    fmt::print("key     {}\n", from_store.key());    // 32 hex digits
    fmt::print("evict   {}\n", from_store.evict());  // false
    fmt::print("size    {} bytes\n", ps::serialize(proxy).size());  // ~90, not 8 MB
    //! [travels]
    CHECK(factory.kind() == "store");
    CHECK(ps::serialize(proxy).size() < 200);
    CHECK(!ps::is_resolved(proxy));  // inspecting the factory fetched nothing
    std::filesystem::remove_all(dir);
  });
}
