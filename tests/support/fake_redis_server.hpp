// SPDX-License-Identifier: Apache-2.0
// Test harness: a scripted RESP server on a loopback port, for the tests
// where a hostile, broken or eavesdropping server is the point. Everything
// else talks to a real redis-server (support/redis_server.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace proxystore::test {

/// A listener on 127.0.0.1 (a free port) that parses the RESP commands
/// clients send and answers each with whatever the handler returns.
///
/// The handler sees one command (its arguments, the name first) and returns
/// the raw bytes to send back — any bytes, well-formed or not — or
/// `std::nullopt` to say nothing and keep the connection open (a silent
/// server). Every command received is recorded. The destructor closes the
/// listener and every connection and joins the server thread, so a test
/// never leaves it behind.
class FakeRedisServer {
 public:
  using Command = std::vector<std::string>;
  using Handler = std::function<std::optional<std::string>(const Command& command)>;

  explicit FakeRedisServer(Handler handler);
  FakeRedisServer(const FakeRedisServer&) = delete;
  FakeRedisServer& operator=(const FakeRedisServer&) = delete;
  ~FakeRedisServer();

  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  /// "127.0.0.1:<port>".
  std::string address() const;

  /// Every command received so far, over all connections, in arrival order.
  std::vector<Command> commands() const;
  /// How many connections were accepted so far.
  std::size_t connections() const noexcept { return connections_.load(); }

  /// Replies, for handlers.
  static std::string ok() { return "+OK\r\n"; }
  static std::string nil() { return "$-1\r\n"; }
  static std::string error(const std::string& text) { return "-" + text + "\r\n"; }
  static std::string integer(long long value) { return ":" + std::to_string(value) + "\r\n"; }
  static std::string bulk(const std::string& bytes) {
    return "$" + std::to_string(bytes.size()) + "\r\n" + bytes + "\r\n";
  }

  /// A handler that answers the connection handshake (HELLO, AUTH, SELECT,
  /// CLIENT, PING) like a password-less server and every other command
  /// with `reply(command)`.
  static Handler with_handshake(Handler reply);

 private:
  void serve();

  Handler handler_;
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};  // written by the destructor to end serve()
  std::atomic<std::size_t> connections_{0};
  mutable std::mutex mutex_;
  std::vector<Command> commands_;
  std::thread thread_;
};

}  // namespace proxystore::test
