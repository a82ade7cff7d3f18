// SPDX-License-Identifier: Apache-2.0
// proxystore_bench: every benchmark of the library against its baseline,
// then the ratio tables (markdown, on stdout; progress goes to stderr).
//
//   proxystore_bench --redis-port=N --redis-cluster=HOST:PORT,... [--smoke]
//                    [--scratch=DIR] [--plot-data=FILE] [benchmark flags]
//
// bench/run.sh starts a Redis server and a Redis Cluster and passes the
// server's port and the cluster's nodes. --plot-data writes the latency
// table behind docs/performance.md's plot (bench/latency.gp). --smoke runs
// each benchmark once on small objects (CI keeps them working; the numbers
// mean nothing). Google Benchmark flags (--benchmark_filter=...,
// --benchmark_repetitions=N, ...) pass through; the full run defaults to 10
// repetitions, randomly interleaved so a burst of load from elsewhere hits
// all variants alike.
#include "bench_common.hpp"
#include "plot_data.hpp"
#include "report.hpp"

#include <proxystore/proxystore.hpp>

#include <hiredis/hiredis.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#ifndef PROXYSTORE_BENCH_FLAGS
#define PROXYSTORE_BENCH_FLAGS "unknown"
#endif

namespace proxystore::bench {

Settings& settings() {
  static Settings s;
  return s;
}

std::vector<std::size_t> object_sizes() {
  if (settings().smoke)
    return {100, std::size_t{1} << 20};  // 1 MB: still takes the large-value paths
  return {100, 10 * 1024, std::size_t{1} << 20, std::size_t{10} << 20, std::size_t{100} << 20};
}

std::size_t largest_size() {
  return object_sizes().back();
}

std::string size_label(std::size_t bytes) {
  if (bytes >= (std::size_t{1} << 20))
    return std::to_string(bytes >> 20U) + " MB";
  if (bytes >= 1024)
    return std::to_string(bytes >> 10U) + " KB";
  return std::to_string(bytes) + " B";
}

template <>
std::vector<char> make_object<std::vector<char>>(std::size_t bytes) {
  std::vector<char> object(bytes);
  for (std::size_t i = 0; i < bytes; ++i)
    object[i] = static_cast<char>('a' + i % 26);
  return object;
}

template <>
std::vector<double> make_object<std::vector<double>>(std::size_t bytes) {
  std::vector<double> object(std::max<std::size_t>(1, bytes / sizeof(double)));
  std::iota(object.begin(), object.end(), 0.5);
  return object;
}

template <>
const char* element_name<std::vector<char>>() {
  return "char";
}
template <>
const char* element_name<std::vector<double>>() {
  return "double";
}

std::vector<Measurement>& measurements() {
  static std::vector<Measurement> all;
  return all;
}

namespace {

std::string read_first_line(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

std::string machine_description() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  std::string model = "unknown CPU";
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      model = line.substr(line.find(':') + 2);
      break;
    }
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string memory;
  while (std::getline(meminfo, line)) {
    if (line.rfind("MemTotal:", 0) == 0) {
      std::istringstream fields(line.substr(9));
      double kb = 0;
      fields >> kb;
      memory = std::to_string(static_cast<int>(kb / 1024 / 1024 + 0.5)) + " GB RAM";
    }
  }
  utsname system{};
  ::uname(&system);
  return std::to_string(::sysconf(_SC_NPROCESSORS_ONLN)) + " × " + model + ", " + memory +
         ", Linux " + system.release;
}

std::string load_average() {
  std::istringstream fields(read_first_line("/proc/loadavg"));
  std::string one, five, fifteen;
  fields >> one >> five >> fifteen;
  return one + " / " + five + " / " + fifteen;
}

std::string redis_version() {
  const Settings& s = settings();
  redisContext* context = redisConnect(s.redis_host.c_str(), s.redis_port);
  std::string version = "unknown";
  if (context != nullptr && context->err == 0) {
    auto* reply = static_cast<redisReply*>(redisCommand(context, "INFO server"));
    if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
      const std::string info(reply->str, reply->len);
      const auto at = info.find("redis_version:");
      if (at != std::string::npos)
        version = info.substr(at + 14, info.find('\r', at) - at - 14);
    }
    freeReplyObject(reply);
  }
  redisFree(context);
  return version;
}

bool has_flag(const std::vector<std::string>& args, const std::string& prefix) {
  return std::any_of(args.begin(), args.end(),
                     [&](const std::string& a) { return a.rfind(prefix, 0) == 0; });
}

}  // namespace
}  // namespace proxystore::bench

int main(int argc, char** argv) {
  using namespace proxystore::bench;
  Settings& s = settings();
  std::vector<std::string> passed{argv[0]};
  std::string plot_data;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--smoke") {
      s.smoke = true;
    } else if (arg.rfind("--redis-port=", 0) == 0) {
      s.redis_port = std::atoi(arg.c_str() + 13);
    } else if (arg.rfind("--redis-cluster=", 0) == 0) {
      std::istringstream seeds(arg.substr(16));
      for (std::string seed; std::getline(seeds, seed, ',');) {
        if (!seed.empty())
          s.cluster_seeds.push_back(seed);
      }
    } else if (arg.rfind("--plot-data=", 0) == 0) {
      plot_data = arg.substr(std::string("--plot-data=").size());
    } else if (arg.rfind("--scratch=", 0) == 0) {
      s.scratch = arg.substr(10);
    } else {
      passed.push_back(arg);
    }
  }
  if (s.redis_port <= 0 || s.cluster_seeds.empty()) {
    std::cerr << "usage: " << argv[0]
              << " --redis-port=N --redis-cluster=HOST:PORT,... [--smoke] [--scratch=DIR] "
                 "[--plot-data=FILE] [benchmark flags]\n"
                 "(bash bench/run.sh starts a server and a cluster and runs this)\n";
    return 2;
  }
  if (s.scratch.empty())
    s.scratch =
        std::filesystem::temp_directory_path() / ("proxystore-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(s.scratch);

  if (!has_flag(passed, "--benchmark_repetitions"))
    passed.emplace_back(s.smoke ? "--benchmark_repetitions=1" : "--benchmark_repetitions=10");
  if (!s.smoke && !has_flag(passed, "--benchmark_enable_random_interleaving"))
    passed.emplace_back("--benchmark_enable_random_interleaving=true");
  std::vector<char*> benchmark_argv;
  for (std::string& arg : passed)
    benchmark_argv.push_back(arg.data());
  int benchmark_argc = static_cast<int>(benchmark_argv.size());
  benchmark::Initialize(&benchmark_argc, benchmark_argv.data());
  if (benchmark::ReportUnrecognizedArguments(benchmark_argc, benchmark_argv.data()))
    return 2;

  RunInfo info;
  info.machine = machine_description();
  info.compiler = "C++ " __VERSION__;
  info.flags = PROXYSTORE_BENCH_FLAGS;
  info.redis_version = redis_version();
  info.load_before = load_average();
  info.smoke = s.smoke;
  for (const std::string& seed : s.cluster_seeds)
    info.cluster_nodes += (info.cluster_nodes.empty() ? "" : ", ") + seed;

  int status = 0;
  try {
    register_redis_benchmarks();
    register_store_benchmarks();
    register_cluster_benchmarks();
    register_stream_benchmarks();
    RecordingReporter reporter;
    reporter.SetOutputStream(&std::cerr);
    reporter.SetErrorStream(&std::cerr);
    benchmark::RunSpecifiedBenchmarks(&reporter);
    measure_proxy_sizes();
    std::cerr << "peak-memory probes (" << size_label(largest_size()) << ")...\n";
    run_peak_memory_probes();
    info.load_after = load_average();
    for (const auto& [name, values] : reporter.results())
      info.repetitions = std::max(info.repetitions, static_cast<int>(values.size()));
    print_report(std::cout, info, reporter);
    if (!plot_data.empty()) {
      std::ofstream table(plot_data);
      write_latency_table(table, reporter);
      if (!table.flush())
        throw std::runtime_error("cannot write the plot data to " + plot_data);
    }
    // Benchmarks are never timed assertions: a missed target is reported in
    // the table, only a benchmark or probe that could not run fails the
    // program (a probe that failed recorded a negative value).
    const bool probe_failed = std::any_of(measurements().begin(), measurements().end(),
                                          [](const Measurement& m) { return m.value < 0; });
    if (probe_failed)
      std::cerr << "a size or memory probe failed (n/a in the report)\n";
    status = reporter.errors().empty() && !probe_failed ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "benchmark failed: " << e.what() << "\n";
    status = 1;
  }
  std::error_code ignored;
  std::filesystem::remove_all(s.scratch, ignored);
  benchmark::Shutdown();
  return status;
}
