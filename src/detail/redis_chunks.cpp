// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_chunks.hpp"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <system_error>

namespace proxystore::detail {
namespace {

/// Reads a decimal number ending at `end` or at the separator `stop`.
bool read_number(const char*& cursor, const char* end, char stop, std::uint64_t& out) noexcept {
  const auto [next, error] = std::from_chars(cursor, end, out);
  if (error != std::errc() || next == cursor)
    return false;
  if (stop != '\0') {
    if (next == end || *next != stop)
      return false;
    cursor = next + 1;
  } else {
    if (next != end)
      return false;
    cursor = next;
  }
  return true;
}

}  // namespace

ChunkManifest make_chunk_manifest(std::uint64_t total, std::uint64_t chunk_size) noexcept {
  ChunkManifest manifest;
  manifest.total = total;
  manifest.chunk_size = chunk_size;
  // At least one chunk, so an empty value (stored chunked only when it
  // would look like a manifest, i.e. never) still round-trips.
  manifest.count = total == 0 ? 1 : (total - 1) / chunk_size + 1;
  return manifest;
}

std::string encode_chunk_manifest(const ChunkManifest& manifest) {
  std::string out(chunk_manifest_magic);
  fmt::format_to(std::back_inserter(out), "{} {} {}", manifest.total, manifest.chunk_size,
                 manifest.count);
  return out;
}

std::optional<ChunkManifest> decode_chunk_manifest(std::string_view value) noexcept {
  if (!is_chunk_manifest(value) || value.size() > chunk_manifest_max_size)
    return std::nullopt;
  const char* cursor = value.data() + chunk_manifest_magic.size();
  const char* end = value.data() + value.size();
  ChunkManifest manifest;
  if (!read_number(cursor, end, ' ', manifest.total) ||
      !read_number(cursor, end, ' ', manifest.chunk_size) ||
      !read_number(cursor, end, '\0', manifest.count)) {
    return std::nullopt;
  }
  if (manifest.chunk_size == 0)
    return std::nullopt;
  if (manifest.count != make_chunk_manifest(manifest.total, manifest.chunk_size).count) {
    return std::nullopt;
  }
  return manifest;
}

std::string chunk_key(std::string_view key, std::uint64_t index) {
  std::string out;
  out.reserve(key.size() + 28);
  out.append(key);
  fmt::format_to(std::back_inserter(out), ":chunk:{}", index);
  return out;
}

}  // namespace proxystore::detail
