// SPDX-License-Identifier: Apache-2.0
// Private: the Redis node layer — everything the library does on ONE Redis
// server, whichever backend asked. RedisStore is this layer plus key
// naming; RedisClusterStore routes each key's slot to a node and uses the
// same layer there for what needs a single connection (the direct-I/O
// large-value path, PING); the stream broker and future backends build on
// it too.
//
// Why one layer: the large-value path (writev SET from the object's own
// memory, GET received straight into it), chunking, leases and TTL writes,
// and the error mapping were written twice before, and the copy the
// cluster had lagged behind (its large gets cost 1.47x one server). Two
// stacks drift; one is fixed once. What stays per backend is only what
// really differs: where a key lives (one node, or a slot's primary that
// may move: MOVED/ASK) and how keys are named.
//
// Below this: RedisConnection (one hiredis socket, direct I/O, timeouts,
// the hiredis-failure-to-exception mapping) and RedisConnectionPool
// (lazy connections, fork safety). Their names are stable: other code
// (the stream broker) uses them directly.
#pragma once

#include "detail/redis_chunks.hpp"
#include "detail/redis_connection.hpp"
#include "detail/redis_pool.hpp"

#include <proxystore/bytes.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/key.hpp>
#include <proxystore/stores/redis.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proxystore::detail {

/// Bounds the bytes one pipelined window carries (MSET groups, chunk
/// writes and reads), so a huge batch neither builds one giant command
/// (Redis caps a client's query buffer at 1 GB) nor buffers unbounded
/// replies; small batches still fit one window, i.e. one round trip.
inline constexpr std::size_t window_bytes = std::size_t{64} << 20U;
/// Keys per UNLINK command when evicting a chunked value.
inline constexpr std::size_t keys_per_unlink = 1024;
/// Values at least this large are written with one writev from their own
/// memory (RedisConnection::send_direct) instead of through hiredis, which
/// would copy them into its output buffer first. Below it the copy is
/// cheaper than anything it could save.
inline constexpr std::size_t direct_write_bytes = std::size_t{64} << 10U;

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

/// What the store asked of values: how large a value goes unchunked, and
/// how large a value a read accepts at all.
struct RedisValueLimits {
  std::size_t chunk_size = 0;
  std::size_t max_object_size = 0;
};

/// Checks what every Redis store's options must satisfy for the node
/// layer: timeouts not negative, a pool of at least one connection, a
/// chunk size in [RedisOptions::min_chunk_size, max_chunk_size].
/// @throws Error "<subject>: invalid options: ..." otherwise.
void check_node_options(const RedisOptions& options, std::string_view subject);

/// `count` random 128-bit hex ids (as random_key()), their bits drawn in
/// one getrandom() — never buffered, so a forked child never mints its
/// parent's keys. `subject` starts the message of a failure.
std::vector<Key> random_ids(std::size_t count, std::string_view subject);

/// Whether a value of `size` bytes (`head` then `body`) takes the direct
/// write: large, yet not so large (or manifest-like) that it must be
/// chunked.
bool writes_direct(std::size_t size, std::string_view head, std::string_view body,
                   std::size_t chunk_size);

/// Writes SET `key` of one large value from its own memory: one writev of
/// the RESP header, `head`, `body` and CRLF (no copy), with `PX <px>`
/// after the value when `px` is set. The reply is owed: read it with
/// connection.reply().
void send_set_direct(RedisConnection& connection, const RedisOperation& op, const std::string& key,
                     std::string_view head, std::string_view body, std::string_view px);

/// What a GET found, its payload not necessarily read yet.
struct RedisFound {
  enum class Kind { absent, bytes, pending } kind = Kind::absent;
  std::optional<Bytes> bytes;  // Kind::bytes: a small value (maybe a manifest) or assembled chunks
  std::size_t size = 0;        // Kind::pending: payload bytes still on the socket
};

/// Sends GET `key` directly on a quiescent connection and reads the
/// reply's header. A large value's payload (over chunk_manifest_max_size)
/// is left on the socket for the caller to receive where it wants it
/// (receive_value / lend_value); a small one, which may be a chunk
/// manifest, is read here (not gathered: where chunks live is the
/// backend's business). A value over `max_object_size` is refused on its
/// length alone (SerializationError; the connection is discarded).
RedisFound start_direct_get(RedisConnection& connection, const std::string& key,
                            const RedisOperation& op, std::size_t max_object_size);

/// Receives a pending payload of `size` bytes into a buffer grown as the
/// bytes arrive (the length is only the server's claim).
Bytes receive_value(RedisConnection& connection, const RedisOperation& op, std::size_t size);

/// Lends a pending payload of `size` bytes to `consume` as a ValueReader
/// (Store::get reads it into the object's own memory); whatever it leaves
/// unread is dropped with the connection.
void lend_value(RedisConnection& connection, const RedisOperation& op, std::size_t size,
                const std::function<void(ValueReader&)>& consume);

/// Best effort: reads the chunks `which` (indices into `chunks`) on a
/// quiescent `connection`, one GET after another, each payload received
/// straight into its chunk's `into` (no staging in hiredis, no copy);
/// marks each one read or absent. A chunk it cannot read so (a
/// redirection or other error reply, a broken connection) stays pending,
/// with every chunk after it, for a general path that retries and reports.
/// A TimeoutError is thrown (the node already had its bound), and so is a
/// chunk of another size than `size` (StoreOperationError; the connection,
/// its payload unread, is discarded).
void read_chunks_directly(RedisConnection& connection, std::vector<ChunkRead>& chunks,
                          const std::vector<std::size_t>& which);

/// Takes the reply to GET `chunk.key` sent the general way: nil marks the
/// chunk absent, a string of its size is copied into place; anything else
/// is thrown (chunk_reply_error; `endpoint` is the node that answered).
void take_chunk_reply(const RedisEndpoint& endpoint, const RedisOperation& op,
                      const redisReply& reply, ChunkRead& chunk);

/// PING on `connection`, expecting PONG.
void ping(RedisConnection& connection);

/// The short pause of wait_for_value after a token without its value.
void pause_after_lost_token();

/// How a wait for a future's wake-up token went, one blocking call.
enum class TokenWait { woken, timed_out, retry };

/// The wait loop of a future's reader, shared by every backend: `get()`
/// first, then `block(left)` (one bounded blocking wait for the token on
/// `<key>:ready`; `retry`: blocking failed in a way worth another try)
/// until it is woken and `get()` finds the value, or the
/// time is up (one last `get()`: it may have come just now). A token whose
/// value expired or was evicted meanwhile costs a short pause, not a spin.
template <class Get, class Block>
std::optional<Bytes> wait_for_value(std::chrono::milliseconds timeout, Get&& get, Block&& block) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  if (std::optional<Bytes> bytes = get())
    return bytes;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0)
      return get();
    const TokenWait waited = block(left);
    if (waited == TokenWait::retry)
      continue;
    std::optional<Bytes> bytes = get();
    if (bytes || waited == TokenWait::timed_out)
      return bytes;
    pause_after_lost_token();
  }
}

/// One Redis server: its connection pool and every operation the library
/// performs on a single node, on keys already named (prefix applied).
/// Thread-safe (each operation borrows its own connection).
class RedisNode {
 public:
  /// Nothing connects yet.
  RedisNode(RedisEndpoint endpoint, std::size_t pool_size, RedisValueLimits limits)
      : pool_(std::move(endpoint), pool_size), limits_(limits) {}

  [[nodiscard]] RedisConnectionPool& pool() noexcept { return pool_; }
  [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return pool_.endpoint(); }
  [[nodiscard]] const RedisValueLimits& limits() const noexcept { return limits_; }

  // --- whole operations (each borrows a connection: run) -------------------
  // (The steps below them take a borrowed connection.)

  /// The value under `key` (chunks gathered), received without staging.
  std::optional<Bytes> get(const std::string& key);
  /// Lends the value under `key` to `consume`; false when there is none.
  bool read(const std::string& key, const std::function<void(ValueReader&)>& consume);
  /// Values of `keys` with one MGET (then chunks of chunked ones).
  std::vector<std::optional<Bytes>> get_batch(const std::vector<std::string>& keys);
  bool exists(const std::string& key);
  /// UNLINK of the key, its future companion, its lease marker and chunks.
  void evict(const std::string& key);
  /// PEXPIRE of the same (ttl > 0), the lease marker set to expire too.
  void expire(const std::string& key, std::chrono::milliseconds ttl);
  /// Waits for a future's result under `key` (wait_for_value, reading
  /// with `get`: the backend's own do_get) on a connection of its own,
  /// whose read timeout covers the wait.
  std::optional<Bytes> wait_get(const std::string& key, std::chrono::milliseconds timeout,
                                const std::function<std::optional<Bytes>()>& get);
  /// PING on a pooled connection.
  void ping();
  /// Many values (`px`: their TTL in ms, or empty).
  void put_batch(const std::vector<PutItem>& items, std::string_view px);

  /// Runs `body` on a borrowed connection. If a connection that sat idle
  /// in the pool turns out to have been dropped by the server (restart,
  /// idle timeout), `body` runs once more on a fresh connection: every
  /// operation here is idempotent, so a repeat is safe.
  template <class Body>
  auto run(Body&& body) -> decltype(body(std::declval<RedisConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      RedisConnectionPool::Lease lease = pool_.borrow();
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
                        std::exception_ptr& first);

  // --- writes --------------------------------------------------------------

  /// Whether `value` is stored as chunks and a manifest: larger than the
  /// chunk size, or looking like a manifest itself.
  bool chunked(std::string_view value) const;

  /// Writes every item: values over the chunk size (or that look like a
  /// manifest) as chunks first, then all small values and manifests in
  /// pipelined MSETs. Without chunked values that is one round trip.
  /// With `px` (a TTL in ms) every key — chunks included — is written with
  /// `SET ... PX`, so no key ever exists without its TTL.
  void put(RedisConnection& connection, const std::vector<PutItem>& items, std::string_view px);

  /// Writes the chunks of every item that needs them, in windows; chunks
  /// precede their manifest, so a reader never sees a manifest whose
  /// chunks are not all there yet.
  void write_chunks(RedisConnection& connection, const std::vector<PutItem>& items,
                    std::vector<std::string>& written, std::string_view px);

  /// SET for one value, MSET for many, split into windows, all pipelined;
  /// with `px`, one `SET ... PX` per value (MSET takes no TTL), pipelined.
  void write_direct(RedisConnection& connection, const std::vector<DirectItem>& items,
                    std::string_view px);

  /// Best effort after a failed write: drop chunks nobody will reference.
  void remove_quietly(RedisConnection& connection, const std::vector<std::string>& keys) noexcept;

  void unlink(RedisConnection& connection, const std::vector<std::string>& keys);

  /// SET of one large value from its own memory: one writev of the RESP
  /// header, `head`, `body` and CRLF (no copy), with `PX <px>` after the
  /// value when `px` is set; hiredis reads the +OK.
  void set_direct(RedisConnection& connection, const std::string& key, std::string_view head,
                  std::string_view body, std::string_view px);

  /// One value under `key` (`px`: its TTL in ms, or empty): from its own
  /// memory when large (set_direct), else through put.
  void put_one(const std::string& key, std::string_view head, std::string_view body,
               std::string_view px);

  /// The remaining TTL of the lease marker `lease` (<= 0: none).
  long long lease_ttl(RedisConnection& connection, const std::string& lease);

  /// A future's result under `key`, then its wake-up token, with `ttl`
  /// (zero: the lease marker's, if the key has one): chunks (if any) with
  /// SET ... PX first, then the value or manifest and the token in one
  /// script (put_result_script), so no key exists without its TTL. A
  /// value large enough for set_direct goes that way instead, then the
  /// token (token_script).
  void put_result(RedisConnection& connection, const std::string& key, std::string_view bytes,
                  std::chrono::milliseconds ttl);

  /// writes_direct() with this node's chunk size.
  bool writes_direct(std::size_t size, std::string_view head, std::string_view body) const {
    return detail::writes_direct(size, head, body, limits_.chunk_size);
  }

  // --- reads ---------------------------------------------------------------

  using Found = RedisFound;

  /// start_direct_get, a manifest's chunks (on this node) gathered.
  Found start_get(RedisConnection& connection, const std::string& key, const RedisOperation& op);

  /// Replaces a manifest by the value assembled from its chunks (absent
  /// when a chunk is gone: the value was evicted meanwhile).
  Found gather_if_manifest(RedisConnection& connection, const std::string& key, Found found);

  /// The manifest read under `key`, checked (checked_manifest).
  ChunkManifest parse_manifest(const std::string& key, std::string_view value) const;

  /// Reads the chunks of every manifest, each value in batches that double
  /// (detail::ChunkAssembler: pipelined, at most window_bytes a batch past
  /// the first chunk) straight into one buffer per value that grows with
  /// the bytes received. A missing chunk means the value was evicted
  /// meanwhile (or its manifest forged): nullopt, and no further GET.
  std::vector<std::optional<Bytes>> read_chunks(
      RedisConnection& connection,
      const std::vector<std::pair<std::string, ChunkManifest>>& values);

  /// Reads every pending chunk of `chunks` on `connection`: large ones
  /// directly into place (read_chunks_directly), the rest — small ones,
  /// and whatever that left — pipelined through hiredis and copied there.
  /// A chunk of another size or an error reply is thrown.
  void fetch_chunks(RedisConnection& connection, const RedisOperation& op,
                    std::vector<ChunkRead>& chunks);

  /// Sends GETRANGE of `redis_key`'s head (enough to recognise a manifest,
  /// never a whole value) and `command` (answering an integer) in one
  /// round trip; the manifest when the value is a chunked one.
  std::optional<ChunkManifest> command_and_head(RedisConnection& connection,
                                                const std::string& redis_key, RedisArgs& command,
                                                const RedisOperation& op);

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

 private:
  RedisConnectionPool pool_;
  const RedisValueLimits limits_;
};

}  // namespace proxystore::detail
