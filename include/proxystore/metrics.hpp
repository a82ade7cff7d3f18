// SPDX-License-Identifier: Apache-2.0
/// \file
/// StoreMetrics: per-operation counts, times and bytes of one store.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace proxystore {

/// Totals for one kind of store operation.
struct OperationMetrics {
  /// How many operations completed (successfully or not).
  std::uint64_t count = 0;
  /// Their summed wall-clock time, serialization included.
  std::chrono::nanoseconds total_time{0};
  /// Bytes moved to or from the backend (serialized size).
  std::uint64_t bytes = 0;

  /// Mean time per operation (zero when count is zero).
  std::chrono::nanoseconds mean_time() const {
    return count == 0
               ? std::chrono::nanoseconds(0)
               : std::chrono::nanoseconds(total_time.count() / static_cast<std::int64_t>(count));
  }
};

/// A snapshot of a store's metrics (empty unless StoreOptions::metrics).
/// Operation kinds: "set", "get", "exists", "evict", "set_batch",
/// "get_batch", "cache_hit".
struct StoreMetrics {
  /// Totals by operation kind (only kinds that ran appear).
  std::map<std::string, OperationMetrics, std::less<>> operations;

  /// The totals of one operation kind (all zero if it never ran).
  OperationMetrics at(std::string_view operation) const {
    auto it = operations.find(operation);
    return it == operations.end() ? OperationMetrics{} : it->second;
  }
};

}  // namespace proxystore
