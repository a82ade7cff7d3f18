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

  void record(std::string_view operation, Clock::time_point started, std::uint64_t bytes) {
    if (!enabled_)
      return;
    const auto elapsed = Clock::now() - started;
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = metrics_.operations.find(operation);
    if (it == metrics_.operations.end()) {
      it = metrics_.operations.emplace(std::string(operation), OperationMetrics{}).first;
    }
    it->second.count += 1;
    it->second.total_time += std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed);
    it->second.bytes += bytes;
  }

  StoreMetrics snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return metrics_;
  }

 private:
  const bool enabled_;
  mutable std::mutex mutex_;
  StoreMetrics metrics_;
};

}  // namespace proxystore::detail
