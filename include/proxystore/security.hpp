// SPDX-License-Identifier: Apache-2.0
/// \file
/// Defences against forged proxies: a store allow-list and factory signing.
#pragma once

// Security model
// --------------
// A serialized proxy is data from a peer. Decoding it is always safe
// (bounded, see serialize.hpp); *resolving* it makes this process act on
// the proxy's StoreConfig — connect to its Redis host, open files in its
// directory. Two independent, optional-to-tune defences limit what a
// forged or tampered proxy can make a consumer do:
//
// * The store policy (allow-list). get_or_create_store() consults it
//   before it REBUILDS a store from a config; a store this process
//   registered itself is never checked. The default policy allows the
//   types "local", "file", "redis", "redis-cluster" and "peer" plus every other type
//   this process registered a builder for with register_store_type(); a config
//   with a "hostname" option (and each "host:port" of a "seeds" option) must
//   name a loopback host (localhost, 127.0.0.0/8, ::1) or a host listed in
//   PROXYSTORE_ALLOWED_HOSTS; a config with a "directory"
//   option must lie under one of PROXYSTORE_ALLOWED_DIRS when that
//   variable is set, judged by its real path (it must exist: a store
//   rebuilt from a config never creates its directory). Whatever the
//   policy (also allow_all()), no config string — type, name, option name
//   or value — may hold a NUL or another control byte: the bytes judged are
//   the bytes a C API (resolver, open()) will see. Refusals throw
//   ForbiddenStoreError.
//
// * Signing. With a key set (set_signing_key(), or PROXYSTORE_SIGNING_KEY
//   read once at first use), every serialized factory — and so every
//   serialized proxy — carries an HMAC-SHA256 of its result type name,
//   kind and payload (every byte that decides what it does), and
//   loading one verifies it before decoding the payload: an unsigned,
//   tampered or foreign-key factory throws SignatureError. Without a key
//   the signature is empty (one byte on the wire) and never checked.
//
// Neither defence hides data: payloads are not encrypted, and a signed
// proxy can be replayed by anyone who holds a copy. See docs/reliability.md.
//
// Whatever a proxy says, a rebuilt store is also bounded by consumer-side
// limits (StorePolicy::max_timeout, max_rebuilt_stores), and a rebuilt
// Redis store sends a password only to the host:port it is bound to
// (PROXYSTORE_REDIS_AUTH, PROXYSTORE_REDIS_AUTH_FILE; see stores/redis.hpp).

#include <proxystore/config.hpp>
#include <proxystore/errors.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore {

/// What get_or_create_store() may rebuild from a config it did not create.
/// Patterns are matched case-insensitively against a config's "hostname"
/// and "port" options:
///   `host`         that host, any port
///   `host:port`    that host and port (IPv6 as `[::1]:6379`)
///   `host:*`       same as `host`
///   `*.suffix`     any host ending in `.suffix`
///   `*`            any host
struct StorePolicy {
  /// Store types that may be rebuilt ("*": any). Default: the built-in types.
  std::vector<std::string> allowed_types = {"local", "file", "redis", "redis-cluster", "peer"};
  /// Also allow every other type this process has a builder for (one it
  /// registered with register_store_type(): registering a builder is
  /// already a decision to trust it). The built-in types "local", "file",
  /// "redis", "redis-cluster" and "peer" are governed by allowed_types alone.
  bool allow_registered_types = true;
  /// Allow hostnames that name this machine's loopback interface
  /// (`localhost`, `127.0.0.0/8`, `::1`).
  bool allow_loopback = true;
  /// Further allowed hosts (patterns above). Default: the comma-separated
  /// PROXYSTORE_ALLOWED_HOSTS.
  std::vector<std::string> allowed_hosts;
  /// Directory prefixes a "directory" option must lie under, compared
  /// whole path component by component: the option's real path (symlinks
  /// and ".." resolved, so it must exist) against each prefix's; empty
  /// allows any directory. Default: the comma-separated
  /// PROXYSTORE_ALLOWED_DIRS.
  std::vector<std::string> allowed_dirs;
  /// An extra check run after the ones above; it refuses a config by
  /// throwing (preferably ForbiddenStoreError).
  std::function<void(const StoreConfig&)> check;

  /// Consumer-side cap on the connect and command timeouts of a Redis or
  /// Redis Cluster store rebuilt from a config: a config's timeout of 0
  /// (unbounded) or above the cap becomes the cap, so a forged proxy
  /// pointing at a silent listener cannot hang this process. 0 or less
  /// disables the cap (not recommended). Stores built by this process are
  /// not affected.
  std::chrono::milliseconds max_timeout{std::chrono::seconds(60)};

  /// How many stores get_or_create_store() rebuilt from configs stay
  /// registered. Beyond it the least recently used rebuilt store is
  /// unregistered (and closed once no proxy or caller still holds it), so
  /// a stream of forged store names cannot pile up stores and open
  /// connections. Stores registered by this process (register_store,
  /// store.proxy()) are never evicted and not counted. Values below 1 act
  /// as 1.
  std::size_t max_rebuilt_stores = 64;

  /// The largest message a transport helper accepts from a peer before
  /// decoding it — e.g. a serialized proxy received over MPI (mpi.hpp):
  /// the size is probed first and a larger message is refused, never
  /// allocated. Proxies are about 100 bytes; the default is 1 MiB.
  std::size_t max_message_size = std::size_t{1} << 20U;

  /// The largest object this process decodes from what another process
  /// sent through a message system rather than a store — a stream event
  /// and the object it carries inline: ConsumerOptions::max_event_size
  /// defaults to it (read when the consumer is made). A larger event is
  /// refused (SerializationError) before decoding. The default is 1 GiB.
  std::size_t max_object_size = std::size_t{1} << 30U;

  /// The default policy: the members' defaults above, with allowed_hosts
  /// and allowed_dirs read from PROXYSTORE_ALLOWED_HOSTS and
  /// PROXYSTORE_ALLOWED_DIRS now.
  static StorePolicy from_environment();

  /// A policy that allows every type, host and directory (the behaviour of
  /// a library without an allow-list). Use only when every proxy comes from
  /// a trusted peer. The resource limits (max_timeout, max_rebuilt_stores)
  /// keep their defaults.
  static StorePolicy allow_all();
};

/// Replaces the process-wide store policy (thread-safe). Stores already
/// registered are unaffected.
void set_store_policy(StorePolicy policy);

/// The policy in force. Until set_store_policy() is called it is
/// StorePolicy::from_environment(), read once at first use.
StorePolicy store_policy();

/// Throws ForbiddenStoreError (naming the store, its type and its
/// host:port or directory) unless the policy in force allows rebuilding a
/// store from `config`. get_or_create_store() calls it before building.
/// @throws ForbiddenStoreError if the config is refused (also: any config
///         string holding a control byte, whatever the policy).
/// @throws StoreOperationError if the policy lists allowed directories and
///         the config's "directory", spelled under one of them, does not exist.
void check_store_config(const StoreConfig& config);

/// Whether `hostname` names the loopback interface: `localhost`, a
/// dotted quad in 127.0.0.0/8, or `::1` (optionally in brackets). Other
/// spellings (`127.1`, `0x7f000001`, names resolving to 127.0.0.1) are
/// deliberately not recognised: allow them explicitly if needed.
bool is_loopback_host(std::string_view hostname);

/// Sets the key that signs every serialized factory (and proxy) and that
/// every loaded one must be signed with. Both sides must hold the same
/// key. Overrides PROXYSTORE_SIGNING_KEY.
/// @throws Error if `key` is empty.
void set_signing_key(std::string key);

/// Turns signing off: factories are written unsigned and loaded without
/// verification. PROXYSTORE_SIGNING_KEY is not read again.
void clear_signing_key();

/// Whether a signing key is in force (PROXYSTORE_SIGNING_KEY is read at
/// the first call of this or of any signing operation).
bool signing_enabled();

namespace detail {

/// The 32-byte HMAC-SHA256 of a factory's (result type, kind, payload)
/// under the signing key in force, or "" when no key is set.
/// `result_type` is type_name<T>() of the factory's result, so a signature
/// does not survive re-typing the proxy.
std::string sign_factory(std::string_view kind, std::string_view payload,
                         std::string_view result_type);

/// Verifies a loaded factory's signature when a key is in force (a no-op
/// otherwise). `result_type` is the type name of the result type the
/// factory is being loaded as: it is covered by the signature.
/// @throws SignatureError if the signature is missing or does not match.
void verify_factory(std::string_view kind, std::string_view payload, std::string_view signature,
                    std::string_view result_type);

/// Throws ForbiddenStoreError (naming the store, its type and
/// `hostname`:`port`) unless the policy in force allows a store rebuilt
/// from `config` to connect to that host. check_store_config() applies it
/// to a config's "hostname" and to each of its "seeds"; a rebuilt
/// RedisClusterStore applies it to every node the cluster names.
void check_store_host(const StoreConfig& config, std::string_view hostname, std::string_view port);

/// Throws ForbiddenStoreError (naming the store, its type and `directory`)
/// if `directory` holds control bytes, or if the policy in force lists
/// allowed directories and the real path of `directory` (symlinks and ".."
/// resolved by the kernel, as the FileStore will open it) lies under none
/// of them. A directory that does not exist cannot be judged: it is refused
/// when its spelling lies outside every allowed directory, and otherwise
/// reported as StoreOperationError (a store rebuilt from a config never
/// creates its directory). check_store_config() applies it to a config's
/// "directory" option.
void check_store_directory(const StoreConfig& config, const std::string& directory);

/// Whether this process has a builder for store `type` (registry.cpp).
bool has_store_builder(std::string_view type);

}  // namespace detail
}  // namespace proxystore
