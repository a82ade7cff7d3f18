// SPDX-License-Identifier: Apache-2.0
#include "detail/machine_memory.hpp"

#include <sys/sysinfo.h>

namespace proxystore::detail {

std::uint64_t machine_memory_bytes() noexcept {
  struct sysinfo info {};
  if (::sysinfo(&info) != 0)
    return UINT64_MAX;
  return (static_cast<std::uint64_t>(info.totalram) + info.totalswap) * info.mem_unit;
}

}  // namespace proxystore::detail
