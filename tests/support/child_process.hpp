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

}  // namespace proxystore::test
