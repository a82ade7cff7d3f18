// SPDX-License-Identifier: Apache-2.0
// A helper for the documentation snippets: CHECK(cond) throws when a
// documented claim does not hold, so every snippet is also a test.
#pragma once

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#define CHECK(...)                                                                   \
  do {                                                                               \
    if (!(__VA_ARGS__))                                                              \
      throw std::logic_error(std::string(__FILE__ ":") + std::to_string(__LINE__) +  \
                             ": documented behaviour does not hold: " #__VA_ARGS__); \
  } while (false)

/// Runs a snippet's body and turns an exception into a failing exit status.
template <class Body>
int run_snippet(const char* name, Body body) {
  try {
    body();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}
