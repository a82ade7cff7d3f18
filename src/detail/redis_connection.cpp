// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_connection.hpp"

#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iterator>
#include <limits>
#include <string>
#include <system_error>
#include <utility>

namespace proxystore::detail {
namespace {

/// Blocks SIGPIPE in this thread while hiredis writes: hiredis 0.14 uses
/// write(2), and a write to a socket the server closed would otherwise
/// kill the process. A library must not change the process's signal
/// dispositions, so the signal is masked per call, and a SIGPIPE our write
/// raised is consumed before unmasking (the libpq technique).
class SigpipeGuard {
 public:
  SigpipeGuard() noexcept {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    active_ = pthread_sigmask(SIG_BLOCK, &pipe, &previous_) == 0;
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;
  ~SigpipeGuard() {
    if (!active_)
      return;
    if (epipe_ && sigismember(&previous_, SIGPIPE) == 0) {
      // Our write failed with EPIPE and so raised a SIGPIPE that is now
      // pending on this thread: take it (without waiting) before unmasking.
      const int saved = errno;
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
      errno = saved;
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

  /// Called when a write may have raised SIGPIPE.
  void note_errno(int error) noexcept { epipe_ = epipe_ || error == EPIPE; }

 private:
  sigset_t previous_{};
  bool active_ = false;
  bool epipe_ = false;
};

timeval to_timeval(std::chrono::milliseconds duration) {
  const auto count = duration.count();
  return timeval{static_cast<time_t>(count / 1000),
                 static_cast<suseconds_t>((count % 1000) * 1000)};
}

const char* reply_type_name(int type) {
  switch (type) {
    case REDIS_REPLY_STRING:
      return "string";
    case REDIS_REPLY_ARRAY:
      return "array";
    case REDIS_REPLY_INTEGER:
      return "integer";
    case REDIS_REPLY_NIL:
      return "nil";
    case REDIS_REPLY_STATUS:
      return "status";
    case REDIS_REPLY_ERROR:
      return "error";
    default:
      return "unknown";
  }
}

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

}  // namespace

std::string RedisEndpoint::subject() const {
  // An IPv6 literal gets brackets so the port stays readable.
  const bool ipv6 = host.find(':') != std::string::npos;
  return fmt::format("redis store \"{}\" at {}{}{}:{}", store_name, ipv6 ? "[" : "", host,
                     ipv6 ? "]" : "", port);
}

std::string RedisOperation::describe() const {
  if (!key.empty())
    return fmt::format("{} \"{}\"", command, key);
  if (count != 0)
    return fmt::format("{} ({} keys)", command, count);
  return command;
}

RedisFailure classify_redis_failure(int err, int saved_errno) noexcept {
#ifdef REDIS_ERR_TIMEOUT  // hiredis >= 1.0 reports timeouts itself
  if (err == REDIS_ERR_TIMEOUT)
    return RedisFailure::timeout;
#endif
  if (err == REDIS_ERR_EOF)
    return RedisFailure::dropped;
  if (err == REDIS_ERR_IO) {
    // SO_RCVTIMEO/SO_SNDTIMEO expiry surfaces as EAGAIN on a blocking
    // socket; a connect that outlives its bound as ETIMEDOUT.
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT ||
        saved_errno == EINPROGRESS) {
      return RedisFailure::timeout;
    }
    if (saved_errno == ECONNRESET || saved_errno == EPIPE || saved_errno == ECONNABORTED ||
        saved_errno == ENOTCONN) {
      return RedisFailure::dropped;
    }
  }
  return RedisFailure::other;
}

void throw_redis_error(const RedisEndpoint& endpoint, const RedisOperation& operation, int err,
                       const char* errstr, int saved_errno) {
  // errno only means something for I/O errors; elsewhere it is stale.
  const int shown_errno = err == REDIS_ERR_IO ? saved_errno : 0;
  const bool timeout = classify_redis_failure(err, saved_errno) == RedisFailure::timeout;
  std::string what = errstr != nullptr && *errstr != '\0' ? errstr : "unknown error";
  if (timeout) {
    const bool connecting = std::string_view(operation.command) == "connect";
    what += fmt::format("; no {} within {} ms", connecting ? "connection" : "reply",
                        (connecting ? endpoint.connect_timeout : endpoint.command_timeout).count());
  }
  std::string message = fmt::format("{}: {} failed: {} (err {}, errno {})", endpoint.subject(),
                                    operation.describe(), what, err, shown_errno);
  if (timeout)
    throw TimeoutError(message);
  throw ConnectionError(message);
}

bool is_auth_refusal(std::string_view text) noexcept {
  return starts_with(text, "NOAUTH") || starts_with(text, "WRONGPASS") ||
         starts_with(text, "ERR invalid password") || starts_with(text, "ERR Client sent AUTH");
}

bool is_auth_refusal(const redisReply& reply) noexcept {
  if (reply.type != REDIS_REPLY_ERROR || reply.str == nullptr)
    return false;
  return is_auth_refusal(std::string_view(reply.str, reply.len));
}

void throw_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                       std::string_view text) {
  std::string message = fmt::format("{}: {} failed: server replied: {}", endpoint.subject(),
                                    operation.describe(), text);
  // Refused credentials make the connection unusable, not just the command.
  if (is_auth_refusal(text)) {
    if (endpoint.password.empty() && starts_with(text, "NOAUTH")) {
      message +=
          " (no password was sent; a store rebuilt from a proxy authenticates only with a "
          "password bound to this host:port by PROXYSTORE_REDIS_AUTH or "
          "PROXYSTORE_REDIS_AUTH_FILE, e.g. PROXYSTORE_REDIS_AUTH=host:port=password)";
    }
    throw ConnectionError(message);
  }
  throw StoreOperationError(message);
}

void throw_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                       const redisReply& reply) {
  throw_reply_error(endpoint, operation,
                    std::string_view(reply.str != nullptr ? reply.str : "", reply.len));
}

void throw_unexpected_reply(const RedisEndpoint& endpoint, const RedisOperation& operation,
                            const redisReply& reply) {
  throw StoreOperationError(fmt::format("{}: {} failed: unexpected {} reply", endpoint.subject(),
                                        operation.describe(), reply_type_name(reply.type)));
}

std::unique_ptr<RedisConnection> RedisConnection::open(const RedisEndpoint& endpoint) {
  const RedisOperation connect_op{"connect"};
  errno = 0;
  RedisContextPtr context(endpoint.connect_timeout.count() > 0
                              ? redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port,
                                                        to_timeval(endpoint.connect_timeout))
                              : redisConnect(endpoint.host.c_str(), endpoint.port));
  const int saved_errno = errno;
  if (!context) {
    throw_redis_error(endpoint, connect_op, REDIS_ERR_OOM, "cannot allocate a redis context", 0);
  }
  if (context->err != 0) {
    throw_redis_error(endpoint, connect_op, context->err, context->errstr, saved_errno);
  }
  if (endpoint.command_timeout.count() > 0 &&
      redisSetTimeout(context.get(), to_timeval(endpoint.command_timeout)) != REDIS_OK) {
    throw_redis_error(endpoint, RedisOperation{"set timeout on"}, context->err, context->errstr,
                      errno);
  }
  // Keepalive lets the kernel notice a silently vanished peer on a pooled
  // connection; failure to enable it is harmless.
  redisEnableKeepAlive(context.get());
  context->err = 0;

  std::unique_ptr<RedisConnection> connection(new RedisConnection(endpoint, std::move(context)));
  if (!endpoint.password.empty()) {
    const RedisOperation auth_op{"AUTH"};
    RedisArgs args(3);
    args.add("AUTH");
    if (!endpoint.username.empty())
      args.add(endpoint.username);
    args.add(endpoint.password);
    RedisReplyPtr reply = connection->command(auth_op, args);
    if (reply->type == REDIS_REPLY_ERROR) {
      // Always a ConnectionError, whatever the server's wording.
      throw ConnectionError(
          fmt::format("{}: AUTH{} failed: server replied: {}", endpoint.subject(),
                      endpoint.username.empty() ? "" : " as user \"" + endpoint.username + "\"",
                      std::string_view(reply->str, reply->len)));
    }
  }
  if (endpoint.db != 0) {
    const std::string select = fmt::format("SELECT {}", endpoint.db);
    const RedisOperation select_op{select.c_str()};
    RedisArgs args(2);
    args.add("SELECT").add_owned(std::to_string(endpoint.db));
    RedisReplyPtr reply = connection->command(select_op, args);
    if (reply->type == REDIS_REPLY_ERROR) {
      throw ConnectionError(fmt::format("{}: {} failed: server replied: {}", endpoint.subject(),
                                        select, std::string_view(reply->str, reply->len)));
    }
  }
  return connection;
}

RedisReplyPtr RedisConnection::command(const RedisOperation& operation, RedisArgs& args) {
  append(operation, args);
  return reply(operation);
}

void RedisConnection::append(const RedisOperation& operation, RedisArgs& args) {
  if (redisAppendCommandArgv(context_.get(), args.argc(), args.argv(), args.lengths()) !=
      REDIS_OK) {
    fail(operation, errno);
  }
  ++pending_;
}

void append_resp_command(std::string& out, std::initializer_list<std::string_view> args) {
  // Sized first, then written in place: one resize, no append per piece.
  constexpr std::size_t max_header = 1 + std::numeric_limits<std::size_t>::digits10 + 1 + 2;
  std::size_t bound = max_header;
  for (const std::string_view arg : args)
    bound += max_header + arg.size() + 2;
  const std::size_t start = out.size();
  out.resize(start + bound);
  char* at = out.data() + start;
  char* const last = out.data() + out.size();
  const auto header = [&](char type, std::size_t n) {
    *at++ = type;
    at = std::to_chars(at, last, n).ptr;
    *at++ = '\r';
    *at++ = '\n';
  };
  header('*', args.size());
  for (const std::string_view arg : args) {
    header('$', arg.size());
    if (!arg.empty())
      std::memcpy(at, arg.data(), arg.size());
    at += arg.size();
    *at++ = '\r';
    *at++ = '\n';
  }
  out.resize(static_cast<std::size_t>(at - out.data()));
}

void RedisConnection::append_formatted(const RedisOperation& operation, std::string_view commands,
                                       std::size_t count) {
  if (redisAppendFormattedCommand(context_.get(), commands.data(), commands.size()) != REDIS_OK)
    fail(operation, errno);
  pending_ += count;
}

RedisReplyPtr RedisConnection::reply(const RedisOperation& operation) {
  void* raw = nullptr;
  int status = REDIS_OK;
  int saved_errno = 0;
  errno = 0;
  if (context_->obuf != nullptr && sdslen(context_->obuf) > 0) {
    // This call flushes queued commands first: only writes need the guard.
    SigpipeGuard guard;
    status = redisGetReply(context_.get(), &raw);
    saved_errno = errno;
    guard.note_errno(saved_errno);
  } else {
    status = redisGetReply(context_.get(), &raw);
    saved_errno = errno;
  }
  if (status != REDIS_OK || raw == nullptr) {
    if (context_->err == 0) {
      context_->err = REDIS_ERR_OTHER;
      std::snprintf(context_->errstr, sizeof(context_->errstr), "%s", "no reply");
    }
    fail(operation, saved_errno);
  }
  --pending_;
  return RedisReplyPtr(static_cast<redisReply*>(raw));
}

std::vector<RedisReplyPtr> RedisConnection::replies(const RedisOperation& operation,
                                                    std::size_t count) {
  std::vector<RedisReplyPtr> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i)
    out.push_back(reply(operation));
  return out;
}

RedisReplyPtr RedisConnection::check(const RedisOperation& operation, RedisReplyPtr reply,
                                     int expected, bool nil_ok) {
  if (reply->type == REDIS_REPLY_ERROR) {
    if (is_auth_refusal(*reply))
      failure_ = RedisFailure::other;
    throw_reply_error(*endpoint_, operation, *reply);
  }
  if (reply->type != expected && !(nil_ok && reply->type == REDIS_REPLY_NIL)) {
    throw_unexpected_reply(*endpoint_, operation, *reply);
  }
  return reply;
}

bool RedisConnection::quiescent() const noexcept {
  const redisContext& c = *context_;
  return failure_ == RedisFailure::none && pending_ == 0 && direct_.size() == 0 &&
         bulk_left_ == 0 && (c.obuf == nullptr || sdslen(c.obuf) == 0) &&
         (c.reader == nullptr || c.reader->pos == c.reader->len);
}

// --- direct I/O ---------------------------------------------------------------

void RedisConnection::flush(const RedisOperation& operation) {
  redisContext* const c = context_.get();
  if (c->obuf == nullptr || sdslen(c->obuf) == 0)
    return;
  SigpipeGuard guard;
  int done = 0;
  while (done == 0) {
    errno = 0;
    if (redisBufferWrite(c, &done) != REDIS_OK) {
      const int saved_errno = errno;
      guard.note_errno(saved_errno);
      fail(operation, saved_errno);
    }
  }
}

void RedisConnection::wait_for(const RedisOperation& operation, short events) {
  const auto bound = endpoint_->command_timeout.count();
  const int timeout_ms =
      bound > 0 ? static_cast<int>(std::min<long long>(bound, std::numeric_limits<int>::max()))
                : -1;
  pollfd entry{fd(), events, 0};
  for (;;) {
    const int ready = ::poll(&entry, 1, timeout_ms);
    if (ready > 0)
      return;  // ready, or an error/hang-up the next call reports
    if (ready == 0) {
      // Reported like hiredis's own SO_RCVTIMEO expiry: a TimeoutError.
      mark_failed(operation, REDIS_ERR_IO, "Resource temporarily unavailable", EAGAIN);
    }
    const int saved_errno = errno;
    if (saved_errno != EINTR) {
      mark_failed(operation, REDIS_ERR_IO, errno_text(saved_errno).c_str(), saved_errno);
    }
  }
}

std::size_t RedisConnection::receive_some(const RedisOperation& operation, char* into,
                                          std::size_t capacity) {
  for (;;) {
    const ssize_t n = ::recv(fd(), into, capacity, MSG_DONTWAIT);
    if (n > 0)
      return static_cast<std::size_t>(n);
    if (n == 0)
      mark_failed(operation, REDIS_ERR_EOF, "Server closed the connection", 0);
    const int saved_errno = errno;
    if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
      wait_for(operation, POLLIN);
    } else if (saved_errno != EINTR) {
      mark_failed(operation, REDIS_ERR_IO, errno_text(saved_errno).c_str(), saved_errno);
    }
  }
}

void RedisConnection::send_direct(const RedisOperation& operation,
                                  std::initializer_list<std::string_view> args,
                                  std::initializer_list<std::string_view> parts,
                                  std::initializer_list<std::string_view> trailing) {
  flush(operation);  // anything hiredis queued goes first, in order
  std::size_t value_size = 0;
  for (std::string_view part : parts)
    value_size += part.size();
  // The RESP framing and the small arguments in one buffer; the value's
  // parts are sent from the caller's memory.
  std::size_t args_size = 0;
  for (std::string_view arg : args)
    args_size += arg.size();
  std::string header;
  header.reserve(64 + args_size + args.size() * 16);
  auto out = std::back_inserter(header);
  fmt::format_to(out, "*{}\r\n", args.size() + (parts.size() != 0 ? 1 : 0) + trailing.size());
  for (std::string_view arg : args) {
    fmt::format_to(out, "${}\r\n", arg.size());
    header.append(arg).append("\r\n");
  }
  std::vector<iovec> iov;
  iov.reserve(parts.size() + 3);
  if (parts.size() != 0)
    fmt::format_to(out, "${}\r\n", value_size);
  iov.push_back(iovec{header.data(), header.size()});
  static constexpr char crlf[] = "\r\n";
  // The arguments after the value: framed in a buffer of their own.
  std::string tail;
  for (std::string_view arg : trailing) {
    fmt::format_to(std::back_inserter(tail), "${}\r\n", arg.size());
    tail.append(arg).append("\r\n");
  }
  if (parts.size() != 0) {
    for (std::string_view part : parts) {
      if (!part.empty())
        iov.push_back(
            iovec{const_cast<char*>(part.data()), part.size()});  // NOLINT: sendmsg never writes
    }
    iov.push_back(
        iovec{const_cast<char*>(crlf), 2});  // NOLINT(cppcoreguidelines-pro-type-const-cast)
  }
  if (!tail.empty())
    iov.push_back(iovec{tail.data(), tail.size()});
  std::size_t first = 0;
  while (first < iov.size()) {
    msghdr message{};
    message.msg_iov = iov.data() + first;
    message.msg_iovlen = iov.size() - first;
    // MSG_NOSIGNAL: a peer that went away is EPIPE here, never SIGPIPE.
    const ssize_t n = ::sendmsg(fd(), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      const int saved_errno = errno;
      if (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK) {
        wait_for(operation, POLLOUT);
      } else if (saved_errno != EINTR) {
        mark_failed(operation, REDIS_ERR_IO, errno_text(saved_errno).c_str(), saved_errno);
      }
      continue;
    }
    auto sent = static_cast<std::size_t>(n);
    while (first < iov.size() && sent >= iov[first].iov_len) {
      sent -= iov[first].iov_len;
      ++first;
    }
    if (first < iov.size()) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + sent;
      iov[first].iov_len -= sent;
    }
  }
  ++pending_;
}

std::size_t RedisConnection::receive_line(const RedisOperation& operation) {
  if (!direct_.data)
    direct_.data.reset(new char[DirectBuffer::capacity]);
  char* const data = direct_.data.get();
  std::size_t scanned = direct_.begin;
  for (;;) {
    for (std::size_t i = scanned; i + 1 < direct_.end; ++i) {
      if (data[i] == '\r' && data[i + 1] == '\n')
        return i - direct_.begin;
    }
    if (direct_.begin > 0) {  // make room at the end
      std::memmove(data, data + direct_.begin, direct_.size());
      direct_.end -= direct_.begin;
      direct_.begin = 0;
    }
    scanned = direct_.end == 0 ? 0 : direct_.end - 1;
    if (direct_.end == DirectBuffer::capacity)
      mark_failed(operation, REDIS_ERR_PROTOCOL, "reply line too long", 0);
    direct_.end +=
        receive_some(operation, data + direct_.end, DirectBuffer::capacity - direct_.end);
  }
}

ReplyHeader parse_reply_header(std::string_view line) noexcept {
  ReplyHeader header;
  if (line.empty())
    return header;
  if (line[0] == '$') {
    if (line == "$-1") {
      header.kind = ReplyHeader::Kind::nil;
      return header;
    }
    std::size_t size = 0;
    const char* const end = line.data() + line.size();
    const auto [next, error] = std::from_chars(line.data() + 1, end, size);
    if (error == std::errc() && next == end && next != line.data() + 1) {
      header.kind = ReplyHeader::Kind::bulk;
      header.size = size;
    }
    return header;
  }
  if (line[0] == '-') {
    header.kind = ReplyHeader::Kind::error;
    header.text = line.substr(1);
    return header;
  }
  if (line[0] == '+' || line[0] == ':' || line[0] == '*') {
    header.kind = ReplyHeader::Kind::other;
    header.type = line[0];
  }
  return header;
}

std::optional<std::size_t> RedisConnection::read_bulk_header(const RedisOperation& operation) {
  const std::size_t length = receive_line(operation);
  const std::string_view line(direct_.data.get() + direct_.begin, length);
  direct_.begin += length + 2;
  const ReplyHeader header = parse_reply_header(line);
  switch (header.kind) {
    case ReplyHeader::Kind::bulk:
      bulk_left_ = header.size;
      return bulk_left_;
    case ReplyHeader::Kind::nil:
      finish_reply(operation);
      return std::nullopt;
    case ReplyHeader::Kind::error: {
      const std::string text(header.text);  // the buffer is reused below
      finish_reply(operation);
      if (is_auth_refusal(text))
        failure_ = RedisFailure::other;  // as check(): reconnect and AUTH again
      throw_reply_error(*endpoint_, operation, text);
    }
    case ReplyHeader::Kind::other:
      // A complete reply of another type (or an array we will not parse):
      // the command never returns one, so the stream is not what we think.
      failure_ = RedisFailure::other;
      throw StoreOperationError(fmt::format("{}: {} failed: unexpected {} reply",
                                            endpoint_->subject(), operation.describe(),
                                            header.type == '+'   ? "status"
                                            : header.type == ':' ? "integer"
                                                                 : "array"));
    case ReplyHeader::Kind::malformed:
      break;
  }
  mark_failed(operation, REDIS_ERR_PROTOCOL, "malformed reply header", 0);
}

void RedisConnection::read_bulk(const RedisOperation& operation, char* into, std::size_t n) {
  if (n > bulk_left_)
    mark_failed(operation, REDIS_ERR_OTHER, "read past the end of a bulk reply", 0);
  const std::size_t buffered = std::min(n, direct_.size());
  if (buffered != 0) {
    std::memcpy(into, direct_.data.get() + direct_.begin, buffered);
    direct_.begin += buffered;
  }
  for (std::size_t filled = buffered; filled < n;)
    filled += receive_some(operation, into + filled, n - filled);
  bulk_left_ -= n;
}

void RedisConnection::finish_bulk(const RedisOperation& operation) {
  if (bulk_left_ != 0)
    mark_failed(operation, REDIS_ERR_OTHER, "bulk reply not read to its end", 0);
  char* const data = direct_.data.get();
  if (direct_.size() < 2) {
    std::memmove(data, data + direct_.begin, direct_.size());
    direct_.end -= direct_.begin;
    direct_.begin = 0;
    while (direct_.end < 2)
      direct_.end += receive_some(operation, data + direct_.end, 2 - direct_.end);
  }
  if (data[direct_.begin] != '\r' || data[direct_.begin + 1] != '\n')
    mark_failed(operation, REDIS_ERR_PROTOCOL, "bulk reply not terminated by CRLF", 0);
  direct_.begin += 2;
  finish_reply(operation);
}

void RedisConnection::finish_reply(const RedisOperation& operation) {
  // One command was sent and its reply is complete: nothing may follow.
  if (direct_.size() != 0)
    mark_failed(operation, REDIS_ERR_PROTOCOL, "unexpected bytes after a reply", 0);
  direct_.begin = direct_.end = 0;
  --pending_;
}

void BulkReader::read(char* into, std::size_t n) {
  if (n > size_ - done_) {
    throw StoreOperationError(fmt::format("{}: {}: read of {} bytes past the end of the value",
                                          connection_.endpoint().subject(), operation_.describe(),
                                          n));
  }
  connection_.read_bulk(operation_, into, n);
  done_ += n;
}

void RedisConnection::mark_failed(const RedisOperation& operation, int err, const char* errstr,
                                  int saved_errno) {
  context_->err = err;
  std::snprintf(context_->errstr, sizeof(context_->errstr), "%s", errstr);
  fail(operation, saved_errno);
}

void RedisConnection::fail(const RedisOperation& operation, int saved_errno) {
  failure_ = classify_redis_failure(context_->err, saved_errno);
  throw_redis_error(*endpoint_, operation, context_->err, context_->errstr, saved_errno);
}

}  // namespace proxystore::detail
