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
#include <optional>
#include <string>
#include <string_view>

namespace proxystore::detail {

ObjectLayout parse_object_prefix(std::string_view prefix, std::size_t total) {
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

void read_object_into(ValueReader& reader, std::size_t max_object_size, const ObjectType& type,
                      void* out) {
  if (const std::optional<std::string_view> whole = reader.whole()) {
    type.decode(out, *whole, max_object_size);
    return;
  }
  const std::size_t total = reader.size();
  if (total > max_object_size) {
    throw SerializationError(
        fmt::format("cannot decode '{}': {} bytes exceed the maximum object size {}", type.name(),
                    total, max_object_size));
  }
  char head[streamed_head_size];
  if (total <= sizeof(head)) {
    reader.read(head, total);
    type.decode(out, std::string_view(head, total), max_object_size);
    return;
  }
  std::string bytes;
  if (type.read_raw != nullptr) {
    reader.read(head, sizeof(head));
    if (type.read_raw(out, std::string_view(head, sizeof(head)), total, reader))
      return;
    bytes.assign(head, sizeof(head));
  }
  // `total` is the peer's claim: the buffer grows with the bytes received.
  read_growing(reader, bytes, total - bytes.size());
  type.decode(out, bytes, max_object_size);
}

}  // namespace proxystore::detail
