// SPDX-License-Identifier: Apache-2.0
#include "detail/cluster_slots.hpp"

#include <array>
#include <vector>

namespace proxystore::detail {
namespace {

/// The 256-entry table of CRC16-XMODEM, built at compile time.
constexpr std::array<std::uint16_t, 256> make_crc16_table() noexcept {
  std::array<std::uint16_t, 256> table{};
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto crc = static_cast<std::uint16_t>(byte << 8U);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1U) ^ 0x1021U)
                                 : static_cast<std::uint16_t>(crc << 1U);
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<std::uint16_t, 256> crc16_table = make_crc16_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) noexcept {
  std::uint16_t crc = 0;
  for (const char c : data) {
    const auto byte = static_cast<unsigned char>(c);
    crc = static_cast<std::uint16_t>((crc << 8U) ^ crc16_table[((crc >> 8U) ^ byte) & 0xffU]);
  }
  return crc;
}

std::string_view hash_tag(std::string_view key) noexcept {
  const std::size_t open = key.find('{');
  if (open == std::string_view::npos)
    return key;
  const std::size_t close = key.find('}', open + 1);
  if (close == std::string_view::npos || close == open + 1)
    return key;  // no closing brace, or "{}": the whole key is hashed
  return key.substr(open + 1, close - open - 1);
}

int key_slot(std::string_view key) noexcept {
  return crc16_xmodem(hash_tag(key)) % cluster_slot_count;
}

const std::string& slot_tag(int slot) {
  // Every slot's first tag in the sequence 0, 1, ..., z, 10, ... (base 36):
  // about 16384 * ln(16384) short CRCs until all are found, once.
  static const std::vector<std::string> tags = [] {
    std::vector<std::string> out(cluster_slot_count);
    int missing = cluster_slot_count;
    for (unsigned long long n = 0; missing > 0; ++n) {
      std::string tag;
      for (unsigned long long rest = n;; rest /= 36) {
        tag.insert(tag.begin(), "0123456789abcdefghijklmnopqrstuvwxyz"[rest % 36]);
        if (rest < 36)
          break;
      }
      std::string& entry = out[crc16_xmodem(tag) % cluster_slot_count];
      if (entry.empty()) {
        entry = std::move(tag);
        --missing;
      }
    }
    return out;
  }();
  return tags[static_cast<std::size_t>(slot) % tags.size()];
}

}  // namespace proxystore::detail
