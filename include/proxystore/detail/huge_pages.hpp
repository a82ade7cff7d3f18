// SPDX-License-Identifier: Apache-2.0
/// \file
/// Transparent huge pages for the memory of a large object about to be
/// filled (an implementation detail of the serializer).
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace proxystore::detail {

/// The size of a transparent huge page on x86-64 and arm64 Linux.
inline constexpr std::size_t huge_page_size = std::size_t{2} << 20U;

/// Asks the kernel to back the 2 MiB-aligned interior of [data, data +
/// size) with transparent huge pages before it is first touched, so a
/// 100 MB object costs about 50 page faults rather than 25,600 (on a
/// virtual machine a fault is expensive). Advice only: nothing happens below
/// 4 MiB, off Linux, or where the kernel declines.
inline void advise_huge_pages(void* data, std::size_t size) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || size < 2 * huge_page_size)
    return;
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::size_t skip = ((begin + huge_page_size - 1) & ~(huge_page_size - 1)) - begin;
  if (skip >= size)
    return;
  const std::size_t length = (size - skip) & ~(huge_page_size - 1);
  if (length != 0)
    (void)::madvise(static_cast<char*>(data) + skip, length, MADV_HUGEPAGE);
#else
  (void)data;
  (void)size;
#endif
}

}  // namespace proxystore::detail
