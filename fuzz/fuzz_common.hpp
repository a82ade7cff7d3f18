// SPDX-License-Identifier: Apache-2.0
// Shared by the libFuzzer targets: default flags and the checks every
// target makes. Include it from exactly one file per target.
#pragma once

#include "fuzz_types.hpp"

#include <proxystore/proxystore.hpp>

#include <cereal/cereal.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::fuzz {

inline std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// An input's first byte (a target's mode or flags) and the bytes after it.
struct TaggedInput {
  std::uint8_t tag;
  std::string_view rest;
};

/// Splits off the first byte; nullopt for an empty input.
inline std::optional<TaggedInput> split_tag(const std::uint8_t* data, std::size_t size) {
  if (size == 0)
    return std::nullopt;
  return TaggedInput{data[0], as_view(data + 1, size - 1)};
}

/// Crashes (so libFuzzer reports the input) when `condition` is false.
inline void require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

/// Decodes `bytes` as a `T`. Anything but success or SerializationError
/// (a crash, a hang, another exception) is a finding. A decoded value must
/// re-encode to bytes that decode again and re-encode identically.
template <class T>
bool decode_and_roundtrip(std::string_view bytes) {
  std::optional<T> value;
  try {
    value.emplace(deserialize<T>(bytes));
  } catch (const SerializationError&) {
    return false;
  }
  const std::string once = serialize(*value);
  const std::string twice = serialize(deserialize<T>(once));
  require(once == twice, "re-encoding a decoded value is not stable");
  return true;
}

}  // namespace proxystore::fuzz

// Defaults for every target, unless given on the command line: inputs of at
// most 4 KiB, and no single allocation over 64 MiB — so "allocates what the
// input cannot back" is a reported finding, not a slow run. Each flag is
// added only if the caller did not pass it.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  static const char* const defaults[] = {"-max_len=4096", "-rss_limit_mb=2048",
                                         "-malloc_limit_mb=64", "-timeout=10"};
  static std::vector<char*> args;
  args.assign(*argv, *argv + *argc);
  for (const char* flag : defaults) {
    const char* end = std::strchr(flag, '=');
    const auto prefix = static_cast<std::size_t>(end - flag + 1);
    bool given = false;
    for (int i = 1; i < *argc; ++i)
      given = given || std::strncmp((*argv)[i], flag, prefix) == 0;
    if (!given)
      args.insert(args.begin() + 1, const_cast<char*>(flag));
  }
  args.push_back(nullptr);
  *argc = static_cast<int>(args.size() - 1);
  *argv = args.data();
  return 0;
}
