// SPDX-License-Identifier: Apache-2.0
// run_child(): runs a helper executable with given stdin bytes and captures its output.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::test {

/// What a child process did.
struct ChildResult {
  /// The exit status if the child exited normally, else -1.
  int exit_code = -1;
  /// The signal that killed the child, else 0.
  int signal = 0;
  /// True if run_child killed the child because it exceeded the timeout.
  bool timed_out = false;
  std::string out;  ///< everything written to stdout
  std::string err;  ///< everything written to stderr

  /// "exit 3" / "signal 11" / "timed out", then stdout and stderr, for
  /// test failure messages.
  std::string describe() const;
};

/// Options of run_child.
struct ChildOptions {
  /// Extra environment entries "NAME=value" (added to, or overriding, ours).
  std::vector<std::string> env;
  /// Environment variables to remove from the child's environment.
  std::vector<std::string> unset_env;
  /// The child is killed (SIGKILL) after this long.
  std::chrono::milliseconds timeout{30000};
};

/// Spawns `program` with `args` (argv[1..]), writes `input` to its stdin
/// and closes it, and collects stdout and stderr until it exits. Reads and
/// writes are multiplexed, so a child that writes a lot before reading all
/// its input cannot deadlock us. SIGPIPE is not raised in this process.
/// @throws std::system_error if the child cannot be started.
ChildResult run_child(const std::string& program, const std::vector<std::string>& args,
                      std::string_view input, const ChildOptions& options = {});

/// A helper process that keeps running while the test talks to it: its
/// stdin is a pipe the test may close, its stdout is read line by line,
/// its stderr is ours. The destructor kills (SIGKILL) and reaps it.
class BackgroundChild {
 public:
  /// Spawns `program` with `args` (argv[1..]).
  /// @throws std::system_error if it cannot be started.
  BackgroundChild(const std::string& program, const std::vector<std::string>& args,
                  const ChildOptions& options = {});
  BackgroundChild(const BackgroundChild&) = delete;
  BackgroundChild& operator=(const BackgroundChild&) = delete;
  ~BackgroundChild();

  /// The next line of its stdout (without the newline).
  /// @throws std::runtime_error when none arrives within `timeout`.
  std::string read_line(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// Closes its stdin (EOF: helpers take it as "exit now").
  void close_stdin() noexcept;
  /// Sends `signal`; SIGKILL also reaps it.
  void kill(int signal);
  /// Waits for it to exit: its exit status, -1 if a signal killed it, -2
  /// if it had to be killed after `timeout`.
  int wait(std::chrono::milliseconds timeout);
  /// Its pid (-1 once reaped).
  int pid() const noexcept { return pid_; }

 private:
  int pid_ = -1;
  int status_ = -1;
  int in_ = -1;
  int out_ = -1;
  std::string buffered_;
};

/// Waits up to `limit` for the forked child `pid`; kills it (SIGKILL) if
/// still running. Returns its status as from waitpid, or -1 if it had to be
/// killed (a hung child).
int wait_or_kill(int pid, std::chrono::milliseconds limit);

}  // namespace proxystore::test
