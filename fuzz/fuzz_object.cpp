// SPDX-License-Identifier: Apache-2.0
// The stored-object decoder: header + body for many T, as a store's
// get<T>() runs it on bytes read from a backend.
#include "fuzz_common.hpp"

#include <array>
#include <bitset>
#include <chrono>
#include <complex>
#include <deque>
#include <list>
#include <memory>
#include <set>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>

namespace {

using namespace proxystore;

template <class... Ts>
void all(std::string_view bytes) {
  (fuzz::decode_and_roundtrip<Ts>(bytes), ...);
}

/// Decodes without the round-trip check (types whose equality or
/// re-encoding is not canonical, e.g. unordered containers, NaN).
template <class T>
void decode_only(std::string_view bytes) {
  try {
    (void)deserialize<T>(bytes);
  } catch (const SerializationError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes = fuzz::as_view(data, size);
  all<bool, int, long long, double, std::string, std::vector<char>, std::vector<unsigned char>,
      std::vector<double>, std::vector<bool>, std::vector<std::string>,
      std::vector<std::vector<std::string>>, std::vector<std::vector<std::vector<int>>>,
      std::map<std::string, long long>, std::map<int, std::vector<std::string>>,
      std::set<std::string>, std::list<int>, std::deque<float>, std::array<int, 4>,
      std::pair<int, std::string>, std::tuple<bool, std::string, double>, std::optional<int>,
      std::optional<std::vector<std::optional<bool>>>,
      std::variant<int, std::string, std::vector<double>>,
      std::variant<std::monostate, bool, std::map<std::string, std::string>>, fuzz::Particle,
      std::vector<fuzz::Particle>, fuzz::Tree, Key, StoreConfig>(bytes);
  // Pointers (cereal's shared-pointer id tracking), bitsets, complex, chrono.
  all<std::unique_ptr<int>, std::shared_ptr<std::vector<std::string>>,
      std::vector<std::shared_ptr<int>>, std::bitset<70>, std::complex<double>,
      std::chrono::milliseconds>(bytes);
  decode_only<std::unordered_map<std::string, std::vector<long long>>>(bytes);
  decode_only<std::unordered_map<int, fuzz::Tree>>(bytes);
  // A bounded size limit must refuse, never crash.
  try {
    (void)deserialize<std::vector<double>>(bytes, 64);
  } catch (const SerializationError&) {
  }
  return 0;
}
