// SPDX-License-Identifier: Apache-2.0
// An owner process for the peer store tests: a PeerStore serving objects
// until its stdin closes (or it is killed).
//
//   peer_owner <store-name> <count> <size>
//   peer_owner --tls-check
//
// Stores <count> strings of <size> bytes (byte i of each is i * 31 + 7
// mod 256), then prints "address <host:port>" and one line per object with
// its serialized Proxy<std::string> in hex, and waits for EOF on stdin;
// exit 0. On failure: "error: <message>" on stdout, exit 3. Usage: exit 2.
// --tls-check (run under a UCX_TLS the test chooses): makes a PeerStore and
// fetches from it with an EndpointStore; prints the error it gets and exits
// 0, or "no error" and exits 1.
#include <proxystore/proxystore.hpp>

#include <iostream>

#if PROXYSTORE_HAS_UCX
#include <proxystore/stores/peer.hpp>

#include <chrono>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>

namespace {

int tls_check() {
  proxystore::PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(2000);
  try {
    auto store = std::make_shared<proxystore::PeerStore>("tls-check", options);
    auto client = std::make_shared<proxystore::EndpointStore>("tls-check-client", "127.0.0.1",
                                                              store->port(), options);
    (void)client->get<std::string>(proxystore::Key{"tls-check-key"});
  } catch (const proxystore::Error& e) {
    std::cout << e.what() << std::endl;
    return 0;
  }
  std::cout << "no error" << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--tls-check")
    return tls_check();
  if (argc != 4) {
    std::cerr << "usage: peer_owner <store-name> <count> <size>\n";
    return 2;
  }
  try {
    auto store = std::make_shared<proxystore::PeerStore>(argv[1]);
    const std::size_t count = std::stoul(argv[2]);
    const std::size_t size = std::stoul(argv[3]);
    std::string value(size, '\0');
    for (std::size_t i = 0; i < size; ++i)
      value[i] = static_cast<char>((i * 31 + 7) & 0xffU);
    std::cout << "address " << store->address() << '\n';
    static constexpr char digits[] = "0123456789abcdef";
    for (std::size_t n = 0; n < count; ++n) {
      const std::string bytes = proxystore::serialize(store->proxy(value));
      std::string line;
      for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        line.push_back(digits[byte >> 4U]);
        line.push_back(digits[byte & 15U]);
      }
      std::cout << line << '\n';
    }
    std::cout.flush();
    std::string ignored;
    while (std::getline(std::cin, ignored)) {
    }
    return 0;
  } catch (const std::exception& e) {
    std::cout << "error: " << e.what() << std::endl;
    return 3;
  }
}

#else

int main() {
  std::cerr << "peer_owner: built without UCX\n";
  return 2;
}

#endif
