// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_values.hpp"

#include <proxystore/errors.hpp>
#include <proxystore/security.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <system_error>

namespace proxystore::detail {

std::string ready_key(std::string_view redis_key) {
  std::string out(redis_key);
  out.append(":ready");
  return out;
}

std::string lease_key(std::string_view redis_key) {
  std::string out(redis_key);
  out.append(":lease");
  return out;
}

const char* const expire_script =
    "local n = redis.call('PEXPIRE', KEYS[1], ARGV[1])\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[1])\n"
    "redis.call('SET', KEYS[3], '1', 'PX', ARGV[1])\n"
    "return n\n";

const char* const put_result_script =
    "local t = tonumber(ARGV[2])\n"
    "if t <= 0 then t = redis.call('PTTL', KEYS[3]) end\n"
    "if t > 0 then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', t)\n"
    "  redis.call('RPUSH', KEYS[2], '1')\n"
    "  redis.call('PEXPIRE', KEYS[2], t)\n"
    "else\n"
    "  redis.call('SET', KEYS[1], ARGV[1])\n"
    "  redis.call('RPUSH', KEYS[2], '1')\n"
    "end\n"
    "return t\n";

const char* const token_script =
    "redis.call('RPUSH', KEYS[1], '1')\n"
    "local t = tonumber(ARGV[1])\n"
    "if t > 0 then redis.call('PEXPIRE', KEYS[1], t) end\n"
    "return t\n";

RedisArgs eval_on_key(const char* script, const std::string& key, const std::string& ready,
                      const std::string& lease, std::initializer_list<std::string_view> args) {
  RedisArgs out(6 + args.size());
  out.add("EVAL").add(script).add("3").add(key).add(ready).add(lease);
  for (std::string_view arg : args)
    out.add(arg);
  return out;
}

std::string blocking_seconds(std::chrono::milliseconds timeout) {
  const long long ms = std::max<long long>(1, timeout.count());
  return fmt::format("{}.{:03}", ms / 1000, ms % 1000);
}

bool looks_like_manifest(std::string_view head, std::string_view body) {
  if (head.size() >= chunk_manifest_magic.size())
    return is_chunk_manifest(head);
  std::string prefix(head);
  prefix.append(body.substr(0, chunk_manifest_magic.size() - head.size()));
  return is_chunk_manifest(prefix);
}

ChunkManifest checked_manifest(std::string_view subject, std::string_view key,
                               std::string_view value, std::size_t max_object_size) {
  std::optional<ChunkManifest> manifest = decode_chunk_manifest(value);
  if (!manifest) {
    throw StoreOperationError(
        fmt::format("{}: GET \"{}\" failed: corrupt chunk manifest", subject, key));
  }
  if (manifest->total > max_object_size ||
      manifest->total > std::numeric_limits<std::size_t>::max()) {
    throw SerializationError(fmt::format(
        "{}: key \"{}\": object of {} bytes exceeds the maximum object size of {} bytes", subject,
        key, manifest->total, max_object_size));
  }
  return *manifest;
}

std::exception_ptr chunk_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                                     const redisReply& reply, std::string_view chunk_key,
                                     std::uint64_t expected) {
  try {
    if (reply.type == REDIS_REPLY_STRING) {
      throw StoreOperationError(
          fmt::format("{}: GET \"{}\" failed: the chunk has {} bytes, its manifest says {}",
                      endpoint.subject(), chunk_key, reply.len, expected));
    }
    if (reply.type == REDIS_REPLY_ERROR)
      throw_reply_error(endpoint, operation, reply);
    throw_unexpected_reply(endpoint, operation, reply);
  } catch (...) {
    return std::current_exception();
  }
}

void add_common_redis_options(const RedisOptions& options,
                              std::map<std::string, std::string>& out) {
  out["username"] = options.username;
  out["key_prefix"] = options.key_prefix;
  out["connect_timeout_ms"] = std::to_string(options.connect_timeout.count());
  out["command_timeout_ms"] = std::to_string(options.command_timeout.count());
}

long long integer_option(const StoreConfig& config, const char* option, long long min,
                         long long max, std::optional<long long> fallback) {
  auto it = config.options.find(option);
  if (it == config.options.end()) {
    if (fallback)
      return *fallback;
    throw Error(fmt::format("{} store \"{}\": config has no '{}' option", config.type, config.name,
                            option));
  }
  const std::string& text = it->second;
  long long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty() || value < min ||
      value > max) {
    throw Error(
        fmt::format(R"({} store "{}": config option '{}' must be an integer in [{}, {}], got "{}")",
                    config.type, config.name, option, min, max, text));
  }
  return value;
}

std::chrono::milliseconds clamp_rebuilt_timeout(std::chrono::milliseconds timeout) {
  // A config comes from a peer: 0 (no bound) or a huge value pointed at a
  // silent listener would hang the consumer, so the policy caps both.
  const std::chrono::milliseconds cap = store_policy().max_timeout;
  if (cap.count() <= 0)
    return timeout;
  return timeout.count() <= 0 || timeout > cap ? cap : timeout;
}

void read_common_redis_options(const StoreConfig& config, RedisOptions& options) {
  using Ms = std::chrono::milliseconds::rep;
  constexpr long long max_ms = std::numeric_limits<Ms>::max() / 1000;
  options.connect_timeout = clamp_rebuilt_timeout(std::chrono::milliseconds(
      integer_option(config, "connect_timeout_ms", 0, max_ms, options.connect_timeout.count())));
  options.command_timeout = clamp_rebuilt_timeout(std::chrono::milliseconds(
      integer_option(config, "command_timeout_ms", 0, max_ms, options.command_timeout.count())));
  if (auto it = config.options.find("username"); it != config.options.end())
    options.username = it->second;
  if (auto it = config.options.find("key_prefix"); it != config.options.end())
    options.key_prefix = it->second;
  // Secrets never travel in a config, and no process-wide password is sent
  // to whatever endpoint a config names: the caller binds credentials per
  // host:port (redis_credentials.hpp).
  options.password.clear();
}

}  // namespace proxystore::detail
