// SPDX-License-Identifier: Apache-2.0
// The stored-object header parser, compiled once here rather than in every
// translation unit that decodes an object.
#include <proxystore/detail/printable.hpp>
#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/serialize.hpp>

#include <fmt/format.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace proxystore::detail {

ObjectLayout parse_object_prefix(std::string_view prefix, std::size_t total) {
  // The common header — a type name shorter than 128 bytes (a one-byte
  // length tag) — accepted without an archive; anything else, and every
  // error, takes the general path below (which accepts the same headers).
  if (prefix.size() >= 4 && prefix[0] == object_magic[0] && prefix[1] == object_magic[1] &&
      static_cast<std::uint8_t>(prefix[2]) == object_format_version &&
      static_cast<std::uint8_t>(prefix[3]) < 0x80U) {
    const auto name_length = static_cast<std::size_t>(static_cast<std::uint8_t>(prefix[3]));
    if (prefix.size() - 4 >= name_length + body_length_size) {
      const std::size_t length_at = 4 + name_length;
      std::uint64_t body_length = 0;
      for (std::size_t i = body_length_size; i-- > 0;)
        body_length = (body_length << 8U) | static_cast<unsigned char>(prefix[length_at + i]);
      const std::size_t body_at = length_at + body_length_size;
      if (body_length == total - body_at)
        return ObjectLayout{object_format_version, prefix.substr(4, name_length), body_at};
    }
  }
  if (prefix.size() < 2 || prefix[0] != object_magic[0] || prefix[1] != object_magic[1]) {
    throw SerializationError(
        fmt::format("not a proxystore object ({} bytes, missing the \"PX\" header)", total));
  }
  if (prefix.size() < 3) {
    throw SerializationError(
        fmt::format("truncated proxystore object ({} bytes: the \"PX\" header ends before its "
                    "format version)",
                    total));
  }
  ObjectLayout layout;
  layout.version = static_cast<std::uint8_t>(prefix[2]);
  if (layout.version != object_format_version) {
    throw SerializationError(
        fmt::format("unsupported object format version {} (this build reads {})", layout.version,
                    object_format_version));
  }
  WireInputArchive ar(prefix.substr(3));
  const auto name_length = static_cast<std::size_t>(ar.load_length());
  const std::size_t name_offset = prefix.size() - ar.remaining();
  layout.type_name = prefix.substr(name_offset, name_length);
  const std::size_t length_at = name_offset + name_length;  // name_length <= remaining: checked
  if (prefix.size() - length_at < body_length_size) {
    throw SerializationError(
        fmt::format("truncated header of a '{}': {} bytes", printable(layout.type_name), total));
  }
  std::uint64_t body_length = 0;
  for (std::size_t i = body_length_size; i-- > 0;) {
    body_length = (body_length << 8U) | static_cast<unsigned char>(prefix[length_at + i]);
  }
  layout.body_at = length_at + body_length_size;
  if (body_length != total - layout.body_at) {
    throw SerializationError(
        fmt::format("the header of a '{}' announces a {}-byte body, {} bytes follow",
                    printable(layout.type_name), body_length, total - layout.body_at));
  }
  return layout;
}

}  // namespace proxystore::detail
