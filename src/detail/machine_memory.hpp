// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace proxystore::detail {

/// RAM plus swap, in bytes (UINT64_MAX when the kernel does not say): no
/// value larger than this can be received into memory, so a size a file
/// or a peer claims above it is refused before anything is allocated.
std::uint64_t machine_memory_bytes() noexcept;

/// Sizes up to this are never above machine_memory_bytes() (no machine this
/// library runs on has less RAM plus swap).
inline constexpr std::uint64_t machine_memory_floor = std::uint64_t{64} << 20U;

/// Whether `size` bytes exceed machine_memory_bytes(). A size up to
/// machine_memory_floor is answered without the system call, which a get
/// checking every reply would otherwise pay (sysinfo: microseconds on a VM,
/// a quarter of a 100 B get from a peer).
inline bool exceeds_machine_memory(std::uint64_t size) noexcept {
  return size > machine_memory_floor && size > machine_memory_bytes();
}

}  // namespace proxystore::detail
