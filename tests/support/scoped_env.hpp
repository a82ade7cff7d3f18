// SPDX-License-Identifier: Apache-2.0
// Test harness: set (or unset) an environment variable for one scope.
#pragma once

#include <cstdlib>
#include <string>

namespace proxystore::test {

/// Sets `name` to `value` (unsets it when `value` is null) and restores the
/// previous state on destruction. Tests only: the environment is process-wide,
/// so a test using it must not run concurrently with one reading the variable.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name))
      old_ = old;                         // NOLINT(concurrency-mt-unsafe)
    had_ = std::getenv(name) != nullptr;  // NOLINT(concurrency-mt-unsafe)
    if (value != nullptr) {
      ::setenv(name, value, 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv(name);  // NOLINT(concurrency-mt-unsafe)
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);  // NOLINT(concurrency-mt-unsafe)
    } else {
      ::unsetenv(name_);  // NOLINT(concurrency-mt-unsafe)
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace proxystore::test
