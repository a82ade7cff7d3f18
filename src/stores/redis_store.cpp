// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/redis.hpp>

#include "detail/redis_chunks.hpp"
#include "detail/redis_connection.hpp"
#include "detail/redis_credentials.hpp"
#include "detail/redis_pool.hpp"
#include "detail/redis_values.hpp"

#include <fmt/format.h>

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <system_error>
#include <thread>
#include <typeinfo>
#include <utility>

namespace proxystore {

using detail::blocking_seconds;
using detail::ChunkManifest;
using detail::lease_key;
using detail::looks_like_manifest;
using detail::ready_key;
using detail::RedisArgs;
using detail::RedisConnection;
using detail::RedisEndpoint;
using detail::RedisFailure;
using detail::RedisOperation;
using detail::RedisReplyPtr;
using detail::share;
using detail::view_of;

namespace {

/// Bounds the bytes one pipelined window carries (MSET groups, chunk
/// writes and reads), so a huge batch neither builds one giant command
/// (Redis caps a client's query buffer at 1 GB) nor buffers unbounded
/// replies; small batches still fit one window, i.e. one round trip.
constexpr std::size_t window_bytes = std::size_t{64} << 20U;
/// Keys per UNLINK command when evicting a chunked value.
constexpr std::size_t keys_per_unlink = 1024;
/// Values at least this large are written with one writev from their own
/// memory (RedisConnection::send_direct) instead of through hiredis, which
/// would copy them into its output buffer first. Below it the copy is
/// cheaper than anything it could save.
constexpr std::size_t direct_write_bytes = std::size_t{64} << 10U;

/// A value to write under one Redis key.
struct PutItem {
  std::string key;
  std::string_view value;
};

/// A value written with SET/MSET: views of a PutItem's key and its value
/// or manifest.
struct DirectItem {
  std::string_view key;
  std::string_view value;
};

}  // namespace

struct RedisStore::Impl {
  Impl(std::string store_name, std::string host, int port_number, RedisOptions opts)
      : hostname(std::move(host)),
        port(port_number),
        options(std::move(opts)),
        pool(RedisEndpoint{std::move(store_name), hostname, port, options.username,
                           std::exchange(options.password, std::string()), options.db,
                           options.connect_timeout, options.command_timeout},
             options.pool_size) {}

  const std::string hostname;
  const int port;
  RedisOptions options;  // the password lives only in the pool's endpoint
  detail::RedisConnectionPool pool;

  const RedisEndpoint& endpoint() const noexcept { return pool.endpoint(); }

  std::string redis_key(const Key& key) const {
    std::string out;
    out.reserve(options.key_prefix.size() + key.id.size());
    out.append(options.key_prefix).append(key.id);
    return out;
  }

  /// Runs `body` on a borrowed connection. If a connection that sat idle
  /// in the pool turns out to have been dropped by the server (restart,
  /// idle timeout), `body` runs once more on a fresh connection: every
  /// operation here is idempotent, so a repeat is safe.
  template <class Body>
  auto run(Body&& body) -> decltype(body(std::declval<RedisConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      detail::RedisConnectionPool::Lease lease = pool.borrow();
      try {
        return body(*lease);
      } catch (const ConnectionError&) {
        if (attempt == 0 && lease.reused() && lease->failure() == RedisFailure::dropped)
          continue;
        throw;
      }
    }
  }

  /// Checks replies that have all been read (so the connection stays in
  /// step), then throws the first failure among them, if any.
  static void check_all(RedisConnection& connection, const RedisOperation& op,
                        std::vector<RedisReplyPtr> replies, int expected,
                        std::exception_ptr& first) {
    for (RedisReplyPtr& reply : replies) {
      if (first)
        return;
      try {
        connection.check(op, std::move(reply), expected);
      } catch (...) {
        first = std::current_exception();
      }
    }
  }

  // --- writes --------------------------------------------------------------

  /// Whether `value` is stored as chunks and a manifest: larger than the
  /// chunk size, or looking like a manifest itself.
  bool chunked(std::string_view value) const {
    return value.size() > options.chunk_size || detail::is_chunk_manifest(value);
  }

  /// Writes every item: values over the chunk size (or that look like a
  /// manifest) as chunks first, then all small values and manifests in
  /// pipelined MSETs. Without chunked values that is one round trip.
  /// With `px` (a TTL in ms) every key — chunks included — is written with
  /// `SET ... PX`, so no key ever exists without its TTL.
  void put(RedisConnection& connection, const std::vector<PutItem>& items,
           std::string_view px = {}) {
    std::vector<DirectItem> direct;
    direct.reserve(items.size());
    std::deque<std::string> manifests;  // stable addresses: `direct` views them
    std::vector<std::string> written_chunks;
    for (const PutItem& item : items) {
      if (!chunked(item.value)) {
        direct.push_back(DirectItem{item.key, item.value});
        continue;
      }
      const ChunkManifest manifest =
          detail::make_chunk_manifest(item.value.size(), options.chunk_size);
      manifests.push_back(detail::encode_chunk_manifest(manifest));
      direct.push_back(DirectItem{item.key, manifests.back()});
    }
    if (!manifests.empty())
      write_chunks(connection, items, written_chunks, px);
    try {
      write_direct(connection, direct, px);
    } catch (const StoreOperationError&) {
      remove_quietly(connection, written_chunks);
      throw;
    }
  }

  /// Writes the chunks of every item that needs them, in windows; chunks
  /// precede their manifest, so a reader never sees a manifest whose
  /// chunks are not all there yet.
  void write_chunks(RedisConnection& connection, const std::vector<PutItem>& items,
                    std::vector<std::string>& written, std::string_view px) {
    const bool single = items.size() == 1;
    const RedisOperation op{single ? "SET chunks of" : "SET chunks",
                            single ? std::string_view(items.front().key) : std::string_view(),
                            items.size()};
    std::size_t window = 0;
    std::size_t queued = 0;
    std::exception_ptr error;
    auto drain = [&] {
      check_all(connection, op, connection.replies(op, queued), REDIS_REPLY_STATUS, error);
      queued = 0;
      window = 0;
    };
    for (const PutItem& item : items) {
      if (!chunked(item.value))
        continue;
      const ChunkManifest manifest =
          detail::make_chunk_manifest(item.value.size(), options.chunk_size);
      for (std::uint64_t i = 0; i < manifest.count && !error; ++i) {
        const std::string_view chunk =
            item.value.substr(static_cast<std::size_t>(i * manifest.chunk_size),
                              static_cast<std::size_t>(manifest.size_of(i)));
        written.push_back(detail::chunk_key(item.key, i));
        RedisArgs args(5);
        args.add("SET").add(written.back()).add(chunk);
        if (!px.empty())
          args.add("PX").add(px);
        connection.append(op, args);
        ++queued;
        window += chunk.size();
        if (window >= window_bytes)
          drain();
      }
    }
    drain();
    if (error) {
      remove_quietly(connection, written);
      std::rethrow_exception(error);
    }
  }

  /// SET for one value, MSET for many, split into windows, all pipelined;
  /// with `px`, one `SET ... PX` per value (MSET takes no TTL), pipelined.
  void write_direct(RedisConnection& connection, const std::vector<DirectItem>& items,
                    std::string_view px) {
    if (items.empty())
      return;
    const bool single = items.size() == 1;
    const RedisOperation op{single ? "SET" : (px.empty() ? "MSET" : "SET batch"),
                            single ? std::string_view(items.front().key) : std::string_view(),
                            single ? 0 : items.size()};
    std::size_t commands = 0;
    for (std::size_t begin = 0; !px.empty() && begin < items.size(); ++begin) {
      RedisArgs args(5);
      args.add("SET").add(items[begin].key).add(items[begin].value).add("PX").add(px);
      connection.append(op, args);
      ++commands;
    }
    for (std::size_t begin = 0; px.empty() && begin < items.size();) {
      std::size_t end = begin;
      std::size_t bytes = 0;
      while (end < items.size() &&
             (end == begin || bytes + items[end].value.size() <= window_bytes)) {
        bytes += items[end].value.size();
        ++end;
      }
      RedisArgs args(1 + 2 * (end - begin));
      args.add(end - begin == 1 ? "SET" : "MSET");
      for (std::size_t i = begin; i < end; ++i)
        args.add(items[i].key).add(items[i].value);
      connection.append(op, args);
      ++commands;
      begin = end;
    }
    std::exception_ptr error;
    check_all(connection, op, connection.replies(op, commands), REDIS_REPLY_STATUS, error);
    if (error)
      std::rethrow_exception(error);
  }

  /// Best effort after a failed write: drop chunks nobody will reference.
  void remove_quietly(RedisConnection& connection, const std::vector<std::string>& keys) noexcept {
    try {
      unlink(connection, keys);
    } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is what matters
    }
  }

  void unlink(RedisConnection& connection, const std::vector<std::string>& keys) {
    if (keys.empty())
      return;
    const RedisOperation op{"UNLINK",
                            keys.size() == 1 ? std::string_view(keys.front()) : std::string_view(),
                            keys.size()};
    std::size_t commands = 0;
    for (std::size_t begin = 0; begin < keys.size(); begin += keys_per_unlink) {
      const std::size_t end = std::min(keys.size(), begin + keys_per_unlink);
      RedisArgs args(1 + end - begin);
      args.add("UNLINK");
      for (std::size_t i = begin; i < end; ++i)
        args.add(keys[i]);
      connection.append(op, args);
      ++commands;
    }
    std::exception_ptr error;
    check_all(connection, op, connection.replies(op, commands), REDIS_REPLY_INTEGER, error);
    if (error)
      std::rethrow_exception(error);
  }

  /// SET of one large value from its own memory: one writev of the RESP
  /// header, `head`, `body` and CRLF (no copy), with `PX <px>` after the
  /// value when `px` is set; hiredis reads the +OK.
  void set_direct(RedisConnection& connection, const std::string& key, std::string_view head,
                  std::string_view body, std::string_view px) {
    const RedisOperation op{"SET", key};
    if (px.empty())
      connection.send_direct(op, {"SET", key}, {head, body});
    else
      connection.send_direct(op, {"SET", key}, {head, body}, {"PX", px});
    connection.check(op, connection.reply(op), REDIS_REPLY_STATUS);
  }

  /// One value under `key` (`px`: its TTL in ms, or empty): from its own
  /// memory when large (set_direct), else through put.
  void put_one(const std::string& key, std::string_view head, std::string_view body,
               std::string_view px) {
    if (writes_direct(head.size() + body.size(), head, body)) {
      run([&](RedisConnection& connection) { set_direct(connection, key, head, body, px); });
      return;
    }
    std::string joined;
    std::string_view value = head;
    if (!body.empty()) {
      joined.reserve(head.size() + body.size());
      joined.append(head).append(body);
      value = joined;
    }
    const std::vector<PutItem> items{PutItem{key, value}};
    run([&](RedisConnection& connection) { put(connection, items, px); });
  }

  /// Many values, each expiring after `px` ms when it is set.
  void put_batch(const std::vector<std::pair<Key, std::string_view>>& items, std::string_view px) {
    if (items.empty())
      return;
    std::vector<PutItem> puts;
    puts.reserve(items.size());
    for (const auto& [key, bytes] : items)
      puts.push_back(PutItem{redis_key(key), bytes});
    run([&](RedisConnection& connection) { put(connection, puts, px); });
  }

  /// The remaining TTL of the lease marker `lease` (<= 0: none).
  long long lease_ttl(RedisConnection& connection, const std::string& lease) {
    const RedisOperation op{"PTTL", lease};
    RedisArgs args(2);
    args.add("PTTL").add(lease);
    return connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER)->integer;
  }

  /// A future's result under `key`, then its wake-up token, with `ttl`
  /// (zero: the lease marker's, if the key has one): chunks (if any) with
  /// SET ... PX first, then the value or manifest and the token in one
  /// script (put_result_script), so no key exists without its TTL. A
  /// value large enough for set_direct goes that way instead, then the
  /// token (token_script).
  void put_result(RedisConnection& connection, const std::string& key, std::string_view bytes,
                  std::chrono::milliseconds ttl) {
    const std::string ready = ready_key(key);
    const std::string lease = lease_key(key);
    long long millis = std::max<long long>(ttl.count(), 0);
    if (writes_direct(bytes.size(), bytes, {})) {
      // A large value is not copied into a script: SET ... PX from its own
      // memory, then the token with the same TTL in a one-key script. A
      // writer killed between the two leaves the value, expiring with its
      // lease (without one, a waiter's last look at its timeout finds it).
      if (millis == 0)
        millis = std::max(lease_ttl(connection, lease), 0LL);
      const std::string px = millis > 0 ? std::to_string(millis) : std::string();
      set_direct(connection, key, bytes, {}, px);
      const std::string ttl_arg = std::to_string(millis);
      const RedisOperation op{"EVAL wake-up token", ready};
      RedisArgs args(5);
      args.add("EVAL").add(detail::token_script).add("1").add(ready).add(ttl_arg);
      connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
      return;
    }
    std::string_view value = bytes;
    std::string manifest;
    std::vector<std::string> written_chunks;
    if (chunked(bytes)) {
      if (millis == 0)
        millis = std::max(lease_ttl(connection, lease), 0LL);
      manifest = detail::encode_chunk_manifest(
          detail::make_chunk_manifest(bytes.size(), options.chunk_size));
      const std::string px = millis > 0 ? std::to_string(millis) : std::string();
      write_chunks(connection, {PutItem{key, bytes}}, written_chunks, px);
      value = manifest;
    }
    const std::string ttl_arg = std::to_string(millis);
    const RedisOperation op{"EVAL set_result", key};
    RedisArgs args =
        detail::eval_on_key(detail::put_result_script, key, ready, lease, {value, ttl_arg});
    try {
      connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
    } catch (const StoreOperationError&) {
      remove_quietly(connection, written_chunks);
      throw;
    }
  }

  /// Whether a value of `size` bytes takes the direct write: large, yet
  /// not so large (or manifest-like) that it must be chunked.
  bool writes_direct(std::size_t size, std::string_view head, std::string_view body) const {
    return size >= direct_write_bytes && size <= options.chunk_size &&
           !looks_like_manifest(head, body);
  }

  // --- reads ---------------------------------------------------------------

  /// What a GET found, its payload not necessarily read yet.
  struct Found {
    enum class Kind { absent, bytes, pending } kind = Kind::absent;
    std::optional<Bytes> bytes;  // Kind::bytes: a small value or assembled chunks
    std::size_t size = 0;        // Kind::pending: payload bytes still on the socket
  };

  /// Sends GET `key` directly and reads the reply's header. A large value's
  /// payload is left on the socket for the caller to receive where it
  /// wants it (then finish_bulk); a small one, which may be a chunk
  /// manifest, is read here and its chunks gathered.
  Found start_get(RedisConnection& connection, const std::string& key, const RedisOperation& op) {
    Found found;
    if (!connection.quiescent()) {  // never for a pooled connection; keep hiredis's path anyway
      RedisArgs args(2);
      args.add("GET").add(key);
      RedisReplyPtr reply =
          connection.check(op, connection.command(op, args), REDIS_REPLY_STRING, /*nil_ok=*/true);
      if (reply->type == REDIS_REPLY_NIL)
        return found;
      found.kind = Found::Kind::bytes;
      const char* data = reply->str;
      const std::size_t size = reply->len;
      found.bytes.emplace(data, size, share(std::move(reply)));
      return gather_if_manifest(connection, key, std::move(found));
    }
    connection.send_direct(op, {"GET", key});
    const std::optional<std::size_t> size = connection.read_bulk_header(op);
    if (!size)
      return found;
    if (*size > options.store.max_object_size) {
      // Refused on the length alone: the payload is still on the socket.
      connection.discard();
      throw SerializationError(fmt::format(
          "{}: GET \"{}\": value of {} bytes exceeds the maximum object size of {} bytes",
          endpoint().subject(), detail::printable(key), *size, options.store.max_object_size));
    }
    if (*size > detail::chunk_manifest_max_size) {
      found.kind = Found::Kind::pending;
      found.size = *size;
      return found;
    }
    std::string small(*size, '\0');
    connection.read_bulk(op, small.data(), small.size());
    connection.finish_bulk(op);
    found.kind = Found::Kind::bytes;
    found.bytes.emplace(std::move(small));
    return gather_if_manifest(connection, key, std::move(found));
  }

  /// Replaces a manifest by the value assembled from its chunks (absent
  /// when a chunk is gone: the value was evicted meanwhile).
  Found gather_if_manifest(RedisConnection& connection, const std::string& key, Found found) {
    if (!detail::is_chunk_manifest(found.bytes->view()))
      return found;
    std::vector<std::pair<std::string, ChunkManifest>> values;
    values.emplace_back(key, parse_manifest(key, found.bytes->view()));
    found.bytes = std::move(read_chunks(connection, values).front());
    if (!found.bytes)
      found.kind = Found::Kind::absent;
    return found;
  }

  /// A value read under `key`: the reply itself (no copy), or, for a
  /// manifest, nothing yet — the caller gathers its chunks.
  ChunkManifest parse_manifest(const std::string& key, std::string_view value) const {
    return detail::checked_manifest(endpoint().subject(), key, value,
                                    options.store.max_object_size);
  }

  /// Reads the chunks of every manifest, each value in batches that double
  /// (detail::ChunkAssembler: pipelined, at most window_bytes a batch past
  /// the first chunk) straight into one buffer per value that grows with
  /// the bytes received. A missing chunk means the value was evicted
  /// meanwhile (or its manifest forged): nullopt, and no further GET.
  std::vector<std::optional<Bytes>> read_chunks(
      RedisConnection& connection,
      const std::vector<std::pair<std::string, ChunkManifest>>& values) {
    const bool single = values.size() == 1;
    const RedisOperation op{single ? "GET chunks of" : "GET chunks",
                            single ? std::string_view(values.front().first) : std::string_view(),
                            values.size()};
    std::vector<std::optional<Bytes>> out(values.size());
    for (std::size_t v = 0; v < values.size(); ++v) {
      const std::string& key = values[v].first;
      detail::ChunkAssembler chunks(values[v].second, window_bytes);
      std::exception_ptr error;
      while (!error) {
        const auto [first, end] = chunks.next_batch();
        if (first == end)
          break;
        for (std::uint64_t i = first; i < end; ++i) {
          const std::string chunk = detail::chunk_key(key, i);
          RedisArgs args(2);
          args.add("GET").add(chunk);
          connection.append(op, args);
        }
        // Every reply is read before any is judged: the connection stays in step.
        std::vector<RedisReplyPtr> replies =
            connection.replies(op, static_cast<std::size_t>(end - first));
        for (std::uint64_t i = first; i < end && !error; ++i) {
          const redisReply& reply = *replies[static_cast<std::size_t>(i - first)];
          if (reply.type == REDIS_REPLY_NIL) {
            chunks.mark_missing();
          } else if (reply.type == REDIS_REPLY_STRING && reply.len == chunks.size_of(i)) {
            chunks.put(i, reply.str, reply.len);
          } else {
            error = detail::chunk_reply_error(endpoint(), op, reply, detail::chunk_key(key, i),
                                              chunks.size_of(i));
          }
        }
      }
      if (error)
        std::rethrow_exception(error);
      out[v] = chunks.take();
    }
    return out;
  }

  /// Runs `batch(first, end)` over a chunked value's chunk indices, at most
  /// keys_per_unlink at a time, until one reports that none of its keys
  /// existed: a manifest (maybe forged) claiming millions of chunks costs
  /// one batch past the chunks that are really there.
  template <class Batch>
  static void walk_chunks(const ChunkManifest& manifest, Batch&& batch) {
    for (std::uint64_t first = 0; first < manifest.count; first += keys_per_unlink) {
      const std::uint64_t end = std::min<std::uint64_t>(manifest.count, first + keys_per_unlink);
      if (batch(first, end) == 0)
        return;
    }
  }
};

// --- RedisStore ---------------------------------------------------------------

RedisStore::RedisStore(std::string name, std::string hostname, int port, RedisOptions options)
    : Store(std::move(name), options.store) {
  auto invalid = [&](std::string_view what) {
    return Error(fmt::format("redis store \"{}\": invalid options: {}", this->name(), what));
  };
  if (hostname.empty())
    throw invalid("hostname is empty");
  if (port < 1 || port > 65535)
    throw invalid(fmt::format("port {} is not in [1, 65535]", port));
  if (options.db < 0)
    throw invalid(fmt::format("db {} is negative", options.db));
  if (options.connect_timeout.count() < 0 || options.command_timeout.count() < 0) {
    throw invalid("timeouts must not be negative");
  }
  if (options.pool_size == 0)
    throw invalid("pool_size must be at least 1");
  if (!detail::valid_chunk_size(options.chunk_size)) {
    throw invalid(fmt::format("chunk_size {} is not in [{}, {}]", options.chunk_size,
                              RedisOptions::min_chunk_size, RedisOptions::max_chunk_size));
  }
  impl_ = std::make_unique<Impl>(this->name(), std::move(hostname), port, std::move(options));
}

RedisStore::~RedisStore() = default;

const std::string& RedisStore::hostname() const noexcept {
  return impl_->hostname;
}

int RedisStore::port() const noexcept {
  return impl_->port;
}

StoreConfig RedisStore::config() const {
  StoreConfig config{"redis",
                     name(),
                     {{"hostname", impl_->hostname},
                      {"port", std::to_string(impl_->port)},
                      {"db", std::to_string(impl_->options.db)}}};
  detail::add_common_redis_options(impl_->options, config.options);
  return config;
}

std::shared_ptr<RedisStore> RedisStore::from_config(const StoreConfig& config) {
  auto hostname = config.options.find("hostname");
  if (hostname == config.options.end() || hostname->second.empty()) {
    throw Error(fmt::format("redis store \"{}\": config has no 'hostname' option", config.name));
  }
  const auto port =
      static_cast<int>(detail::integer_option(config, "port", 1, 65535, std::nullopt));
  RedisOptions options;
  options.db =
      static_cast<int>(detail::integer_option(config, "db", 0, std::numeric_limits<int>::max(), 0));
  detail::read_common_redis_options(config, options);
  detail::bind_redis_credentials(hostname->second, port, options.username, options.password);
  return std::make_shared<RedisStore>(config.name, hostname->second, port, std::move(options));
}

void RedisStore::do_put(const Key& key, std::string_view bytes) {
  impl_->put_one(impl_->redis_key(key), bytes, {}, {});
}

void RedisStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  // A class derived from RedisStore may decorate do_put (count, encrypt):
  // for it the value goes through do_put, joined first, as for any store.
  if (!is_plain_redis_store() || !impl_->writes_direct(head.size() + body.size(), head, body)) {
    Store::do_put_parts(key, head, body);  // joined, then do_put (chunked if need be)
    return;
  }
  impl_->put_one(impl_->redis_key(key), head, body, {});
}

void RedisStore::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  impl_->put_batch(items, {});
}

// A class derived from RedisStore may decorate do_put / do_put_batch: for
// it the TTL writes go the general way (its write, then do_expire).

void RedisStore::do_put_with_ttl(const Key& key, std::string_view bytes,
                                 std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_with_ttl(key, bytes, ttl);
    return;
  }
  impl_->put_one(impl_->redis_key(key), bytes, {}, std::to_string(ttl.count()));
}

void RedisStore::do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                                       std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_parts_with_ttl(key, head, body, ttl);
    return;
  }
  impl_->put_one(impl_->redis_key(key), head, body, std::to_string(ttl.count()));
}

void RedisStore::do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                                       std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_batch_with_ttl(items, ttl);
    return;
  }
  impl_->put_batch(items, std::to_string(ttl.count()));
}

std::vector<Key> RedisStore::do_new_keys(std::size_t count) {
  if (!is_plain_redis_store())
    return Store::do_new_keys(count);  // a derived class may mint its own keys
  // The same 128-bit random hex ids as random_key(), fresh from the
  // kernel (never buffered: a forked child must not mint its parent's
  // keys), but one system call for the whole batch.
  constexpr std::size_t key_bytes = 16;
  std::vector<unsigned char> bits(count * key_bytes);
  for (std::size_t filled = 0; filled < bits.size();) {
    const ssize_t n = ::getrandom(bits.data() + filled, bits.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw Error(fmt::format("{}: random keys: getrandom failed: {}", impl_->endpoint().subject(),
                              std::error_code(errno, std::generic_category()).message()));
    }
    filled += static_cast<std::size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::vector<Key> keys(count);
  for (std::size_t k = 0; k < count; ++k) {
    std::string& id = keys[k].id;
    id.resize(2 * key_bytes);
    for (std::size_t i = 0; i < key_bytes; ++i) {
      const unsigned char byte = bits[k * key_bytes + i];
      id[2 * i] = hex[byte >> 4U];
      id[2 * i + 1] = hex[byte & 0x0fU];
    }
  }
  return keys;
}

bool RedisStore::is_plain_redis_store() const noexcept {
  return typeid(*this) == typeid(RedisStore);
}

std::optional<Bytes> RedisStore::do_get(const Key& key) {
  const std::string redis_key = impl_->redis_key(key);
  return impl_->run([&](RedisConnection& connection) -> std::optional<Bytes> {
    const RedisOperation op{"GET", redis_key};
    Impl::Found found = impl_->start_get(connection, redis_key, op);
    if (found.kind != Impl::Found::Kind::pending)
      return std::move(found.bytes);
    // Received straight into the buffer that becomes the Bytes (no staging
    // in hiredis's reader, no copy into a reply), grown as the payload
    // arrives: its length is the server's claim, not yet backed by bytes.
    detail::BulkReader reader(connection, op, found.size);
    std::string buffer;
    try {
      detail::read_growing(reader, buffer, found.size);
    } catch (...) {
      connection.discard();  // the rest of the reply is still on the socket
      throw;
    }
    connection.finish_bulk(op);
    return Bytes(std::move(buffer));
  });
}

bool RedisStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  if (!is_plain_redis_store())
    return Store::do_read(key, consume);  // a derived class's do_get stays authoritative
  const std::string redis_key = impl_->redis_key(key);
  return impl_->run([&](RedisConnection& connection) {
    const RedisOperation op{"GET", redis_key};
    Impl::Found found = impl_->start_get(connection, redis_key, op);
    if (found.kind == Impl::Found::Kind::absent)
      return false;
    if (found.kind == Impl::Found::Kind::bytes) {
      detail::BytesReader reader(found.bytes->view());
      consume(reader);
      return true;
    }
    // The consumer reads the payload where it wants it (Store::get: into
    // the object's own memory).
    detail::BulkReader reader(connection, op, found.size);
    try {
      consume(reader);
    } catch (...) {
      if (!reader.finished())
        connection.discard();  // the rest of the reply is still on the socket
      throw;
    }
    if (!reader.finished()) {
      connection.discard();
      return true;
    }
    connection.finish_bulk(op);
    return true;
  });
}

std::vector<std::optional<Bytes>> RedisStore::do_get_batch(const std::vector<Key>& keys) {
  if (keys.empty())
    return {};
  std::vector<std::string> redis_keys;
  redis_keys.reserve(keys.size());
  for (const Key& key : keys)
    redis_keys.push_back(impl_->redis_key(key));
  return impl_->run([&](RedisConnection& connection) {
    const RedisOperation op{
        "MGET", redis_keys.size() == 1 ? std::string_view(redis_keys.front()) : std::string_view(),
        redis_keys.size()};
    RedisArgs args(1 + redis_keys.size());
    args.add("MGET");
    for (const std::string& key : redis_keys)
      args.add(key);
    RedisReplyPtr reply = connection.check(op, connection.command(op, args), REDIS_REPLY_ARRAY);
    if (reply->elements != redis_keys.size()) {
      throw StoreOperationError(fmt::format("{}: {} failed: {} values in the reply",
                                            impl_->endpoint().subject(), op.describe(),
                                            reply->elements));
    }
    std::vector<std::optional<Bytes>> values(keys.size());
    std::vector<std::pair<std::string, ChunkManifest>> chunked;
    std::vector<std::size_t> chunked_at;
    // Every value views the one MGET reply, shared by all of them.
    const redisReply* const array = reply.get();
    std::shared_ptr<const void> owner = share(std::move(reply));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const redisReply& element = *array->element[i];
      if (element.type == REDIS_REPLY_NIL)
        continue;
      if (element.type != REDIS_REPLY_STRING) {
        throw StoreOperationError(
            fmt::format("{}: MGET \"{}\" failed: the key holds a non-string value",
                        impl_->endpoint().subject(), redis_keys[i]));
      }
      if (detail::is_chunk_manifest(view_of(element))) {
        chunked.emplace_back(redis_keys[i], impl_->parse_manifest(redis_keys[i], view_of(element)));
        chunked_at.push_back(i);
        continue;
      }
      values[i].emplace(element.str, element.len, owner);
    }
    if (!chunked.empty()) {
      std::vector<std::optional<Bytes>> assembled = impl_->read_chunks(connection, chunked);
      for (std::size_t j = 0; j < chunked.size(); ++j)
        values[chunked_at[j]] = std::move(assembled[j]);
    }
    return values;
  });
}

bool RedisStore::do_exists(const Key& key) {
  const std::string redis_key = impl_->redis_key(key);
  return impl_->run([&](RedisConnection& connection) {
    const RedisOperation op{"EXISTS", redis_key};
    RedisArgs args(2);
    args.add("EXISTS").add(redis_key);
    return connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER)->integer > 0;
  });
}

void RedisStore::do_evict(const Key& key) {
  const std::string redis_key = impl_->redis_key(key);
  impl_->run([&](RedisConnection& connection) {
    // One round trip reads the head of the value (enough to recognise a
    // manifest, never the whole value) and unlinks the key; a chunked
    // value then loses its chunks in a second one.
    const RedisOperation head_op{"GETRANGE", redis_key};
    const RedisOperation unlink_op{"UNLINK", redis_key};
    RedisArgs head(4);
    head.add("GETRANGE")
        .add(redis_key)
        .add("0")
        .add_owned(std::to_string(detail::chunk_manifest_max_size - 1));
    RedisArgs unlink(4);
    unlink.add("UNLINK")
        .add(redis_key)
        .add_owned(ready_key(redis_key))
        .add_owned(lease_key(redis_key));
    connection.append(head_op, head);
    connection.append(unlink_op, unlink);
    std::vector<RedisReplyPtr> replies = connection.replies(unlink_op, 2);
    RedisReplyPtr prefix = std::move(replies[0]);
    connection.check(unlink_op, std::move(replies[1]), REDIS_REPLY_INTEGER);
    if (prefix->type == REDIS_REPLY_ERROR && std::strncmp(prefix->str, "WRONGTYPE", 9) == 0)
      return;
    prefix = connection.check(head_op, std::move(prefix), REDIS_REPLY_STRING);
    if (!detail::is_chunk_manifest(view_of(*prefix)))
      return;
    const std::optional<ChunkManifest> manifest = detail::decode_chunk_manifest(view_of(*prefix));
    if (!manifest)
      return;  // not ours to interpret; the key itself is gone
    const RedisOperation chunks_op{"UNLINK chunks of", redis_key};
    Impl::walk_chunks(*manifest, [&](std::uint64_t first, std::uint64_t end) {
      RedisArgs args(static_cast<std::size_t>(1 + end - first));
      args.add("UNLINK");
      for (std::uint64_t i = first; i < end; ++i)
        args.add_owned(detail::chunk_key(redis_key, i));
      return connection.check(chunks_op, connection.command(chunks_op, args), REDIS_REPLY_INTEGER)
          ->integer;
    });
  });
}

// --- lifetimes and futures ------------------------------------------------------

bool RedisStore::do_expire(const Key& key, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    do_evict(key);
    return true;
  }
  const std::string redis_key = impl_->redis_key(key);
  const std::string ready = ready_key(redis_key);
  const std::string lease = lease_key(redis_key);
  const std::string millis = std::to_string(ttl.count());
  impl_->run([&](RedisConnection& connection) {
    // One round trip: the head of the value (to recognise a manifest) and
    // one script giving the key, its companion and its lease marker the
    // TTL (the marker lets a future's result, written later, carry it); a
    // chunked value's chunks get theirs in a second one.
    const RedisOperation head_op{"GETRANGE", redis_key};
    const RedisOperation expire_op{"PEXPIRE", redis_key};
    RedisArgs head(4);
    head.add("GETRANGE")
        .add(redis_key)
        .add("0")
        .add_owned(std::to_string(detail::chunk_manifest_max_size - 1));
    RedisArgs expire =
        detail::eval_on_key(detail::expire_script, redis_key, ready, lease, {millis});
    connection.append(head_op, head);
    connection.append(expire_op, expire);
    std::vector<RedisReplyPtr> replies = connection.replies(expire_op, 2);
    connection.check(expire_op, std::move(replies[1]), REDIS_REPLY_INTEGER);
    RedisReplyPtr prefix = std::move(replies[0]);
    if (prefix->type == REDIS_REPLY_ERROR && std::strncmp(prefix->str, "WRONGTYPE", 9) == 0)
      return;
    prefix = connection.check(head_op, std::move(prefix), REDIS_REPLY_STRING);
    if (!detail::is_chunk_manifest(view_of(*prefix)))
      return;
    const std::optional<ChunkManifest> manifest = detail::decode_chunk_manifest(view_of(*prefix));
    if (!manifest)
      return;
    const RedisOperation chunks_op{"PEXPIRE chunks of", redis_key};
    Impl::walk_chunks(*manifest, [&](std::uint64_t first, std::uint64_t end) {
      for (std::uint64_t i = first; i < end; ++i) {
        RedisArgs args(3);
        args.add("PEXPIRE").add_owned(detail::chunk_key(redis_key, i)).add(millis);
        connection.append(chunks_op, args);
      }
      std::vector<RedisReplyPtr> replies =
          connection.replies(chunks_op, static_cast<std::size_t>(end - first));
      long long expired = 0;
      std::exception_ptr error;
      for (RedisReplyPtr& reply : replies) {
        if (!error && reply->type == REDIS_REPLY_INTEGER)
          expired += reply->integer;
      }
      Impl::check_all(connection, chunks_op, std::move(replies), REDIS_REPLY_INTEGER, error);
      if (error)
        std::rethrow_exception(error);
      return expired;
    });
  });
  return true;
}

void RedisStore::do_put_result(const Key& key, std::string_view bytes) {
  do_put_result_with_ttl(key, bytes, std::chrono::milliseconds(0));
}

void RedisStore::do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                        std::chrono::milliseconds ttl) {
  const std::string redis_key = impl_->redis_key(key);
  impl_->run(
      [&](RedisConnection& connection) { impl_->put_result(connection, redis_key, bytes, ttl); });
}

std::optional<Bytes> RedisStore::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  if (std::optional<Bytes> bytes = do_get(key))
    return bytes;
  const std::string ready = ready_key(impl_->redis_key(key));
  // A connection of its own, whose read timeout covers the whole wait: a
  // pooled one would be held (and time out) for as long as we block.
  detail::RedisEndpoint endpoint = impl_->endpoint();
  if (endpoint.command_timeout.count() > 0)
    endpoint.command_timeout += timeout;
  std::unique_ptr<RedisConnection> connection = RedisConnection::open(endpoint);
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return do_get(key);  // one last look: it may have come just now
    // From the list to itself: the token stays for every other waiter,
    // and the list keeps its TTL (nothing is ever pushed back).
    const RedisOperation op{"BRPOPLPUSH", ready};
    RedisArgs args(4);
    args.add("BRPOPLPUSH").add(ready).add(ready).add_owned(blocking_seconds(left));
    RedisReplyPtr reply = connection->check(op, connection->command(op, args), REDIS_REPLY_STRING,
                                            /*nil_ok=*/true);
    if (reply->type == REDIS_REPLY_NIL)
      return do_get(key);
    if (std::optional<Bytes> bytes = do_get(key))
      return bytes;
    // The value expired or was evicted just before its token: wait a
    // little (the token goes with it) rather than spin on the token.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace proxystore
