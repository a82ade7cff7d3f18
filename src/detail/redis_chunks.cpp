// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_chunks.hpp"

#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/redis.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
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
  if (!valid_chunk_size(manifest.chunk_size))
    return std::nullopt;
  if (manifest.count != make_chunk_manifest(manifest.total, manifest.chunk_size).count) {
    return std::nullopt;
  }
  return manifest;
}

bool valid_chunk_size(std::uint64_t chunk_size) noexcept {
  return chunk_size >= RedisOptions::min_chunk_size && chunk_size <= RedisOptions::max_chunk_size;
}

ChunkAssembler::ChunkAssembler(const ChunkManifest& manifest, std::size_t max_batch_bytes)
    : manifest_(manifest), max_batch_bytes_(max_batch_bytes) {}

std::pair<std::uint64_t, std::uint64_t> ChunkAssembler::next_batch() {
  if (missing_ || next_ >= manifest_.count)
    return {next_, next_};
  // At least one chunk; more only while the batch stays within its bytes.
  const std::uint64_t by_bytes =
      std::max<std::uint64_t>(1, max_batch_bytes_ / manifest_.chunk_size);
  const std::uint64_t chunks = std::min({batch_, by_bytes, manifest_.count - next_});
  const std::uint64_t first = next_;
  next_ += chunks;
  batch_ = std::min(batch_ * 2, max_batch_chunks);
  // The chunks read so far are at least half of what the batch adds (it
  // doubles), so the buffer never outgrows twice the bytes received plus
  // one chunk (at most RedisOptions::max_chunk_size).
  const std::uint64_t end_byte =
      next_ >= manifest_.count ? manifest_.total : next_ * manifest_.chunk_size;
  reserve(static_cast<std::size_t>(end_byte),
          static_cast<std::size_t>(first * manifest_.chunk_size));
  return {first, next_};
}

char* ChunkAssembler::slot(std::uint64_t index) const noexcept {
  return buffer_.get() + index * manifest_.chunk_size;
}

void ChunkAssembler::put(std::uint64_t index, const char* data, std::size_t size) noexcept {
  if (size != 0)  // an empty value's one chunk may come with no data pointer
    std::memcpy(slot(index), data, size);
}

void ChunkAssembler::reserve(std::size_t bytes, std::size_t keep) {
  if (bytes <= capacity_ && buffer_)
    return;
  // Geometric growth (bounded by the value's size) keeps the copies linear.
  const std::size_t grown = std::min<std::size_t>(static_cast<std::size_t>(manifest_.total),
                                                  std::max(bytes, capacity_ * 2));
  const auto target = std::max<std::size_t>({1, bytes, grown});
  std::unique_ptr<char[]> bigger(new char[target]);  // uninitialised: only what we write is touched
  if (buffer_ && keep != 0)
    std::memcpy(bigger.get(), buffer_.get(), keep);
  buffer_ = std::move(bigger);
  capacity_ = target;
}

std::optional<Bytes> ChunkAssembler::take() {
  if (missing_ || next_ < manifest_.count)
    return std::nullopt;
  if (!buffer_)
    reserve(1, 0);
  const char* data = buffer_.get();
  std::shared_ptr<const void> owner(std::move(buffer_));
  return Bytes(data, static_cast<std::size_t>(manifest_.total), std::move(owner));
}

std::string chunk_key(std::string_view key, std::uint64_t index) {
  std::string out;
  out.reserve(key.size() + 28);
  out.append(key);
  fmt::format_to(std::back_inserter(out), ":chunk:{}", index);
  return out;
}

ChunkValueReader::ChunkValueReader(const ChunkManifest& manifest, std::string_view key,
                                   std::size_t max_batch_bytes, Fetch fetch)
    : manifest_(manifest), key_(key), max_batch_bytes_(max_batch_bytes), fetch_(std::move(fetch)) {}

void ChunkValueReader::fetch(std::vector<ChunkRead>& batch) {
  fetch_(batch);
  for (const ChunkRead& chunk : batch) {
    if (chunk.state != ChunkRead::State::read)
      throw ChunkMissing();
  }
  batch_ = std::min(batch_ * 2, ChunkAssembler::max_batch_chunks);
}

bool ChunkValueReader::prime() {
  try {
    if (staged_index_ != 0) {
      std::vector<ChunkRead> batch(1);
      batch.front().key = chunk_key(key_, 0);
      batch.front().size = static_cast<std::size_t>(manifest_.size_of(0));
      staged_.resize(batch.front().size);  // at most max_chunk_size: a checked manifest's
      batch.front().into = staged_.data();
      fetch(batch);
      staged_index_ = 0;
    }
  } catch (const ChunkMissing&) {
    return false;
  }
  return true;
}

void ChunkValueReader::read(char* into, std::size_t n) {
  if (n > manifest_.total - position_) {
    throw Error(fmt::format("chunked value \"{}\": a read of {} bytes at {} passes its end ({})",
                            printable(key_), n, position_, manifest_.total));
  }
  const std::uint64_t chunk_size = manifest_.chunk_size;
  while (n != 0) {
    const std::uint64_t index = position_ / chunk_size;
    if (index == staged_index_) {
      const auto offset = static_cast<std::size_t>(position_ - index * chunk_size);
      const std::size_t take = std::min(n, staged_.size() - offset);
      std::memcpy(into, staged_.data() + offset, take);
      into += take;
      n -= take;
      position_ += take;
      continue;
    }
    // The next batch from `index`: whole chunks land in place, at most one
    // the read covers in part (its first or last) in the staging buffer.
    const std::uint64_t end = position_ + n;
    const std::uint64_t limit =
        std::min(batch_, std::max<std::uint64_t>(1, max_batch_bytes_ / chunk_size));
    std::vector<ChunkRead> batch;
    std::size_t staged = batch.max_size();
    for (std::uint64_t i = index; i < manifest_.count && batch.size() < limit; ++i) {
      const std::uint64_t begin = i * chunk_size;
      const auto size = static_cast<std::size_t>(manifest_.size_of(i));
      if (begin >= end)
        break;
      const bool whole = begin >= position_ && begin + size <= end;
      if (!whole && staged != batch.max_size())
        break;
      ChunkRead chunk;
      chunk.index = i;
      chunk.key = chunk_key(key_, i);
      chunk.size = size;
      if (whole) {
        chunk.into = into + (begin - position_);
      } else {
        staged = batch.size();
        staged_index_ = ~std::uint64_t{0};
        staged_.resize(size);  // one chunk: at most max_chunk_size
        chunk.into = staged_.data();
      }
      batch.push_back(std::move(chunk));
    }
    fetch(batch);
    for (std::size_t c = 0; c < batch.size(); ++c) {
      std::size_t take = batch[c].size;
      if (c == staged) {  // its part this read covers, from the staging buffer
        staged_index_ = batch[c].index;
        const auto offset = static_cast<std::size_t>(position_ - batch[c].index * chunk_size);
        take = std::min(n, batch[c].size - offset);
        std::memcpy(into, staged_.data() + offset, take);
      }
      into += take;
      n -= take;
      position_ += take;
    }
  }
}

bool consume_chunked(const ChunkManifest& manifest, std::string_view key,
                     std::size_t max_batch_bytes, ChunkValueReader::Fetch fetch,
                     const std::function<void(ValueReader&)>& consume) {
  ChunkValueReader reader(manifest, key, max_batch_bytes, std::move(fetch));
  if (!reader.prime())
    return false;
  try {
    consume(reader);
  } catch (const ChunkMissing&) {
    return false;
  }
  return true;
}

}  // namespace proxystore::detail
