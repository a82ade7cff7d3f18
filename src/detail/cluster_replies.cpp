// SPDX-License-Identifier: Apache-2.0
#include "detail/cluster_replies.hpp"

#include "detail/cluster_slots.hpp"

#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <charconv>
#include <system_error>

namespace proxystore::detail {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

/// A decimal integer that must fill `text` and lie in [min, max].
std::optional<int> parse_int(std::string_view text, int min, int max) {
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

std::string HostPort::address() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

std::vector<HostPort> parse_seed_nodes(std::string_view subject,
                                       const std::vector<std::string>& seeds) {
  if (seeds.empty())
    throw Error(fmt::format("{}: invalid options: no seed nodes", subject));
  std::vector<HostPort> out;
  out.reserve(seeds.size());
  for (const std::string& seed : seeds) {
    std::optional<HostPort> parsed = parse_host_port(seed);
    if (!parsed) {
      throw Error(fmt::format(
          "{}: invalid options: seed \"{}\" is not host:port (port in [1, 65535]; IPv6 as "
          "[addr]:port)",
          subject, printable(seed)));
    }
    out.push_back(std::move(*parsed));
  }
  return out;
}

std::optional<HostPort> parse_host_port(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return std::nullopt;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos)
    return std::nullopt;  // an IPv6 address needs its brackets
  const std::optional<int> port = parse_int(text.substr(colon + 1), 1, 65535);
  if (host.empty() || !port)
    return std::nullopt;
  return HostPort{std::string(host), *port};
}

std::optional<ClusterRedirect> parse_redirect(std::string_view error_text) {
  ClusterRedirect redirect;
  if (starts_with(error_text, "MOVED ")) {
    redirect.kind = ClusterRedirect::Kind::moved;
  } else if (starts_with(error_text, "ASK ")) {
    redirect.kind = ClusterRedirect::Kind::ask;
  } else {
    return std::nullopt;
  }
  const std::size_t first = error_text.find(' ');
  const std::size_t second = error_text.find(' ', first + 1);
  if (second == std::string_view::npos)
    return std::nullopt;
  const std::optional<int> slot =
      parse_int(error_text.substr(first + 1, second - first - 1), 0, cluster_slot_count - 1);
  std::optional<HostPort> target = parse_host_port(error_text.substr(second + 1));
  if (!slot || !target)
    return std::nullopt;
  redirect.slot = *slot;
  redirect.target = std::move(*target);
  return redirect;
}

bool is_transient_cluster_error(std::string_view error_text) {
  return starts_with(error_text, "TRYAGAIN") || starts_with(error_text, "CLUSTERDOWN") ||
         starts_with(error_text, "MASTERDOWN") || starts_with(error_text, "LOADING");
}

}  // namespace proxystore::detail
