// SPDX-License-Identifier: Apache-2.0
// Catch2 matchers shared by the unit tests.
#pragma once

#include <catch2/catch.hpp>

#include <exception>
#include <initializer_list>
#include <string>
#include <vector>

namespace proxystore::test {

/// Matches an exception whose what() contains every one of `parts`:
/// `CHECK_THROWS_MATCHES(expr, SerializationError, MessageContains({"i32", "f64"}))`.
class MessageContains : public Catch::MatcherBase<std::exception> {
 public:
  MessageContains(std::initializer_list<std::string> parts) : parts_(parts) {}
  explicit MessageContains(std::string part) : parts_{std::move(part)} {}

  bool match(const std::exception& error) const override {
    const std::string what = error.what();
    for (const std::string& part : parts_) {
      if (what.find(part) == std::string::npos)
        return false;
    }
    return true;
  }

  std::string describe() const override {
    std::string text = "has a message containing";
    const char* separator = " ";
    for (const std::string& part : parts_) {
      text += separator + ('"' + part + '"');
      separator = " and ";
    }
    return text;
  }

 private:
  std::vector<std::string> parts_;
};

/// Runs `operation`, which must throw an `E` (or a subclass); returns its
/// message, so a test can check what it says and what it must not say.
/// Fails the test if nothing is thrown.
template <class E, class F>
std::string message_of(F&& operation) {
  try {
    operation();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("no exception was thrown");
  return {};
}

}  // namespace proxystore::test
