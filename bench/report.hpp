// SPDX-License-Identifier: Apache-2.0
// Collects every repetition of every benchmark and prints the ratio tables.
#pragma once

#include <benchmark/benchmark.h>

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace proxystore::bench {

/// Shows progress like the console reporter (on the stream it is given)
/// and keeps each repetition's time per iteration, in seconds, by name.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  RecordingReporter() : ConsoleReporter(OO_None) {}

  void ReportRuns(const std::vector<Run>& reports) override;

  /// Seconds per iteration of each repetition, by registered name.
  const std::map<std::string, std::vector<double>>& results() const noexcept { return results_; }
  /// The median seconds per iteration of `name` over its repetitions, if it ran.
  std::optional<double> median(const std::string& name) const;
  /// Names of benchmarks that reported an error.
  const std::vector<std::string>& errors() const noexcept { return errors_; }

 private:
  std::map<std::string, std::vector<double>> results_;
  std::vector<std::string> errors_;
};

/// Context printed above the tables.
struct RunInfo {
  std::string machine;
  std::string compiler;
  std::string flags;
  std::string redis_version;
  /// The Redis Cluster's nodes, "host:port, ...".
  std::string cluster_nodes;
  std::string load_before;
  std::string load_after;
  int repetitions = 1;
  /// A --smoke run: one iteration, small objects; the figures mean nothing.
  bool smoke = false;
};

/// Prints the markdown report (tables of ratios, targets met or missed).
/// Returns the number of targets missed.
int print_report(std::ostream& out, const RunInfo& info, const RecordingReporter& reporter);

}  // namespace proxystore::bench
