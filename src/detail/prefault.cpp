// SPDX-License-Identifier: Apache-2.0
#include "detail/prefault.hpp"

#include <cstdint>
#include <exception>
#include <thread>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace proxystore::detail {

namespace {

#if defined(__linux__)
/// MADV_POPULATE_WRITE (Linux 5.14), defined here for older C libraries.
constexpr int populate_write = 23;

void populate(char* begin, char* end) noexcept {
  if (end > begin)
    (void)::madvise(begin, static_cast<std::size_t>(end - begin), populate_write);
}
#endif

}  // namespace

void prefault_pages(void* data, std::size_t size) noexcept {
#if defined(__linux__)
  if (data == nullptr || size < prefault_from)
    return;
  constexpr std::uintptr_t page = 4096;
  constexpr std::uintptr_t huge_page = std::uintptr_t{2} << 20U;
  // Offsets from `data` (whole pages: madvise takes page-aligned ranges).
  auto* const bytes = static_cast<char*>(data);
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = ((address + page - 1) & ~(page - 1)) - address;
  const std::uintptr_t end = ((address + size) & ~(page - 1)) - address;
  // Split on a huge page boundary, so no huge page is faulted by both.
  const std::uintptr_t middle =
      ((address + begin + (end - begin) / 2) & ~(huge_page - 1)) - address;
  char* const first = bytes + begin;
  char* const second = bytes + middle;
  char* const last = bytes + end;
  try {
    std::thread first_half([first, second] { populate(first, second); });
    populate(second, last);
    first_half.join();
  } catch (const std::exception&) {
    // No thread (std::system_error): the caller's first touch faults the
    // pages one at a time, as without this call.
  }
#else
  (void)data;
  (void)size;
#endif
}

}  // namespace proxystore::detail
