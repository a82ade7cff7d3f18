// SPDX-License-Identifier: Apache-2.0
// Test harness: a throwaway redis-server on a free loopback port, plus a
// minimal RESP client to inspect it (INFO, SCAN, CONFIG) without hiredis.
#pragma once

#include <proxystore/stores/redis.hpp>

#include <sys/types.h>

#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::test {

/// One parsed RESP reply.
struct RespReply {
  enum class Type { status, error, integer, bulk, nil, array };
  Type type = Type::nil;
  std::string text;  // status, error and bulk replies
  long long integer = 0;
  std::vector<RespReply> elements;  // array replies
};

/// A private `redis-server` child process, for tests only.
///
/// The binary is `$PROXYSTORE_REDIS_SERVER`, else the configure-time
/// `PROXYSTORE_TEST_REDIS_SERVER`, else `redis-server` on PATH; if none is
/// found the constructor throws (so a test fails, never silently passes).
/// The server listens on 127.0.0.1 only, on a port found free by binding
/// port 0, with persistence off and its working directory in a private
/// temporary directory. The destructor kills and reaps it; the child also
/// dies with the thread that started it (PR_SET_PDEATHSIG), so a crashed
/// test leaves no server behind.
class RedisServer {
 public:
  struct Options {
    /// Extra `--name value` arguments, e.g. {"--requirepass", "secret"}.
    std::vector<std::string> extra_args;
    /// Password the harness's own admin connections AUTH with (set it when
    /// extra_args contains --requirepass).
    std::string admin_password;
    /// Bound on waiting for the server to answer PING.
    std::chrono::milliseconds start_timeout{10000};
    /// When not 0, the port is chosen so that port + this offset is free
    /// too and below 65536 (a cluster node's bus port is port + 10000).
    int companion_port_offset = 0;
  };

  RedisServer();
  explicit RedisServer(Options options);
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer();

  const std::string& host() const noexcept { return host_; }
  int port() const noexcept { return port_; }
  /// "127.0.0.1:<port>".
  std::string address() const;
  /// The child's pid, or -1 when it is not running.
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  /// Sends `signal`; for SIGKILL/SIGTERM also waits for the process to exit.
  void kill(int signal = SIGKILL);
  /// SIGSTOP: the server keeps its socket but answers nothing.
  void stop();
  /// SIGCONT after stop().
  void cont();
  /// Kills the server if it runs and starts a new one on the same port
  /// (an empty database; the same extra arguments).
  void restart();

  /// Runs one command on a fresh admin connection (AUTHed when
  /// admin_password is set). Throws std::runtime_error on I/O failure.
  RespReply command(const std::vector<std::string>& args) const;
  /// Runs `list` in order on one fresh admin connection and returns the
  /// last reply (WAIT, for one, counts only its own connection's writes).
  RespReply commands(const std::vector<std::vector<std::string>>& list) const;
  /// The `calls=` count of `cmdstat_<name>` in INFO commandstats (0 if the
  /// command has not run since the last reset_stats()).
  long long command_calls(std::string_view name) const;
  /// CONFIG RESETSTAT.
  void reset_stats() const;
  /// Every key matching `pattern` (SCAN, so never blocking the server).
  std::vector<std::string> keys(const std::string& pattern) const;
  /// What the server printed (its log), for failure messages.
  std::string log() const;

  /// The redis-server binary the harness would use; throws if none.
  static std::string find_binary();

 private:
  /// Starts the child on `port_` and waits for PING; false if the port
  /// turned out to be taken (the caller may pick another).
  bool start();
  void remove_directory() noexcept;

  Options options_;
  std::string binary_;
  std::string host_ = "127.0.0.1";
  std::string directory_;  // private temporary directory (log, dir)
  int port_ = 0;
  pid_t pid_ = -1;
};

/// Conformance-suite traits (see support/store_fixtures.hpp) for
/// RedisStore: each traits object owns a private server.
struct RedisStoreTraits {
  static constexpr const char* type = "redis";
  static constexpr bool shares_data_when_rebuilt = true;

  RedisServer server;

  template <class S = RedisStore>
  std::shared_ptr<S> make(const std::string& name, StoreOptions options = {}) {
    RedisOptions redis;
    redis.connect_timeout = std::chrono::milliseconds(2000);
    redis.command_timeout = std::chrono::milliseconds(5000);
    redis.store = options;
    return std::make_shared<S>(name, server.host(), server.port(), redis);
  }
};

/// A loopback port that was free a moment ago (bound to port 0, closed).
int free_loopback_port();

/// A loopback port that was free a moment ago, as was port + `offset`
/// (both at most 65535).
int free_loopback_port_pair(int offset);

/// Result of running a child process to completion.
struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  bool timed_out = false;
  std::string out;  // stdout
  std::string err;  // stderr
};

/// Runs `path args...` with `input` on stdin and `environment` overrides
/// ("NAME=value"; "NAME" alone unsets it), bounded by `timeout` (the child
/// is killed when it runs over).
ProcessResult run_process(const std::string& path, const std::vector<std::string>& args,
                          std::string_view input, const std::vector<std::string>& environment = {},
                          std::chrono::milliseconds timeout = std::chrono::milliseconds(30000));

}  // namespace proxystore::test
