// SPDX-License-Identifier: Apache-2.0
#include "support/smaps.hpp"

#include <fstream>
#include <sstream>

namespace proxystore::test {

std::map<std::string, std::string> mapping_fields(std::uintptr_t begin, std::uintptr_t end) {
  std::ifstream smaps("/proc/self/smaps");
  std::map<std::string, std::string> fields;
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t from = 0;
    std::uintptr_t to = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> from >> dash >> to && dash == '-') {
      if (inside)
        break;  // the next mapping
      inside = from <= begin && end <= to;
      continue;
    }
    const std::size_t colon = line.find(':');
    if (inside && colon != std::string::npos) {
      const std::size_t value = line.find_first_not_of(' ', colon + 1);
      fields[line.substr(0, colon)] = value == std::string::npos ? "" : line.substr(value);
    }
  }
  return fields;
}

}  // namespace proxystore::test
