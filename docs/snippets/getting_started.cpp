// SPDX-License-Identifier: Apache-2.0
// docs/getting-started.md: a first program. It is also the main.cpp of the
// CMake projects in docs/snippets/cmake/, built against the library the ways
// docs/cmake.md describes.
//! [main]
#include <proxystore/proxystore.hpp>

#include <iostream>
#include <memory>
#include <string>

int main() {
  namespace ps = proxystore;

  // 1. A store. LocalStore keeps objects in this process; FileStore and
  //    RedisStore share them with other processes.
  auto store = std::make_shared<ps::LocalStore>("my-store");

  // 2. Put an object in, get a proxy out.
  ps::Proxy<std::string> greeting = store->proxy(std::string("hello from proxystore"));

  // 3. A proxy serializes to a few bytes (where the object is, not what it is)...
  std::string wire = ps::serialize(greeting);

  // 4. ...and the copy made from those bytes resolves itself on first use.
  auto copy = ps::deserialize<ps::Proxy<std::string>>(wire);
  std::cout << copy << " (" << wire.size() << "-byte proxy, proxystore "
            << PROXYSTORE_VERSION_STRING << ")\n";
  return copy == "hello from proxystore" ? 0 : 1;
}
//! [main]
