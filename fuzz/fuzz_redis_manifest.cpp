// SPDX-License-Identifier: Apache-2.0
// Redis chunk manifests, as a reader finds them under a key anyone with
// write access to the server may have forged: decoding, the checks against
// the store's limits, and the assembly of a value from its chunks, whose
// bytes here come from the rest of the input (a chunk the input cannot
// back is missing). Nothing may be allocated that the input does not back.
//
// Input: one flags byte, then the manifest's numbers line (up to '\n'),
// then chunk bytes. Flags bit 0: prepend the manifest magic (so most
// inputs reach the number parser); bits 1-2: max_object_size.
#include "fuzz_common.hpp"

#include "detail/redis_chunks.hpp"
#include "detail/redis_values.hpp"

namespace {

using namespace proxystore;

constexpr std::size_t max_object_sizes[] = {unlimited_object_size, std::size_t{1} << 30U, 4096, 0};

void assemble(const detail::ChunkManifest& manifest, std::string_view data) {
  // One chunk is allocated (uninitialised) ahead of its bytes, by design:
  // at most RedisOptions::max_chunk_size. Keep the fuzzer's malloc limit
  // for everything else.
  if (manifest.chunk_size > (std::size_t{1} << 20U))
    return;
  detail::ChunkAssembler assembler(manifest, std::size_t{4} << 20U);
  std::size_t consumed = 0;
  for (;;) {
    const auto [first, end] = assembler.next_batch();
    if (first == end)
      break;
    fuzz::require(end - first <= detail::ChunkAssembler::max_batch_chunks, "batch too large");
    for (std::uint64_t i = first; i < end; ++i) {
      const std::size_t size = assembler.size_of(i);
      if (data.size() - consumed < size) {
        assembler.mark_missing();
        break;
      }
      assembler.put(i, data.data() + consumed, size);
      consumed += size;
    }
    // The buffer never outgrows twice what arrived plus one chunk.
    fuzz::require(assembler.capacity() <= 2 * consumed + 2 * manifest.chunk_size,
                  "buffer larger than the bytes received");
  }
  const std::optional<Bytes> value = assembler.take();
  if (value) {
    fuzz::require(value->size() == manifest.total, "assembled size differs from the manifest");
    fuzz::require(value->view() == data.substr(0, consumed), "assembled bytes differ");
  } else {
    fuzz::require(assembler.missing(), "no value, yet no chunk was missing");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::optional<fuzz::TaggedInput> input = fuzz::split_tag(data, size);
  if (!input)
    return 0;
  const std::uint8_t flags = input->tag;
  const std::string_view rest = input->rest;
  const std::size_t newline = rest.find('\n');
  const std::string_view numbers = rest.substr(0, newline);
  const std::string_view chunks =
      newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
  std::string value;
  if ((flags & 1U) != 0)
    value.assign(detail::chunk_manifest_magic);
  value.append(numbers);

  const std::optional<detail::ChunkManifest> manifest = detail::decode_chunk_manifest(value);
  if (manifest) {
    fuzz::require(detail::valid_chunk_size(manifest->chunk_size), "chunk size out of range");
    fuzz::require(
        manifest->count == detail::make_chunk_manifest(manifest->total, manifest->chunk_size).count,
        "chunk count inconsistent with total and chunk size");
    const std::optional<detail::ChunkManifest> again =
        detail::decode_chunk_manifest(detail::encode_chunk_manifest(*manifest));
    fuzz::require(again && again->total == manifest->total &&
                      again->chunk_size == manifest->chunk_size && again->count == manifest->count,
                  "a decoded manifest does not survive re-encoding");
  }
  const std::size_t max_object_size = max_object_sizes[(flags >> 1U) & 3U];
  try {
    const detail::ChunkManifest checked =
        detail::checked_manifest("fuzz", "key", value, max_object_size);
    fuzz::require(manifest.has_value(), "checked a manifest that does not decode");
    fuzz::require(checked.total <= max_object_size, "manifest over max_object_size accepted");
    assemble(checked, chunks);
  } catch (const StoreOperationError&) {
    fuzz::require(!manifest, "a valid manifest reported corrupt");
  } catch (const SerializationError&) {
    fuzz::require(manifest && manifest->total > max_object_size, "size refusal without cause");
  }
  return 0;
}
