// SPDX-License-Identifier: Apache-2.0
// Private: the addresses and error replies a Redis Cluster speaks in —
// "host:port", MOVED / ASK redirections, and the transient refusals
// (TRYAGAIN, CLUSTERDOWN) worth retrying.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::detail {

/// A host and port, as in "host:port" ("[::1]:7000" for IPv6).
struct HostPort {
  std::string host;
  int port = 0;

  /// "host:port" (IPv6 hosts in brackets).
  [[nodiscard]] std::string address() const;
};

/// Parses "host:port" or "[v6]:port"; nullopt if malformed (empty host,
/// port outside 1-65535).
std::optional<HostPort> parse_host_port(std::string_view text);

/// Parses the seed nodes a cluster client is given ("host:port", IPv6 as
/// "[::1]:7000").
/// @throws Error "<subject>: invalid options: ..." when there are none or
///         one is malformed (the seed is quoted, escaped).
std::vector<HostPort> parse_seed_nodes(std::string_view subject,
                                       const std::vector<std::string>& seeds);

/// A redirection read from an error reply: `MOVED <slot> <host>:<port>`
/// (the slot lives elsewhere now) or `ASK <slot> <host>:<port>` (this one
/// key is being migrated: ask there once, after ASKING).
struct ClusterRedirect {
  enum class Kind { moved, ask } kind = Kind::moved;
  int slot = 0;
  HostPort target;
};

/// The redirection an error reply's text (without '-') carries, if any.
std::optional<ClusterRedirect> parse_redirect(std::string_view error_text);

/// Whether an error reply is a passing cluster condition worth retrying
/// after a pause: TRYAGAIN (a multi-key command mid-migration),
/// CLUSTERDOWN (the cluster is failing over) or MASTERDOWN / LOADING.
bool is_transient_cluster_error(std::string_view error_text);

}  // namespace proxystore::detail
