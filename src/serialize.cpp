// SPDX-License-Identifier: Apache-2.0
// The stored-object header parser, compiled once here rather than in every
// translation unit that decodes an object.
#include <proxystore/detail/huge_pages.hpp>
#include <proxystore/detail/printable.hpp>
#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/serialize.hpp>

#include "detail/prefault.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
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

void rethrow_decoding_error(const std::string& type) {
  try {
    throw;
  } catch (const SignatureError& e) {  // keep the type: callers tell forgery from corruption
    throw SignatureError(fmt::format("cannot decode '{}': {}", type, e.what()));
  } catch (const SerializationError& e) {
    throw SerializationError(fmt::format("cannot decode '{}': {}", type, e.what()));
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {  // cereal::Exception, std::length_error, ...
    throw SerializationError(fmt::format("cannot decode '{}': {}", type, e.what()));
  }
}

void throw_over_max_object_size(const std::string& type, std::size_t size,
                                std::size_t max_object_size) {
  throw SerializationError(
      fmt::format("cannot decode '{}': {} bytes exceed the maximum object size {}", type, size,
                  max_object_size));
}

std::string_view parse_object_body(std::string_view bytes, const std::string& type) {
  const ObjectHeader header = parse_object_header(bytes);
  if (header.type_name != type) {
    throw SerializationError(
        fmt::format("the object holds a '{}', not a '{}'", printable(header.type_name), type));
  }
  return header.body;
}

bool read_raw_body(std::string_view head, std::size_t total, ValueReader& reader,
                   const ObjectType& type, void* out) {
  const RawBodyOps& raw = *type.raw;
  ObjectLayout layout;
  try {
    layout = parse_object_prefix(head, total);
  } catch (const SerializationError&) {
    return false;
  }
  if (layout.type_name != type.name())
    return false;
  std::size_t data_at = layout.body_at;  // where the elements' bytes begin
  if (!raw.byte_like) {
    WireInputArchive ar(head.substr(layout.body_at));
    std::uint64_t count = 0;
    try {
      count = ar.load_varint();
    } catch (const SerializationError&) {
      return false;
    }
    data_at = head.size() - ar.remaining();
    const std::size_t data_bytes = total - data_at;
    if (data_bytes % raw.element_size != 0 || count != data_bytes / raw.element_size)
      return false;
  }
  // (head.size() <= streamed_head_size <= total: read_object_into's contract.)
  if (data_at > head.size() || head.size() > streamed_head_size)
    return false;
  const std::size_t data_bytes = total - data_at;
  const std::size_t in_head = head.size() - data_at;  // body bytes already read
  // Allocated in a few steps (grown_capacity: one below 128 MiB), then
  // grown and filled one slice at a time. A std::vector cannot skip value-initialising what it
  // grows into; a slice small enough to stay in cache is zeroed and overwritten there, so the
  // zeroing costs no second pass over main memory. Growing to whole elements never re-zeroes an
  // element a previous slice filled in part: resize only initialises the elements it adds.
  const auto elements_for = [&raw](std::size_t bytes) {
    return (bytes + raw.element_size - 1) / raw.element_size;
  };
  void* const value = raw.emplace(out);
  if (reader.single_transfer()) {
    // One transfer of the whole rest into the object's final memory
    // (backed by huge pages when large: far fewer page faults).
    // From prefault_from up, with a huge page of room past the end: the
    // object's last huge page then lies inside its own allocation and can
    // be advised too. Without it the last up to 2 MiB are small pages,
    // which the value-initialisation and the transfer each fault in one
    // at a time: a 100 MiB get took 4 ms longer on the development VM. The
    // price is capacity() 2 MiB above size(), and up to 2 MiB - 1 byte
    // more resident memory.
    const std::size_t room =
        data_bytes >= prefault_from && data_bytes <= SIZE_MAX - huge_page_size ? huge_page_size : 0;
    raw.reserve(value, elements_for(data_bytes + room));
    advise_huge_pages(raw.data(value), raw.capacity(value) * raw.element_size);
    prefault_pages(raw.data(value), elements_for(data_bytes) * raw.element_size);
    raw.resize(value, elements_for(data_bytes));
    char* into = raw.data(value);
    if (in_head != 0)
      std::memcpy(into, head.data() + data_at, in_head);
    reader.read(into + in_head, data_bytes - in_head);
    return true;
  }
  // The element count is the peer's claim: reserve only what grown_capacity
  // allows, and grow again as the slices actually arrive.
  // (A reader whose size is backed — a checked local file — allows all of
  // it at once: one allocation, nothing copied on the way.)
  const bool backed = reader.size_is_backed();
  const auto reserve_for = [&](std::size_t needed, std::size_t received) {
    raw.reserve(value,
                elements_for(backed ? data_bytes : grown_capacity(needed, received, data_bytes)));
  };
  reserve_for(std::min(data_bytes, streamed_slice_size), 0);
  // A reader that prefers large reads (chunks fetched in parallel) is asked
  // for as much as the object may hold now, in one call: a step of
  // grown_capacity (16 MiB first, then up to 8 times what arrived).
  const bool large = reader.prefers_large_reads();
  for (std::size_t filled = 0; filled < data_bytes;) {
    std::size_t slice = std::min(streamed_slice_size, data_bytes - filled);
    if (large) {
      const std::size_t room =
          backed ? data_bytes : grown_capacity(filled + slice, filled, data_bytes);
      slice = std::max(slice, std::min(room, data_bytes) - filled);
    }
    if (elements_for(filled + slice) > raw.capacity(value))
      reserve_for(filled + slice, filled);
    raw.resize(value, elements_for(filled + slice));
    char* into = raw.data(value) + filled;
    // The first slice starts with the bytes that came with the head.
    const std::size_t from_head = filled < in_head ? std::min(in_head - filled, slice) : 0;
    if (from_head != 0)
      std::memcpy(into, head.data() + data_at + filled, from_head);
    reader.read(into + from_head, slice - from_head);
    filled += slice;
  }
  return true;
}

void read_object_into(ValueReader& reader, std::size_t max_object_size, const ObjectType& type,
                      void* out) {
  if (const std::optional<std::string_view> whole = reader.whole()) {
    type.decode(out, *whole, max_object_size);
    return;
  }
  const std::size_t total = reader.size();
  if (total > max_object_size)
    throw_over_max_object_size(type.name(), total, max_object_size);
  char head[streamed_head_size];
  if (total <= sizeof(head)) {
    reader.read(head, total);
    type.decode(out, std::string_view(head, total), max_object_size);
    return;
  }
  std::string bytes;
  if (type.raw != nullptr) {
    reader.read(head, sizeof(head));
    if (read_raw_body(std::string_view(head, sizeof(head)), total, reader, type, out))
      return;
    bytes.assign(head, sizeof(head));
  }
  // `total` is the peer's claim: the buffer grows with the bytes received.
  read_growing(reader, bytes, total - bytes.size());
  type.decode(out, bytes, max_object_size);
}

}  // namespace proxystore::detail
