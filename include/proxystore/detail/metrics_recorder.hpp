// SPDX-License-Identifier: Apache-2.0
// Accumulates StoreMetrics behind a mutex; a no-op when metrics are off.
#pragma once

#include <proxystore/metrics.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace proxystore::detail {

class MetricsRecorder {
 public:
  using Clock = std::chrono::steady_clock;

  explicit MetricsRecorder(bool enabled) : enabled_(enabled) {}

  bool enabled() const noexcept { return enabled_; }

  /// When an operation starts (no clock read when metrics are off).
  Clock::time_point start() const { return enabled_ ? Clock::now() : Clock::time_point{}; }

  /// Adds one `operation` that started at `started` and moved `bytes`
  /// (metrics_recorder.cpp; returns at once when metrics are off).
  void record(std::string_view operation, Clock::time_point started, std::uint64_t bytes) {
    if (enabled_)
      record_enabled(operation, started, bytes);
  }

  StoreMetrics snapshot() const;

 private:
  void record_enabled(std::string_view operation, Clock::time_point started, std::uint64_t bytes);

  const bool enabled_;
  mutable std::mutex mutex_;
  StoreMetrics metrics_;
};

}  // namespace proxystore::detail
