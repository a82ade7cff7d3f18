// SPDX-License-Identifier: Apache-2.0
// A stream consumer in its own process, for the stream tests: reads a
// topic from a RedisStreamBroker on 127.0.0.1, alone (fan-out) or in a
// group, resolves every item (a std::string; stored items through the
// store named in their proxy) and prints it.
//
//   stream_member <port> <topic> <group|-> <claim_after_ms> <timeout_ms> <die_after>
//
// stdout: one line per item — the item up to its first '|' — then "END"
// at end-of-stream; exit 0. With die_after > 0 the process SIGKILLs itself
// right after printing that many items (their acknowledgements unsent).
// On failure: "error: <message>" on stdout, exit 3.
#include <proxystore/proxystore.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  using namespace proxystore;  // NOLINT(google-build-using-namespace): test helper
  if (argc != 7) {
    std::cerr << "usage: stream_member <port> <topic> <group|-> <claim_after_ms> <timeout_ms> "
                 "<die_after>\n";
    return 2;
  }
  try {
    const int port = std::stoi(argv[1]);
    const std::string topic = argv[2];
    ConsumerOptions options;
    if (std::string(argv[3]) != "-")
      options.group = argv[3];
    options.claim_after = std::chrono::milliseconds(std::stol(argv[4]));
    options.timeout = std::chrono::milliseconds(std::stol(argv[5]));
    const long die_after = std::stol(argv[6]);
    auto broker = std::make_shared<RedisStreamBroker>("127.0.0.1", port);
    StreamConsumer<std::string> consumer(broker, topic, options);
    long printed = 0;
    std::string out;
    for (StreamItem<std::string>& item : consumer) {
      const std::string& value = item.proxy;
      out.assign(value, 0, value.find('|'));
      out += '\n';
      std::fwrite(out.data(), 1, out.size(), stdout);
      if (die_after > 0 && ++printed == die_after) {
        std::fflush(stdout);
        std::raise(SIGKILL);
      }
    }
    std::fputs("END\n", stdout);
    return 0;
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 3;
  }
}
