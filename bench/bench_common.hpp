// SPDX-License-Identifier: Apache-2.0
// Shared pieces of the benchmarks: run settings, test objects, timing.
#pragma once

#include <proxystore/store.hpp>

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace proxystore::bench {

/// Settings of one run (from the command line, see bench_main.cpp).
struct Settings {
  std::string redis_host = "127.0.0.1";
  int redis_port = 0;
  /// "host:port" of the Redis Cluster's nodes (bench/run.sh starts it).
  std::vector<std::string> cluster_seeds;
  /// CI mode: tiny sizes, one iteration of each benchmark.
  bool smoke = false;
  /// Where FileStore and the raw file baseline write.
  std::filesystem::path scratch;
};
Settings& settings();

/// Object sizes of the run (bytes of payload).
std::vector<std::size_t> object_sizes();
/// The largest size: the peak-memory probe resolves an object of it.
std::size_t largest_size();

/// "100 B", "10 KB", "1 MB", ...
std::string size_label(std::size_t bytes);

/// A deterministic, non-zero object with `bytes` bytes of payload
/// (std::vector<double>: bytes / 8 elements, at least one).
template <class T>
T make_object(std::size_t bytes);

/// "char" / "double": the element type, for benchmark names.
template <class T>
const char* element_name();

/// The payload bytes of an object (what raw hiredis and the floor send).
template <class T>
std::size_t payload_size(const T& object) {
  return object.size() * sizeof(typename T::value_type);
}
template <class T>
const char* payload_data(const T& object) {
  return reinterpret_cast<const char*>(object.data());
}

using Clock = std::chrono::steady_clock;

/// Runs `body` and books its wall time as the iteration's (manual) time:
/// set-up and clean-up around it stay out of the measurement.
template <class Body>
void timed(benchmark::State& state, Body&& body) {
  const auto started = Clock::now();
  body();
  state.SetIterationTime(std::chrono::duration<double>(Clock::now() - started).count());
}

/// Registers `body` (a `void(benchmark::State&)` callable) under `name`,
/// manually timed (see timed()), with the run's iteration policy: one
/// iteration in smoke mode. Returns the benchmark, for further settings.
template <class Body>
benchmark::internal::Benchmark* add_timed(const std::string& name, Body&& body) {
  benchmark::internal::Benchmark* b =
      benchmark::RegisterBenchmark(name.c_str(), std::forward<Body>(body));
  b->UseManualTime()->Unit(benchmark::kMicrosecond);
  if (settings().smoke)
    b->Iterations(1);
  return b;
}

/// Registers `name`: `Store::set` of one object of `size` bytes; the key
/// each set creates is evicted outside the timed region. `store` returns
/// the store (a reference-like pointer), resolved when the benchmark runs.
template <class T, class StoreOf>
void add_store_set(const std::string& name, std::size_t size, StoreOf store) {
  add_timed(name, [size, store](benchmark::State& state) {
    const T object = make_object<T>(size);
    Store& s = *store();
    for (auto _ : state) {
      Key key;
      timed(state, [&] { key = s.set(object); });
      s.evict(key);
    }
  });
}

/// Registers `name`: `Store::get<T>` of one stored object of `size` bytes
/// into a fresh value (destroyed outside the timed region).
template <class T, class StoreOf>
void add_store_get(const std::string& name, std::size_t size, StoreOf store) {
  add_timed(name, [size, store](benchmark::State& state) {
    Store& s = *store();
    const Key key = s.set(make_object<T>(size));
    for (auto _ : state) {
      std::optional<T> value;
      timed(state, [&] { value = s.get<T>(key); });
      if (!value || value->empty())
        state.SkipWithError("Store::get: no value");
    }
    s.evict(key);
  });
}

void register_redis_benchmarks();
/// Streams (stream_benchmarks.cpp): RedisStreamBroker vs raw hiredis.
void register_stream_benchmarks();
void register_store_benchmarks();
void register_cluster_benchmarks();

/// Objects per batch in the batch benchmarks.
constexpr std::size_t batch_count = 1000;
/// Object sizes of the cluster's batch benchmarks.
std::vector<std::size_t> cluster_batch_sizes();
/// Chunk size of the chunked large-object reads: 4 MiB for the full run's
/// 100 MB object (1/25 of the largest size, so smoke runs chunk too).
std::size_t cluster_chunk_size();

/// A named number outside Google Benchmark (sizes, memory), for the table.
struct Measurement {
  std::string name;
  double value = 0;
};
std::vector<Measurement>& measurements();

/// Peak-memory probes (each in a forked child); appends to measurements().
void run_peak_memory_probes();
/// Serialized proxy sizes; appends to measurements().
void measure_proxy_sizes();

}  // namespace proxystore::bench
