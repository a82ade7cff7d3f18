// SPDX-License-Identifier: Apache-2.0
// The compact, bounded binary cereal archives behind every stored body.
#pragma once

// ┌──────────────────────────────────────────────────────────────────────────┐
// │ Why not cereal's BinaryInputArchive: it sizes a container from a 64-bit │
// │ length read off the wire *before* reading the elements, so 16 hostile   │
// │ bytes can ask for terabytes. WireInputArchive checks every length tag   │
// │ against the bytes that remain, rejects a bool byte other than 0 or 1,   │
// │ and reads from a string_view (no stream, no copy).                      │
// │                                                                         │
// │ Two whole-input bounds back the per-tag check: all length tags of one   │
// │ decode together may not promise more units than the input has bytes     │
// │ (so containers of empty elements cannot grow quadratically), and values │
// │ may nest at most max_nesting_depth deep — counted per thread across     │
// │ nested archives (a factory payload inside a proxy) — so a recursive     │
// │ user type cannot overflow the stack. Deeper data can be written but     │
// │ not read back: keep nesting well under the limit.                       │
// │                                                                         │
// │ Wire format: arithmetic values as their native little-endian bytes,     │
// │ length tags as unsigned LEB128 varints (a short string costs one byte   │
// │ of length, which keeps serialized proxies small), raw binary data as    │
// │ is. Everything else is cereal's usual structure.                        │
// └──────────────────────────────────────────────────────────────────────────┘

#include <proxystore/errors.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

namespace proxystore::detail {

/// Appends the wire encoding of values to a string.
class WireOutputArchive
    : public cereal::OutputArchive<WireOutputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit WireOutputArchive(std::string& out)
      : OutputArchive(this), out_(out), start_(out.size()) {}

  void save_bytes(const void* data, std::size_t size) {
    out_.append(static_cast<const char*>(data), size);
  }

  void save_varint(std::uint64_t value) {
    char buffer[10];
    std::size_t n = 0;
    do {
      auto byte = static_cast<std::uint8_t>(value & 0x7fU);
      value >>= 7U;
      buffer[n++] = static_cast<char>(value != 0 ? (byte | 0x80U) : byte);
    } while (value != 0);
    out_.append(buffer, n);
  }

  /// A length tag: the reader will refuse it unless the input can back it
  /// (one byte per element, see WireInputArchive::load_length), so the
  /// writer keeps the same account.
  void save_length(std::uint64_t length) {
    save_varint(length);
    promised_ += length;
  }

  /// Refuses an encoding the reader would refuse: its length tags promise
  /// more elements than it has bytes, which only containers of elements
  /// that encode to nothing (empty structs, std::monostate) can do.
  void expect_backed() const {
    const std::size_t written = out_.size() - start_;
    if (promised_ > written) {
      throw SerializationError(fmt::format(
          "its length tags promise {} elements in {} bytes: containers of empty elements "
          "(e.g. std::vector<std::monostate>) cannot be read back, so they are not written",
          promised_, written));
    }
  }

 private:
  std::string& out_;
  const std::size_t start_;     // where this archive's output begins in out_
  std::uint64_t promised_ = 0;  // sum of all length tags written
};

/// How deep values may nest while being read (each cereal value — a
/// struct, a container, a length tag, a number — is one level).
inline constexpr std::size_t max_nesting_depth = 1024;

/// The nesting depth of the wire decodes running on this thread.
inline std::size_t& wire_nesting_depth() noexcept {
  static thread_local std::size_t depth = 0;
  return depth;
}

/// Reads the wire encoding back, refusing anything the input cannot back.
class WireInputArchive
    : public cereal::InputArchive<WireInputArchive, cereal::AllowEmptyClassElision> {
 public:
  explicit WireInputArchive(std::string_view in)
      : InputArchive(this), in_(in), base_depth_(wire_nesting_depth()) {}
  WireInputArchive(const WireInputArchive&) = delete;
  WireInputArchive& operator=(const WireInputArchive&) = delete;
  /// Restores the thread's nesting depth, also when a decode threw midway.
  ~WireInputArchive() override { wire_nesting_depth() = base_depth_; }

  /// Called by cereal before each value (prologue below).
  void enter_value() {
    if (++wire_nesting_depth() > max_nesting_depth) {
      throw SerializationError(fmt::format("values nest deeper than {} levels at offset {}",
                                           max_nesting_depth, position_));
    }
  }
  /// Called by cereal after each value (epilogue below).
  void leave_value() noexcept { --wire_nesting_depth(); }

  std::size_t remaining() const noexcept { return in_.size() - position_; }

  void load_bytes(void* data, std::size_t size) {
    if (size > remaining()) {
      throw SerializationError(fmt::format(
          "truncated input: needs {} bytes at offset {}, {} remain", size, position_, remaining()));
    }
    if (size != 0)
      std::memcpy(data, in_.data() + position_, size);
    position_ += size;
  }

  std::uint64_t load_varint() {
    std::uint64_t value = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
      std::uint8_t byte = 0;
      load_bytes(&byte, 1);
      value |= static_cast<std::uint64_t>(byte & 0x7fU) << shift;
      if ((byte & 0x80U) == 0)
        return value;
    }
    throw SerializationError(fmt::format("malformed length at offset {}", position_));
  }

  /// A length tag: a count of elements, each of which takes at least one
  /// byte of input, so a count above the remaining input is corrupt.
  std::uint64_t load_length() {
    const std::size_t at = position_;
    const std::uint64_t length = load_varint();
    if (length > remaining()) {
      throw SerializationError(fmt::format(
          "length {} at offset {} exceeds the {} bytes that remain", length, at, remaining()));
    }
    // Each unit promised by any tag takes at least a byte of its own, so
    // all tags together cannot promise more than the whole input either.
    if (length > in_.size() - promised_) {
      throw SerializationError(fmt::format(
          "length {} at offset {} exceeds what the input can back ({} of its {} bytes are "
          "already promised to earlier lengths)",
          length, at, promised_, in_.size()));
    }
    promised_ += static_cast<std::size_t>(length);
    return length;
  }

  /// Throws unless every byte was consumed: trailing bytes mean corruption.
  void expect_end() const {
    if (remaining() != 0) {
      throw SerializationError(fmt::format("{} unexpected trailing bytes", remaining()));
    }
  }

 private:
  std::string_view in_;
  std::size_t position_ = 0;
  std::size_t promised_ = 0;  // sum of all length tags read so far
  std::size_t base_depth_;    // the thread's nesting depth when we started
};

/// cereal calls these around every value it reads: they bound nesting.
template <class T>
void prologue(WireInputArchive& ar, const T& /*value*/) {
  ar.enter_value();
}
template <class T>
void epilogue(WireInputArchive& ar, const T& /*value*/) noexcept {
  ar.leave_value();
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar,
                                                                    const T& value) {
  ar.save_bytes(std::addressof(value), sizeof(value));
}

template <class T>
std::enable_if_t<std::is_arithmetic_v<T>> CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar,
                                                                    T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    std::uint8_t byte = 0;
    ar.load_bytes(&byte, 1);
    if (byte > 1)
      throw SerializationError(fmt::format("invalid bool byte {}", byte));
    value = byte == 1;
  } else {
    ar.load_bytes(std::addressof(value), sizeof(value));
  }
}

template <class Archive, class T>
CEREAL_ARCHIVE_RESTRICT(WireInputArchive, WireOutputArchive)
CEREAL_SERIALIZE_FUNCTION_NAME(Archive& ar, cereal::NameValuePair<T>& pair) {
  ar(pair.value);
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const cereal::SizeTag<T>& tag) {
  ar.save_length(static_cast<std::uint64_t>(tag.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::SizeTag<T>& tag) {
  tag.size = static_cast<std::remove_reference_t<T>>(ar.load_length());
}

template <class T>
void CEREAL_SAVE_FUNCTION_NAME(WireOutputArchive& ar, const cereal::BinaryData<T>& data) {
  ar.save_bytes(data.data, static_cast<std::size_t>(data.size));
}

template <class T>
void CEREAL_LOAD_FUNCTION_NAME(WireInputArchive& ar, cereal::BinaryData<T>& data) {
  ar.load_bytes(data.data, static_cast<std::size_t>(data.size));
}

}  // namespace proxystore::detail

CEREAL_REGISTER_ARCHIVE(proxystore::detail::WireOutputArchive)
CEREAL_REGISTER_ARCHIVE(proxystore::detail::WireInputArchive)
CEREAL_SETUP_ARCHIVE_TRAITS(proxystore::detail::WireInputArchive,
                            proxystore::detail::WireOutputArchive)
