// SPDX-License-Identifier: Apache-2.0
// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): private to the library.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace proxystore::detail {

/// A SHA-256 digest.
using Sha256Digest = std::array<std::uint8_t, 32>;

/// Incremental SHA-256: update() any number of times, then finish() once.
class Sha256 {
 public:
  static constexpr std::size_t block_size = 64;

  Sha256() noexcept;

  void update(const void* data, std::size_t size) noexcept;
  void update(std::string_view bytes) noexcept { update(bytes.data(), bytes.size()); }

  /// The digest of everything passed to update(). The object must not be
  /// used afterwards (other than being destroyed).
  Sha256Digest finish() noexcept;

 private:
  void compress(const std::uint8_t* block) noexcept;

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, block_size> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

/// SHA-256 of `bytes` in one call.
Sha256Digest sha256(std::string_view bytes) noexcept;

/// Incremental HMAC-SHA256 with a key of any length.
class HmacSha256 {
 public:
  explicit HmacSha256(std::string_view key) noexcept;
  ~HmacSha256();
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  void update(std::string_view bytes) noexcept { inner_.update(bytes); }
  Sha256Digest finish() noexcept;

 private:
  Sha256 inner_;
  std::array<std::uint8_t, Sha256::block_size> outer_key_{};
};

/// HMAC-SHA256 of `message` under `key` in one call.
Sha256Digest hmac_sha256(std::string_view key, std::string_view message) noexcept;

/// Compares two byte strings in time that depends only on their lengths,
/// never on where they differ.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

/// Overwrites `size` bytes at `data` with zeros in a way the compiler does
/// not elide (for key material about to be freed).
void secure_zero(void* data, std::size_t size) noexcept;

}  // namespace proxystore::detail
