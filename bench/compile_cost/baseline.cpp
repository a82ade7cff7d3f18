// SPDX-License-Identifier: Apache-2.0
// Compile-cost baseline (bench/compile_cost.sh): only the bare dependencies
// of a proxystore consumer — fmt, a cereal binary archive with vector and
// string, std containers — deserializing a std::vector<double> and using it.
#include <fmt/format.h>
#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cstddef>
#include <map>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  std::istringstream in(argc > 1 ? std::string(argv[1]) : std::string());
  cereal::BinaryInputArchive archive(in);
  std::vector<double> values;
  archive(values);
  std::map<std::string, std::size_t> sizes{{"values", values.size()}};
  const double sum = std::accumulate(values.begin(), values.end(), 0.0);
  fmt::print("{} values, sum {}, first {}\n", sizes["values"], sum,
             values.empty() ? 0.0 : values[0]);
  return 0;
}
