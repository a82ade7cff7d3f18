// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>

namespace proxystore::detail {

/// Objects from this size up are prefaulted (prefault_pages) before they
/// are filled.
inline constexpr std::size_t prefault_from = std::size_t{32} << 20U;

/// Asks the kernel to back [data, data + size) with zeroed, writable pages
/// now, half of it on a second thread, before the caller value-initialises
/// and fills it. A fresh large object is written three times (the kernel
/// zeroes each page on its first touch, std::vector value-initialises it,
/// the transfer fills it); the kernel's pass is the one that can run on two
/// cores: a 100 MB get from a peer went from 23.8 to 19-20.5 ms on the
/// development VM. Advice only: nothing happens below prefault_from, off
/// Linux, before Linux 5.14 (MADV_POPULATE_WRITE; refused once, never
/// tried again), for a caller bound to one CPU, or when the thread cannot
/// start (then the caller's first touch faults the pages as usual). The
/// second thread runs with every signal blocked. On a multi-socket host
/// without binding it may run on the other socket and place half the
/// object's pages there.
void prefault_pages(void* data, std::size_t size) noexcept;

}  // namespace proxystore::detail
