// SPDX-License-Identifier: Apache-2.0
// Private: the manifest that stands in for a value split into chunks.
#pragma once

#include <proxystore/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
/// inconsistent (count must equal ceil(total / chunk_size), chunk_size
/// must lie in [RedisOptions::min_chunk_size, RedisOptions::max_chunk_size]).
std::optional<ChunkManifest> decode_chunk_manifest(std::string_view value) noexcept;

/// Whether `chunk_size` is one a store may write and a reader accepts.
bool valid_chunk_size(std::uint64_t chunk_size) noexcept;

/// Gathers the chunks of one value. The manifest's numbers come from
/// whoever wrote the key, so nothing is allocated or sent on their word
/// alone: chunks are read in batches that double (1, 2, 4, ... chunks, at
/// most `max_batch_chunks` and — beyond the first chunk — about
/// `max_batch_bytes` each), the buffer grows only to hold the batch about
/// to be read (uninitialised memory: untouched pages cost nothing), and
/// reading stops at the first missing chunk. A manifest claiming 2^50
/// bytes whose chunks do not exist costs one GET and no large allocation.
class ChunkAssembler {
 public:
  /// Most chunks in one batch (commands pipelined at once).
  static constexpr std::uint64_t max_batch_chunks = 1024;

  ChunkAssembler(const ChunkManifest& manifest, std::size_t max_batch_bytes);

  /// The next batch of chunk indices, [first, end); empty once every chunk
  /// was read or one is missing. The buffer then has room for the batch.
  std::pair<std::uint64_t, std::uint64_t> next_batch();
  /// Where chunk `index` (of the current batch) goes; valid until the next
  /// call to next_batch.
  [[nodiscard]] char* slot(std::uint64_t index) const noexcept;
  /// The size chunk `index` must have.
  [[nodiscard]] std::size_t size_of(std::uint64_t index) const noexcept {
    return static_cast<std::size_t>(manifest_.size_of(index));
  }
  /// Chunk `index` of the current batch holds `size` bytes at `data`.
  void put(std::uint64_t index, const char* data, std::size_t size) noexcept;
  /// A chunk was absent: the value is gone (evicted or expired meanwhile,
  /// or the manifest was forged); no further batch is read.
  void mark_missing() noexcept { missing_ = true; }
  [[nodiscard]] bool missing() const noexcept { return missing_; }
  /// Bytes of buffer allocated so far (for tests).
  [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }

  /// The assembled value, or nullopt if a chunk was missing. Call once,
  /// after next_batch returned an empty batch.
  std::optional<Bytes> take();

 private:
  /// Grows the buffer to hold at least `bytes`, keeping its first `keep`.
  void reserve(std::size_t bytes, std::size_t keep);

  ChunkManifest manifest_;
  std::size_t max_batch_bytes_;
  std::unique_ptr<char[]> buffer_;
  std::size_t capacity_ = 0;
  std::uint64_t next_ = 0;   // first chunk not yet in a batch
  std::uint64_t batch_ = 1;  // chunks in the next batch
  bool missing_ = false;
};

/// `<key>:chunk:<index>`.
std::string chunk_key(std::string_view key, std::uint64_t index);

/// One chunk to read, and where its bytes go.
struct ChunkRead {
  std::uint64_t index = 0;
  std::string key;
  char* into = nullptr;
  std::size_t size = 0;
  enum class State : char { pending, read, absent } state = State::pending;
};

/// Thrown by ChunkValueReader::read when a chunk is absent: the value was
/// evicted (or expired) meanwhile, or its manifest was forged. The backend's
/// do_read catches it and reports the value as not found.
class ChunkMissing final : public std::exception {
 public:
  [[nodiscard]] const char* what() const noexcept override {
    return "a chunk of the value is gone";
  }
};

/// A chunked value read front to back, each read's whole chunks fetched
/// straight into the caller's memory (in parallel, where the backend's
/// `fetch` can), a chunk a read covers only in part (the first, after the
/// head; one at the end of a read) staged in one buffer of a chunk. As
/// ChunkAssembler, chunks are asked for in batches that double (1, 2, 4,
/// ... chunks, at most max_batch_chunks and about `max_batch_bytes` past
/// the first), so a forged manifest whose chunks do not exist costs one
/// GET; the memory read into is the caller's, grown by it as the bytes
/// arrive (prefers_large_reads: read_object's steps).
class ChunkValueReader final : public ValueReader {
 public:
  /// Reads every pending chunk of the batch into its `into` (or marks it
  /// absent); throws what the backend throws.
  using Fetch = std::function<void(std::vector<ChunkRead>&)>;

  ChunkValueReader(const ChunkManifest& manifest, std::string_view key, std::size_t max_batch_bytes,
                   Fetch fetch);

  [[nodiscard]] std::size_t size() const noexcept override {
    return static_cast<std::size_t>(manifest_.total);
  }
  void read(char* into, std::size_t n) override;
  [[nodiscard]] bool prefers_large_reads() const noexcept override { return true; }

  /// Fetches the first chunk (staged), before anything is handed to a
  /// consumer; false when it is absent.
  bool prime();

 private:
  /// fetch_, then ChunkMissing if any chunk of the batch was absent.
  void fetch(std::vector<ChunkRead>& batch);

  ChunkManifest manifest_;
  std::string key_;
  std::size_t max_batch_bytes_;
  Fetch fetch_;
  std::uint64_t position_ = 0;  // bytes handed out so far
  std::uint64_t batch_ = 1;     // chunks in the next batch
  std::string staged_;          // the chunk staged_index_, whole
  std::uint64_t staged_index_ = ~std::uint64_t{0};
};

/// Calls `consume` with a ChunkValueReader of the chunked value under
/// `key` (after its first chunk was found: prime); false when a chunk is
/// absent (ChunkMissing), whether before or while `consume` reads.
bool consume_chunked(const ChunkManifest& manifest, std::string_view key,
                     std::size_t max_batch_bytes, ChunkValueReader::Fetch fetch,
                     const std::function<void(ValueReader&)>& consume);

}  // namespace proxystore::detail
