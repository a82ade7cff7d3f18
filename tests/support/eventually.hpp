// SPDX-License-Identifier: Apache-2.0
// Waiting for something another process or thread does, within a bound.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace proxystore::test {

/// Polls `condition` every 2 ms until it holds (true) or `limit` passes
/// (false): a wait for an effect elsewhere that never hangs a test.
inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace proxystore::test
