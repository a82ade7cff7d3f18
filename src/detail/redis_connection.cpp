// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_connection.hpp"

#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <pthread.h>
#include <sys/time.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <string>
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

bool is_auth_refusal(const redisReply& reply) noexcept {
  if (reply.type != REDIS_REPLY_ERROR || reply.str == nullptr)
    return false;
  const std::string_view text(reply.str, reply.len);
  return starts_with(text, "NOAUTH") || starts_with(text, "WRONGPASS") ||
         starts_with(text, "ERR invalid password") || starts_with(text, "ERR Client sent AUTH");
}

void throw_reply_error(const RedisEndpoint& endpoint, const RedisOperation& operation,
                       const redisReply& reply) {
  const std::string_view text(reply.str != nullptr ? reply.str : "", reply.len);
  std::string message = fmt::format("{}: {} failed: server replied: {}", endpoint.subject(),
                                    operation.describe(), text);
  // Refused credentials make the connection unusable, not just the command.
  if (is_auth_refusal(reply))
    throw ConnectionError(message);
  throw StoreOperationError(message);
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
  return failure_ == RedisFailure::none && pending_ == 0 &&
         (c.obuf == nullptr || sdslen(c.obuf) == 0) &&
         (c.reader == nullptr || c.reader->pos == c.reader->len);
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
