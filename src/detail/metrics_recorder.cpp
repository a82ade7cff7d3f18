// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/metrics_recorder.hpp>

#include <string>

namespace proxystore::detail {

void MetricsRecorder::record_enabled(std::string_view operation, Clock::time_point started,
                                     std::uint64_t bytes) {
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

StoreMetrics MetricsRecorder::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return metrics_;
}

}  // namespace proxystore::detail
