// SPDX-License-Identifier: Apache-2.0
#include "detail/current_pid.hpp"

#include <pthread.h>
#include <unistd.h>

#include <atomic>

namespace proxystore::detail {

namespace {

std::atomic<pid_t> cached_pid{0};

void refresh_pid() noexcept {
  cached_pid.store(::getpid(), std::memory_order_relaxed);
}

/// Reads the id once and registers the refresh in forked children.
struct Registration {
  Registration() noexcept {
    refresh_pid();
    (void)::pthread_atfork(nullptr, nullptr, &refresh_pid);
  }
};

}  // namespace

pid_t current_pid() noexcept {
  static const Registration registration;
  return cached_pid.load(std::memory_order_relaxed);
}

}  // namespace proxystore::detail
