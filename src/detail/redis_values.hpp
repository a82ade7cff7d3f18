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

/// The companion list of a future's key: set_result pushes a token to it,
/// waiters BLPOP it (and push it back for the next waiter).
std::string ready_key(std::string_view redis_key);

/// A Redis timeout argument in seconds (BLPOP takes decimals; 0 would
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
