// SPDX-License-Identifier: Apache-2.0
// Private: Redis Cluster's key-to-slot function (CRC16-XMODEM of the key's
// hash tag, modulo 16384), computed locally so a command goes straight to
// the node that owns its key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace proxystore::detail {

/// Slots in a Redis Cluster.
inline constexpr int cluster_slot_count = 16384;

/// CRC16-CCITT in the XMODEM variant (polynomial 0x1021, initial value 0,
/// no reflection) — the checksum Redis Cluster hashes keys with.
std::uint16_t crc16_xmodem(std::string_view data) noexcept;

/// The part of `key` that is hashed: the text between the first '{' and
/// the first '}' after it, when that text is not empty; the whole key
/// otherwise (Redis's hash-tag rule).
std::string_view hash_tag(std::string_view key) noexcept;

/// The cluster slot of `key`, in [0, 16384).
int key_slot(std::string_view key) noexcept;

/// A short hash tag (lowercase base-36, no braces) whose slot is `slot`:
/// a key containing `{<tag>}` lands in that slot. From a table built once
/// per process (a few milliseconds).
const std::string& slot_tag(int slot);

}  // namespace proxystore::detail
