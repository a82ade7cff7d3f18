// SPDX-License-Identifier: Apache-2.0
// Consumer smoke test: built against proxystore by find_package(),
// add_subdirectory() and pkg-config (see tests/consumer/ConsumerTests.cmake).
#include <proxystore/proxystore.hpp>

#include <iostream>
#include <memory>
#include <string>

int main() {
  const std::string expected = "hello from a proxystore consumer";
  auto store = std::make_shared<proxystore::LocalStore>("consumer-store");
  proxystore::Proxy<std::string> proxy = store->proxy(expected);

  const std::string bytes = proxystore::serialize(proxy);
  auto copy = proxystore::deserialize<proxystore::Proxy<std::string>>(bytes);

  const std::string& value = copy;
  if (value != expected) {
    std::cerr << "consumer: expected \"" << expected << "\", got \"" << value << "\"\n";
    return 1;
  }
  std::cout << "consumer: ok (proxystore " << PROXYSTORE_VERSION_MAJOR << '.'
            << PROXYSTORE_VERSION_MINOR << '.' << PROXYSTORE_VERSION_PATCH << ")\n";
  return 0;
}
