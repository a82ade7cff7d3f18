// SPDX-License-Identifier: Apache-2.0
// A separate producer process for cross-process tests: stores a value read
// from stdin and writes the serialized Proxy<T> to stdout.
//
//   proxy_producer file <directory> <store-name> <string|vector_f64> [evict]
//   proxy_producer local <store-name> <string|vector_f64>
//
// stdin: the value (string: the raw bytes; vector_f64: whitespace-separated
// numbers). stdout: serialize(Proxy<T>); exit 0. On failure:
// "error: <message>" on stderr, exit 3. Usage errors exit 2.
#include <proxystore/proxystore.hpp>

#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace {

int usage() {
  std::cerr << "usage: proxy_producer file <directory> <store-name> <string|vector_f64> [evict]\n"
               "       proxy_producer local <store-name> <string|vector_f64>\n";
  return 2;
}

int produce(proxystore::Store& store, const std::string& type, proxystore::ProxyOptions options) {
  const std::string input((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  if (type == "string") {
    std::cout << proxystore::serialize(store.proxy(input, options));
  } else if (type == "vector_f64") {
    std::istringstream numbers(input);
    std::vector<double> values((std::istream_iterator<double>(numbers)),
                               std::istream_iterator<double>());
    std::cout << proxystore::serialize(store.proxy(std::move(values), options));
  } else {
    return usage();
  }
  std::cout.flush();
  return std::cout ? 0 : 3;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 4 && args[0] == "file") {
      proxystore::ProxyOptions options;
      options.evict = args.size() == 5 && args[4] == "evict";
      auto store = std::make_shared<proxystore::FileStore>(args[2], args[1]);
      return produce(*store, args[3], options);
    }
    if (args.size() == 3 && args[0] == "local") {
      auto store = std::make_shared<proxystore::LocalStore>(args[1]);
      return produce(*store, args[2], {});
    }
    return usage();
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << '\n';
    return 3;
  }
}
