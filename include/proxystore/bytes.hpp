// SPDX-License-Identifier: Apache-2.0
/// \file
/// Bytes: a read-only, owning byte buffer handed up by store backends.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
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

/// One stored value, read front to back. A backend that receives values
/// from a socket or a file hands one of these to `Store::do_read`, so the
/// store can read a large value's body straight into the memory of the
/// object it becomes (no intermediate buffer). Backends that return Bytes
/// never need it: the default `do_read` wraps their `do_get`.
class ValueReader {
 public:
  ValueReader() = default;
  ValueReader(const ValueReader&) = delete;
  ValueReader& operator=(const ValueReader&) = delete;
  virtual ~ValueReader() = default;

  /// The size of the whole value in bytes.
  virtual std::size_t size() const noexcept = 0;
  /// Copies the next `n` bytes of the value (no more than remain) into `into`.
  /// @throws whatever the backend throws when its I/O fails.
  virtual void read(char* into, std::size_t n) = 0;
  /// The whole value, when the reader already holds it in memory (then
  /// the store decodes it in place instead of reading it).
  virtual std::optional<std::string_view> whole() const noexcept { return std::nullopt; }
  /// Whether size() is backed by bytes already checked (a local file whose
  /// size was checked against the limits): then the store allocates the
  /// object at its full size at once. Otherwise (the default: a size a peer
  /// claims) it grows the object as the bytes arrive.
  virtual bool size_is_backed() const noexcept { return false; }
  /// Whether the bytes after the first read() arrive in one transfer
  /// straight into the memory they are read into (a UCX rendezvous, which
  /// cannot be split): then the store sizes a raw-body object at once and
  /// reads the rest of its body in a single read() call instead of one
  /// slice at a time. The object is then allocated at the size the sender
  /// announced, bounded by StoreOptions::max_object_size.
  virtual bool single_transfer() const noexcept { return false; }
  /// Whether read() is fastest when asked for many bytes at once (a value
  /// stored in chunks, which one call fetches from several servers in
  /// parallel straight into place): then the store asks, in each call, for
  /// as much as the object has room for instead of cache-sized slices.
  /// The object still grows only as the limits on unbacked sizes allow.
  virtual bool prefers_large_reads() const noexcept { return false; }
};

}  // namespace proxystore
