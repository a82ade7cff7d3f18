// SPDX-License-Identifier: Apache-2.0
// The values the peer_owner helper serves and the hex it prints its
// proxies in, for the tests that talk to it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace proxystore::test {

/// A string of `size` bytes, byte i = i * 31 + 7 (mod 256) (what peer_owner
/// serves), and the sum of its bytes.
inline std::string pattern(std::size_t size, std::uint64_t* sum = nullptr) {
  std::string value(size, '\0');
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < size; ++i) {
    value[i] = static_cast<char>((i * 31 + 7) & 0xffU);
    total += static_cast<unsigned char>(value[i]);
  }
  if (sum != nullptr)
    *sum = total;
  return value;
}

/// The bytes of a hex string (peer_owner prints its proxies so).
inline std::string from_hex(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(text.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace proxystore::test
