// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/cross-process.md: a producer and a consumer process
// exchanging a proxy through a file. (examples/04_two_processes.cpp does the
// same through a pipe, with more objects.)
#include <proxystore/proxystore.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;
namespace fs = std::filesystem;

//! [types]
// Shared by producer and consumer: the type and its portable name.
struct Mesh {
  std::vector<float> vertices;
  std::vector<int> triangles;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(vertices, triangles);
  }
};
PROXYSTORE_TYPE_NAME(Mesh, "example.mesh");
//! [types]

//! [producer]
void produce(const fs::path& store_dir, const fs::path& message) {
  auto store = std::make_shared<ps::FileStore>("meshes", store_dir);
  ps::Proxy<Mesh> mesh = store->proxy(Mesh{std::vector<float>(300'000, 0.5F), {0, 1, 2}});

  std::ofstream(message, std::ios::binary) << ps::serialize(mesh);  // ~100 bytes
}
//! [producer]

//! [consumer]
// Knows nothing about stores: it takes a Proxy<Mesh>, or just a const Mesh&.
std::size_t count_vertices(const Mesh& mesh) {
  return mesh.vertices.size();
}

int consume(const fs::path& message) {
  std::ifstream in(message, std::ios::binary);
  const std::string wire{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};

  auto mesh = ps::deserialize<ps::Proxy<Mesh>>(wire);  // no store registered here...
  return count_vertices(mesh) == 300'000 ? 0 : 1;      // ...the proxy rebuilds it, then fetches
}
//! [consumer]

void consumer_with_its_own_store() {
  //! [own_store]
  // A consumer may register a store under the name its proxies use before
  // resolving them: then that store, with its credentials and tuning, is
  // used instead of one rebuilt from the proxy's config.
  ps::RedisOptions options;
  options.password = "from this process's secret storage";
  options.pool_size = 16;
  options.store.cache_size = 0;
  ps::register_store(std::make_shared<ps::RedisStore>("meshes", "127.0.0.1", 6379, options));
  //! [own_store]
  CHECK(ps::get_store("meshes") != nullptr);
  ps::unregister_store("meshes");
}

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--consume")
    return run_snippet("cross_process consumer", [&] { CHECK(consume(argv[2]) == 0); });
  return run_snippet("cross_process", [] {
    consumer_with_its_own_store();
    const fs::path dir = fs::temp_directory_path() / ("cross-" + ps::random_key().id);
    produce(dir / "store", dir / "message.bin");
    // Another process: this program again, in consumer mode.
    const std::string command = fs::read_symlink("/proc/self/exe").string() + " --consume '" +
                                (dir / "message.bin").string() + "'";
    CHECK(std::system(command.c_str()) == 0);
    fs::remove_all(dir);
  });
}
