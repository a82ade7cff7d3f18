// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>

namespace proxystore::detail {

/// RAM plus swap, in bytes (UINT64_MAX when the kernel does not say): no
/// value larger than this can be received into memory, so a size a file
/// or a peer claims above it is refused before anything is allocated.
std::uint64_t machine_memory_bytes() noexcept;

}  // namespace proxystore::detail
