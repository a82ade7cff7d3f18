// SPDX-License-Identifier: Apache-2.0
// Private: the manifest that stands in for a value split into chunks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proxystore::detail {

/// A value larger than the chunk size is stored as chunks under
/// `<key>:chunk:<i>` (i = 0..count-1, each `chunk_size` bytes but the last)
/// and this manifest under `<key>` itself:
///
///     "\0proxystore:chunked:v1\n" <total> ' ' <chunk_size> ' ' <count>
///
/// (decimal numbers). Every object the library stores begins with "PX",
/// and a value that happens to begin with the manifest magic is itself
/// stored chunked, so a value under `<key>` is a manifest exactly when it
/// begins with the magic — never a confusable object.
struct ChunkManifest {
  std::uint64_t total = 0;
  std::uint64_t chunk_size = 0;
  std::uint64_t count = 0;

  /// Size of chunk `index` (the last one may be short).
  [[nodiscard]] std::uint64_t size_of(std::uint64_t index) const noexcept {
    return index + 1 < count ? chunk_size : total - chunk_size * (count - 1);
  }
};

inline constexpr std::string_view chunk_manifest_magic{"\0proxystore:chunked:v1\n", 23};
/// No manifest is longer than this (enough to recognise one by a prefix).
inline constexpr std::size_t chunk_manifest_max_size =
    chunk_manifest_magic.size() + std::size_t{3} * 20 + 2;

inline bool is_chunk_manifest(std::string_view value) noexcept {
  return value.substr(0, chunk_manifest_magic.size()) == chunk_manifest_magic;
}

/// The manifest for `total` bytes in chunks of `chunk_size` (> 0).
ChunkManifest make_chunk_manifest(std::uint64_t total, std::uint64_t chunk_size) noexcept;

std::string encode_chunk_manifest(const ChunkManifest& manifest);

/// Parses a value that `is_chunk_manifest`; nullopt if it is malformed or
/// inconsistent (count must equal ceil(total / chunk_size)).
std::optional<ChunkManifest> decode_chunk_manifest(std::string_view value) noexcept;

/// `<key>:chunk:<index>`.
std::string chunk_key(std::string_view key, std::uint64_t index);

}  // namespace proxystore::detail
