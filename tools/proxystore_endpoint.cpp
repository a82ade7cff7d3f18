// SPDX-License-Identifier: Apache-2.0
// proxystore-endpoint: a long-lived server holding objects for the
// processes of a host, reached with EndpointStore (config type "peer").
//
//   proxystore-endpoint [--listen HOST:PORT] [--memory-limit SIZE] [--spill-dir DIR]
//                       [--receive-timeout MS]
//
// Prints "listening on HOST:PORT" once ready. Exit status: 0 after SIGTERM
// or SIGINT, 1 on bad arguments, 2 when it cannot listen. One line on
// stderr per connection error. A cache of the host's objects, not durable
// storage: a restart starts empty.
#include <proxystore/errors.hpp>

#include "detail/ucx_transport.hpp"

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace {

namespace ucx = proxystore::detail::ucx;

constexpr const char* usage_text =
    "usage: proxystore-endpoint [--listen HOST:PORT] [--memory-limit SIZE] [--spill-dir DIR]\n"
    "                           [--receive-timeout MS]\n"
    "  --listen HOST:PORT     where to listen (default 127.0.0.1:0; port 0: chosen)\n"
    "  --memory-limit SIZE    bytes held in memory (K, M, G suffixes; default unlimited)\n"
    "  --spill-dir DIR        objects beyond the memory limit go to files in DIR\n"
    "  --receive-timeout MS   a put's value must arrive within this many milliseconds of\n"
    "                         its announcement, else the client's connection is closed\n"
    "                         (default 35000: the clients' default timeouts, 5 s + 30 s)\n";

int usage(const std::string& problem) {
  std::cerr << "proxystore-endpoint: " << problem << '\n' << usage_text;
  return 1;
}

/// "123", "64K", "10M", "2G" (powers of 1024); nullopt when malformed.
std::optional<std::size_t> parse_size(const std::string& text) {
  if (text.empty())
    return std::nullopt;
  std::size_t digits = 0;
  unsigned long long value = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') {
    if (value > (~0ULL) / 10)
      return std::nullopt;
    value = value * 10 + static_cast<unsigned>(text[digits] - '0');
    ++digits;
  }
  if (digits == 0 || text.size() - digits > 1)
    return std::nullopt;
  unsigned shift = 0;
  if (digits < text.size()) {
    switch (text[digits]) {
      case 'K':
      case 'k':
        shift = 10;
        break;
      case 'M':
      case 'm':
        shift = 20;
        break;
      case 'G':
      case 'g':
        shift = 30;
        break;
      default:
        return std::nullopt;
    }
  }
  if (value > ((~0ULL) >> shift))
    return std::nullopt;
  return static_cast<std::size_t>(value << shift);
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 0;
  std::size_t memory_limit = 0;
  std::string spill_dir;
  std::chrono::milliseconds receive_timeout = ucx::Node::Listen{}.receive_timeout;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage_text;
      return 0;
    }
    if (i + 1 >= args.size())
      return usage(arg + " needs a value");
    const std::string& value = args[++i];
    if (arg == "--listen") {
      const auto colon = value.rfind(':');
      if (colon == std::string::npos || colon == 0)
        return usage("--listen wants HOST:PORT, not '" + value + "'");
      host = value.substr(0, colon);
      if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
      const std::optional<std::size_t> parsed = parse_size(value.substr(colon + 1));
      const std::string port_text = value.substr(colon + 1);
      if (!parsed || *parsed > 65535 ||
          port_text.find_first_not_of("0123456789") != std::string::npos)
        return usage("--listen: bad port in '" + value + "'");
      port = static_cast<int>(*parsed);
    } else if (arg == "--memory-limit") {
      const std::optional<std::size_t> parsed = parse_size(value);
      if (!parsed)
        return usage("--memory-limit wants bytes or a K/M/G suffix, not '" + value + "'");
      memory_limit = *parsed;
    } else if (arg == "--spill-dir") {
      spill_dir = value;
      std::error_code error;
      std::filesystem::create_directories(spill_dir, error);
      if (error || !std::filesystem::is_directory(spill_dir))
        return usage("--spill-dir: cannot use '" + value + "': " + error.message());
    } else if (arg == "--receive-timeout") {
      const std::optional<std::size_t> parsed =
          value.find_first_not_of("0123456789") == std::string::npos ? parse_size(value)
                                                                     : std::nullopt;
      // At most a day, like the other timeouts a peer can ask for.
      if (!parsed || *parsed == 0 || *parsed > 86400000)
        return usage("--receive-timeout wants milliseconds in [1, 86400000], not '" + value + "'");
      receive_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(*parsed));
    } else {
      return usage("unknown option " + arg);
    }
  }

  // SIGTERM and SIGINT are taken by sigwait below, in this thread only: block
  // them before any thread starts so none inherits them unblocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto log = [](const std::string& line) {
    std::cerr << "proxystore-endpoint: " << line << std::endl;
  };
  auto table = std::make_shared<ucx::ObjectTable>(memory_limit, spill_dir, "endpoint");
  std::unique_ptr<ucx::Node> node;
  try {
    node = std::make_unique<ucx::Node>(ucx::Node::Listen{host, port, receive_timeout}, table, log);
  } catch (const proxystore::Error& e) {
    std::cerr << "proxystore-endpoint: " << e.what() << std::endl;
    return 2;
  }
  table->set_label("endpoint at " + node->address());
  std::cout << "listening on " << node->address() << std::endl;

  int received = 0;
  sigwait(&stop_signals, &received);
  node.reset();
  return 0;
}
