// SPDX-License-Identifier: Apache-2.0
// Bytes: a read-only, owning byte buffer handed up by store backends.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace proxystore {

/// A read-only byte buffer that owns (or shares ownership of) its memory.
/// Copies are cheap and share the same buffer. A backend returns either a
/// `std::string` (implicitly converted) or a foreign buffer together with
/// the object that keeps it alive (e.g. a whole hiredis reply), so the
/// bytes reach the deserializer without a copy.
class Bytes {
 public:
  /// An empty buffer.
  Bytes() = default;

  /// Takes ownership of `bytes` (moved, not copied).
  Bytes(std::string bytes)  // NOLINT(google-explicit-constructor): a backend just returns a string
  {
    auto owner = std::make_shared<const std::string>(std::move(bytes));
    data_ = owner->data();
    size_ = owner->size();
    owner_ = std::move(owner);
  }

  /// Views `size` bytes at `data`, kept alive by `owner`.
  Bytes(const char* data, std::size_t size, std::shared_ptr<const void> owner)
      : data_(data), size_(size), owner_(std::move(owner)) {}

  /// The first byte (null for an empty default-constructed buffer).
  const char* data() const noexcept { return data_; }
  /// The number of bytes.
  std::size_t size() const noexcept { return size_; }
  /// Whether there are no bytes.
  bool empty() const noexcept { return size_ == 0; }
  /// The bytes as a view; valid while this buffer (or a copy) lives.
  std::string_view view() const noexcept { return {data_, size_}; }
  /// A copy of the bytes as a string.
  std::string str() const { return std::string(view()); }

 private:
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::shared_ptr<const void> owner_;
};

}  // namespace proxystore
