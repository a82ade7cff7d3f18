// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/custom-factory.md.
#include <proxystore/proxystore.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "check.hpp"

namespace ps = proxystore;

//! [factory]
// A proxy to a file that already exists on a shared file system: nothing
// is copied into a store; the consumer reads the file on first use.
struct FileContentsFactory {
  static constexpr std::string_view kind = "example.file_contents";  // unique per result type

  std::string path;  // what travels

  std::string operator()() const {  // what runs on first use, in the consumer
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw ps::ProxyResolveMissingKeyError("file_contents factory: cannot open '" + path + "'");
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  template <class Archive>
  void serialize(Archive& ar) {  // cereal support (or save/load)
    ar(path);
  }
};
//! [factory]

int main() {
  return run_snippet("custom_factory", [] {
    const auto file = std::filesystem::temp_directory_path() / ("factory-" + ps::random_key().id);
    std::ofstream(file) << "contents on a shared disk";

    //! [register]
    // In every process that loads such proxies, before the first load.
    ps::register_factory_type<FileContentsFactory>();
    //! [register]

    //! [use]
    ps::Proxy<std::string> proxy{ps::Factory<std::string>(FileContentsFactory{file.string()})};
    const std::string wire = ps::serialize(proxy);  // kind + the path: a few dozen bytes

    auto received = ps::deserialize<ps::Proxy<std::string>>(wire);
    CHECK(ps::get_factory(received).kind() == "example.file_contents");
    CHECK(ps::get_factory(received).target<FileContentsFactory>()->path == file.string());
    CHECK(received == "contents on a shared disk");  // the factory runs here
    //! [use]

    //! [builtin]
    // SimpleFactory: the value travels inside the factory (small values only).
    ps::Proxy<int> answer{ps::Factory<int>(ps::SimpleFactory<int>(42))};
    CHECK(ps::deserialize<ps::Proxy<int>>(ps::serialize(answer)) == 42);

    // LambdaFactory (or any callable): this process only.
    ps::Proxy<int> computed{ps::Factory<int>(ps::LambdaFactory<int>([] { return 6 * 7; }))};
    try {
      (void)ps::serialize(computed);
      CHECK(false);
    } catch (const ps::NotSerializableError&) {  // "... cannot be serialized: it has no kind"
    }
    //! [builtin]
    std::filesystem::remove(file);
  });
}
