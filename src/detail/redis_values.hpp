// SPDX-License-Identifier: Apache-2.0
// Private: small pieces shared by the Redis backends (RedisStore and
// RedisClusterStore): reply views, the future companion key, chunk
// manifests checked against the store's limits, and the config options
// both store types understand.
#pragma once

#include "detail/redis_chunks.hpp"
#include "detail/redis_connection.hpp"

#include <proxystore/config.hpp>
#include <proxystore/stores/redis.hpp>

#include <chrono>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>

namespace proxystore::detail {

/// Hands a whole hiredis reply up as the owner of a Bytes (no copy).
inline std::shared_ptr<const void> share(RedisReplyPtr reply) {
  return {reply.release(), RedisReplyDeleter{}};
}

/// The payload of a string reply.
inline std::string_view view_of(const redisReply& reply) {
  return {reply.str, reply.len};
}

/// The companion list of a future's key: set_result pushes a token to it;
/// waiters block in BRPOPLPUSH from the list to itself, so the token is
/// never taken away (every waiter sees it; nothing is ever pushed back,
/// which would recreate an expired or evicted list without its TTL).
std::string ready_key(std::string_view redis_key);

/// The lease marker of a key: written (with the lease's TTL) when a lease
/// expires a key, so that a value written later under the key — a
/// future's result — is written with the same TTL (put_result_script).
std::string lease_key(std::string_view redis_key);

/// Lua, KEYS = key, ready, lease; ARGV = ttl in ms: PEXPIRE on the key and
/// its ready list, and the lease marker set to expire with them, all at
/// once. Returns PEXPIRE's answer for the key (0: no value yet).
extern const char* const expire_script;

/// Lua, KEYS = key, ready, lease; ARGV = value, ttl in ms (0: the lease
/// marker's remaining TTL, if any): SET the value and RPUSH the wake-up
/// token, both with that TTL, atomically — a writer killed at any point
/// leaves either nothing or both, expiring. Returns the TTL used (<= 0:
/// none).
extern const char* const put_result_script;

/// Lua, KEYS = ready; ARGV = ttl in ms (0: none): RPUSH the wake-up token
/// and give the list the TTL, atomically. One key, so a Redis Cluster runs
/// it also on a slot being migrated (where a script on several keys, some
/// missing, gets TRYAGAIN until the migration ends).
extern const char* const token_script;

/// `EVAL <script> 3 <key> <ready> <lease>` plus `args`, all viewed: the
/// caller keeps every one alive while the command is in use.
RedisArgs eval_on_key(const char* script, const std::string& key, const std::string& ready,
                      const std::string& lease, std::initializer_list<std::string_view> args);

/// A Redis timeout argument in seconds (BRPOPLPUSH takes decimals; 0 would
/// block forever, so never less than a millisecond).
std::string blocking_seconds(std::chrono::milliseconds timeout);

/// Whether `head + body` begins with the chunk-manifest magic (such a
/// value must itself be stored chunked, see redis_chunks.hpp).
bool looks_like_manifest(std::string_view head, std::string_view body);

/// Decodes the manifest read under `key`. Throws StoreOperationError if it
/// is corrupt and SerializationError if the value it announces exceeds
/// `max_object_size`; `subject` (an endpoint's subject) starts messages.
ChunkManifest checked_manifest(std::string_view subject, std::string_view key,
                               std::string_view value, std::size_t max_object_size);

/// The failure a chunk reply that is neither the chunk (of `expected`
/// bytes) nor nil stands for, as an exception to rethrow.
std::exception_ptr chunk_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                                     const redisReply& reply, std::string_view chunk_key,
                                     std::uint64_t expected);

/// The config options every Redis store type writes: username, key_prefix,
/// connect_timeout_ms, command_timeout_ms (never the password).
void add_common_redis_options(const RedisOptions& options, std::map<std::string, std::string>& out);

/// Reads the options add_common_redis_options writes (each optional) into
/// `options` — timeouts clamped by clamp_rebuilt_timeout — and clears the
/// password (the caller binds one per endpoint: redis_credentials.hpp).
/// Throws Error naming `config.name` on a malformed value.
void read_common_redis_options(const StoreConfig& config, RedisOptions& options);

/// A timeout read from a config, capped by the store policy's max_timeout:
/// 0 (unbounded) or anything larger becomes max_timeout.
std::chrono::milliseconds clamp_rebuilt_timeout(std::chrono::milliseconds timeout);

/// Reads option `option` of `config` as an integer in [min, max];
/// `fallback` if absent (when there is none, a missing option throws).
long long integer_option(const StoreConfig& config, const char* option, long long min,
                         long long max, std::optional<long long> fallback);

}  // namespace proxystore::detail
