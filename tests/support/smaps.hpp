// SPDX-License-Identifier: Apache-2.0
// What the kernel says of one of this process's mappings (/proc/self/smaps).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace proxystore::test {

/// The fields ("Rss", "VmFlags", ...) of the mapping of this process that
/// contains [begin, end), values as the kernel writes them (trimmed); empty
/// when no single mapping contains it.
std::map<std::string, std::string> mapping_fields(std::uintptr_t begin, std::uintptr_t end);

}  // namespace proxystore::test
