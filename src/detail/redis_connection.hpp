// SPDX-License-Identifier: Apache-2.0
// Private: one hiredis connection with RAII handles, the single place that
// turns hiredis failures into proxystore exceptions, and a small argv
// builder. Never included by public headers.
#pragma once

#include <proxystore/bytes.hpp>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstddef>
#include <forward_list>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::detail {

/// Where and how to connect, plus the store name for messages. Holds the
/// password, so it is never formatted as a whole.
struct RedisEndpoint {
  std::string store_name;
  std::string host;
  int port = 0;
  std::string username;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{0};  // 0: no bound
  std::chrono::milliseconds command_timeout{0};  // 0: no bound

  /// `redis store "<name>" at <host>:<port>` — the subject of every message.
  [[nodiscard]] std::string subject() const;
};

struct RedisContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct RedisReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

/// Names what was attempted, for messages only; formatted lazily (on
/// failure), so building one on the hot path costs nothing.
struct RedisOperation {
  // NOLINTNEXTLINE(google-explicit-constructor): RedisOperation{"connect"}
  RedisOperation(const char* command_name, std::string_view redis_key = {},
                 std::size_t batch = 0) noexcept
      : command(command_name), key(redis_key), count(batch) {}
  /// The key is only viewed: a temporary would dangle.
  RedisOperation(const char* command_name, std::string&& redis_key, std::size_t batch = 0) = delete;

  const char* command;   // e.g. "GET", "MGET", "connect"
  std::string_view key;  // the full Redis key, if one
  std::size_t count;     // keys or commands in a batch, if one

  [[nodiscard]] std::string describe() const;
};

/// How a failed connection failed (decides retry and exception type).
enum class RedisFailure {
  none,
  timeout,  // no reply within the bound → TimeoutError
  dropped,  // the peer closed or reset the connection → ConnectionError
  other,    // refused, unresolvable, protocol error, ... → ConnectionError
};

/// The one place hiredis failures become exceptions: `err`/`errstr` of a
/// context plus the errno seen right after the failing call. Throws
/// TimeoutError for timeouts, ConnectionError otherwise; the message is
/// `redis store "<name>" at <host>:<port>: <operation> failed: <errstr>
/// (err N, errno M)`.
[[noreturn]] void throw_redis_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                                    int err, const char* errstr, int saved_errno);

/// Classifies a hiredis `err` and errno.
RedisFailure classify_redis_failure(int err, int saved_errno) noexcept;

/// Whether a server error reply refuses our credentials (NOAUTH, WRONGPASS).
bool is_auth_refusal(const redisReply& reply) noexcept;
/// The same for the text of an error reply (without its leading '-').
bool is_auth_refusal(std::string_view error_text) noexcept;

/// A server error reply (`-ERR ...`, `-OOM ...`): StoreOperationError with
/// Redis's message; authentication refusals are ConnectionError.
[[noreturn]] void throw_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                                    const redisReply& reply);
/// The same for the text of an error reply (without its leading '-').
[[noreturn]] void throw_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                                    std::string_view error_text);

/// A reply of a type the command never returns (a protocol mismatch).
[[noreturn]] void throw_unexpected_reply(const RedisEndpoint& endpoint,
                                         const RedisOperation& operation, const redisReply& reply);

/// The first line of a reply, without its CRLF, as the direct read path
/// sees it (parse_reply_header).
struct ReplyHeader {
  enum class Kind : char {
    bulk,       // "$<n>": `size` payload bytes follow
    nil,        // "$-1"
    error,      // "-<text>": `text` is the message
    other,      // '+', ':' or '*': a complete reply of another type
    malformed,  // anything else (a protocol error)
  } kind = Kind::malformed;
  std::size_t size = 0;   // bulk
  std::string_view text;  // error: views the line
  char type = '\0';       // other: the type byte
};

/// Parses a reply's first line. A bulk length is a decimal number in
/// [0, SIZE_MAX] with nothing around it; it is only a claim — nothing is
/// allocated on its word here or by the callers (they grow buffers as the
/// payload arrives).
ReplyHeader parse_reply_header(std::string_view line) noexcept;

/// Appends one command in the protocol's wire form to `out`: a RESP array
/// of bulk strings, byte for byte what hiredis formats for the same
/// arguments (for RedisConnection::append_formatted).
void append_resp_command(std::string& out, std::initializer_list<std::string_view> args);

/// Arguments of one command with explicit lengths (values contain NULs).
/// Views added with `add` must outlive the command; `add_owned` copies.
class RedisArgs {
 public:
  RedisArgs() = default;
  explicit RedisArgs(std::size_t expected) {
    argv_.reserve(expected);
    lengths_.reserve(expected);
  }

  RedisArgs& add(std::string_view arg) {
    argv_.push_back(arg.data());
    lengths_.push_back(arg.size());
    return *this;
  }
  RedisArgs& add_owned(std::string arg) {
    owned_.push_front(std::move(arg));  // list nodes never move
    return add(owned_.front());
  }

  [[nodiscard]] int argc() const noexcept { return static_cast<int>(argv_.size()); }
  const char** argv() noexcept { return argv_.data(); }
  [[nodiscard]] const std::size_t* lengths() const noexcept { return lengths_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return argv_.size(); }

 private:
  std::vector<const char*> argv_;
  std::vector<std::size_t> lengths_;
  std::forward_list<std::string> owned_;  // allocates nothing until used
};

/// One blocking hiredis connection, authenticated and on its database.
/// Not thread-safe: a caller borrows it from the pool for one operation.
///
/// After any I/O failure the hiredis context is unusable (`usable()` is
/// false) and the pool discards it, so the next operation reconnects.
///
/// Direct I/O (the large-value path): hiredis 0.14 copies a command's
/// arguments into its output buffer and reads replies 16 KiB at a time into
/// a growing buffer, then copies the payload into the reply — several
/// passes over a large value. `send_direct` writes a command with one
/// writev (the value's own memory, no copy); `read_bulk_header`,
/// `read_bulk` and `finish_bulk` read a bulk-string reply with the payload
/// landing straight in the caller's buffer. Both run on the same socket
/// between hiredis commands: a direct read needs `quiescent()` before its
/// command was sent (nothing queued, owed or buffered by hiredis). Waits
/// are bounded by the command timeout with poll(); any I/O failure or
/// protocol surprise marks the connection failed, so the pool drops it.
class RedisConnection {
 public:
  /// Connects, applies the command timeout, AUTHs (if a password is set)
  /// and SELECTs (if db != 0). Throws ConnectionError/TimeoutError naming
  /// host:port; a refused AUTH is a ConnectionError.
  static std::unique_ptr<RedisConnection> open(const RedisEndpoint& endpoint);

  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;
  ~RedisConnection() = default;

  /// Sends one command and waits for its reply (one round trip). Server
  /// error replies are returned, not thrown: see `check`.
  RedisReplyPtr command(const RedisOperation& operation, RedisArgs& args);

  /// Queues a command (pipelining); nothing is sent until `reply`.
  void append(const RedisOperation& operation, RedisArgs& args);
  /// Queues `count` commands already in the protocol's wire form (RESP
  /// arrays of bulk strings, see append_resp_command) — a caller sending
  /// many commands of one shape formats them itself, once, into one buffer.
  void append_formatted(const RedisOperation& operation, std::string_view commands,
                        std::size_t count);
  /// The reply to the oldest queued command (flushes the queue first).
  RedisReplyPtr reply(const RedisOperation& operation);
  /// Writes every queued command to the socket now, without waiting for a
  /// reply: a caller driving several connections writes to all of them
  /// before reading any (the servers then work in parallel).
  void send_queued(const RedisOperation& operation) { flush(operation); }
  /// Replies still owed for queued commands.
  [[nodiscard]] std::size_t pending() const noexcept { return pending_; }

  /// `reply`, throwing on a server error reply or a reply of another type
  /// than `expected` (REDIS_REPLY_*; NIL is accepted where `nil_ok`).
  /// An authentication refusal (NOAUTH, WRONGPASS, ...) also marks the
  /// connection failed, so the next operation reconnects and AUTHs again.
  RedisReplyPtr check(const RedisOperation& operation, RedisReplyPtr reply, int expected,
                      bool nil_ok = false);

  /// Collects the replies to the `count` oldest queued commands. Always
  /// drains all of them (so the connection stays usable) before the
  /// caller inspects any.
  std::vector<RedisReplyPtr> replies(const RedisOperation& operation, std::size_t count);

  /// Whether the connection can serve another operation: no I/O failure
  /// and no reply owed.
  [[nodiscard]] bool usable() const noexcept {
    return failure_ == RedisFailure::none && pending_ == 0;
  }
  /// How the connection failed (none if it has not).
  [[nodiscard]] RedisFailure failure() const noexcept { return failure_; }
  /// Nothing queued, owed or buffered: the socket is at a command boundary.
  [[nodiscard]] bool quiescent() const noexcept;
  /// The socket (for the large-value fast path).
  [[nodiscard]] int fd() const noexcept { return context_->fd; }
  /// Records a failure seen outside hiredis (fast path) and throws.
  [[noreturn]] void mark_failed(const RedisOperation& operation, int err, const char* errstr,
                                int saved_errno);
  /// Marks the connection unusable without throwing (e.g. a direct read
  /// abandoned midway): the pool closes it instead of reusing it.
  void discard() noexcept {
    if (failure_ == RedisFailure::none)
      failure_ = RedisFailure::other;
  }

  /// Writes one command straight to the socket with a single writev:
  /// `args` (small: copied into the RESP header), then — when `parts` is
  /// not empty — one more argument made of `parts` concatenated, sent from
  /// the caller's memory, then `trailing` (small arguments after the
  /// value, e.g. `PX <ms>`). Its reply is owed like an appended command's:
  /// read it with `reply()` or, for a bulk reply, `read_bulk_header()`.
  void send_direct(const RedisOperation& operation, std::initializer_list<std::string_view> args,
                   std::initializer_list<std::string_view> parts = {},
                   std::initializer_list<std::string_view> trailing = {});

  /// Reads the header of the reply to the one command sent directly on a
  /// quiescent connection: the payload length of a bulk string, or nullopt
  /// for nil (then the reply is complete). A server error reply is thrown
  /// as check() would (the connection stays usable).
  std::optional<std::size_t> read_bulk_header(const RedisOperation& operation);
  /// Reads the next `n` bytes of the payload into `into`.
  void read_bulk(const RedisOperation& operation, char* into, std::size_t n);
  /// Reads the CRLF after the payload: the reply is complete.
  void finish_bulk(const RedisOperation& operation);

  [[nodiscard]] const RedisEndpoint& endpoint() const noexcept { return *endpoint_; }

 private:
  RedisConnection(const RedisEndpoint& endpoint, RedisContextPtr context)
      : endpoint_(&endpoint), context_(std::move(context)) {}

  [[noreturn]] void fail(const RedisOperation& operation, int saved_errno);

  /// Sends hiredis's queued commands, if any (before a direct write).
  void flush(const RedisOperation& operation);
  /// Waits (poll, bounded by the command timeout) for `events` on the fd.
  void wait_for(const RedisOperation& operation, short events);
  /// Receives at least one byte into [into, into + capacity).
  std::size_t receive_some(const RedisOperation& operation, char* into, std::size_t capacity);
  /// Receives until `direct_` holds a CRLF-terminated line; returns its
  /// length (without CRLF), consumed from `direct_` by the caller.
  std::size_t receive_line(const RedisOperation& operation);
  /// The directly read reply is complete (and must be all there was).
  void finish_reply(const RedisOperation& operation);

  const RedisEndpoint* endpoint_;  // owned by the pool, which outlives us
  RedisContextPtr context_;
  std::size_t pending_ = 0;
  RedisFailure failure_ = RedisFailure::none;

  /// Bytes received by direct reads and not yet consumed: the first read
  /// of a reply brings its header and, for a small value, all of it.
  struct DirectBuffer {
    static constexpr std::size_t capacity = std::size_t{16} << 10U;
    std::unique_ptr<char[]> data;  // allocated on first use
    std::size_t begin = 0;
    std::size_t end = 0;
    [[nodiscard]] std::size_t size() const noexcept { return end - begin; }
  } direct_;
  std::size_t bulk_left_ = 0;  // payload bytes of the current bulk reply still unread
};

/// Reads the payload of a bulk reply whose header `read_bulk_header` took,
/// straight from the connection, as a ValueReader (Store::get reads it
/// into the object's memory). Reading past the announced size throws.
class BulkReader final : public ValueReader {
 public:
  BulkReader(RedisConnection& connection, const RedisOperation& operation,
             std::size_t size) noexcept
      : connection_(connection), operation_(operation), size_(size) {}

  [[nodiscard]] std::size_t size() const noexcept override { return size_; }
  void read(char* into, std::size_t n) override;
  [[nodiscard]] bool finished() const noexcept { return done_ == size_; }

 private:
  RedisConnection& connection_;
  const RedisOperation& operation_;
  std::size_t size_;
  std::size_t done_ = 0;
};

}  // namespace proxystore::detail
