// SPDX-License-Identifier: Apache-2.0
// Private: Redis credentials bound to the endpoints they belong to.
//
// A store rebuilt from a proxy connects where the proxy says. If it took
// its password from one process-wide variable, a forged proxy naming any
// reachable port would make the consumer send that password to whoever
// listens there. So a rebuilt store takes credentials only from an entry
// bound to its exact host:port:
//
//   PROXYSTORE_REDIS_AUTH       host:port=password or host:port=user:password,
//                               comma-separated
//   PROXYSTORE_REDIS_AUTH_FILE  a file with one such entry per line ('#'
//                               starts a comment line); refused unless only
//                               its owner can access it (chmod 600)
//
// Hosts compare case-insensitively, IPv6 in brackets ("[::1]:6379"), but
// otherwise as spelled: an entry for localhost:6379 does not cover
// 127.0.0.1:6379. The first entry naming an endpoint wins (the variable
// before the file).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::detail {

/// An ACL user (empty: the entry named none) and its password.
struct RedisCredentials {
  std::string username;
  std::string password;
};

/// One parsed entry: the endpoint and what is bound to it.
struct RedisAuthEntry {
  std::string host;  // lower case, without IPv6 brackets
  int port = 0;
  RedisCredentials credentials;
};

/// Parses `text`, entries separated by `separator` (',' for the variable,
/// '\n' for the file). Blank entries and, in files, lines starting with
/// '#' are skipped. `source` names where the text came from, for messages
/// (which never quote a password).
/// @throws Error naming `source` and the entry's position on a malformed
///         entry (no '=', a bad host:port, an empty password).
std::vector<RedisAuthEntry> parse_redis_auth(std::string_view text, char separator,
                                             std::string_view source);

/// The credentials PROXYSTORE_REDIS_AUTH or PROXYSTORE_REDIS_AUTH_FILE bind
/// to `host`:`port` (both read now), or nullopt.
/// @throws Error if either is malformed, or the file cannot be read or is
///         accessible by group or others.
std::optional<RedisCredentials> bound_redis_credentials(std::string_view host, int port);

/// Applies bound_redis_credentials(host, port) to a store rebuilt from a
/// config: the password is the bound one or none; the entry's user, if it
/// names one, replaces `username` (the config's).
void bind_redis_credentials(std::string_view host, int port, std::string& username,
                            std::string& password);

}  // namespace proxystore::detail
