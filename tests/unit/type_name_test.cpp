// SPDX-License-Identifier: Apache-2.0
// type_name<T>(): the portable spellings written into every stored object.
#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <bitset>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace typename_test {
struct Point {
  double x = 0;
  double y = 0;
};
struct Unnamed {};
template <class T>
struct Box {
  T value;
};
}  // namespace typename_test

PROXYSTORE_TYPE_NAME(typename_test::Point, "test.point");

using proxystore::type_name;

TEST_CASE("type_name spells arithmetic types by width", "[serialize]") {
  CHECK(type_name<bool>() == "bool");
  CHECK(type_name<char>() == "char");
  CHECK(type_name<signed char>() == "i8");
  CHECK(type_name<unsigned char>() == "u8");
  CHECK(type_name<std::int8_t>() == "i8");
  CHECK(type_name<std::uint8_t>() == "u8");
  CHECK(type_name<short>() == "i16");
  CHECK(type_name<unsigned short>() == "u16");
  CHECK(type_name<int>() == "i32");
  CHECK(type_name<unsigned>() == "u32");
  CHECK(type_name<std::int64_t>() == "i64");
  CHECK(type_name<std::uint64_t>() == "u64");
  static_assert(sizeof(long) == 8, "these tests assume LP64");
  CHECK(type_name<long>() == "i64");
  CHECK(type_name<long long>() == "i64");
  CHECK(type_name<unsigned long>() == "u64");
  CHECK(type_name<unsigned long long>() == "u64");
  CHECK(type_name<std::size_t>() == "u64");
  CHECK(type_name<float>() == "f32");
  CHECK(type_name<double>() == "f64");
  CHECK(type_name<std::byte>() == "byte");
}

TEST_CASE("type_name ignores cv-qualifiers", "[serialize]") {
  CHECK(type_name<const int>() == "i32");
  CHECK(type_name<volatile double>() == "f64");
  CHECK(type_name<const std::string>() == "string");
}

TEST_CASE("type_name spells standard templates recursively", "[serialize]") {
  CHECK(type_name<std::string>() == "string");
  CHECK(type_name<std::vector<double>>() == "vector<f64>");
  CHECK(type_name<std::vector<char>>() == "vector<char>");
  CHECK(type_name<std::vector<unsigned char>>() == "vector<u8>");
  CHECK(type_name<std::vector<std::byte>>() == "vector<byte>");
  CHECK(type_name<std::vector<std::vector<std::string>>>() == "vector<vector<string>>");
  CHECK(type_name<std::map<std::string, long>>() == "map<string,i64>");
  CHECK(type_name<std::map<std::string, long long>>() == "map<string,i64>");
  CHECK(type_name<std::unordered_map<std::string, int>>() == "unordered_map<string,i32>");
  CHECK(type_name<std::set<int>>() == "set<i32>");
  CHECK(type_name<std::unordered_set<std::string>>() == "unordered_set<string>");
  CHECK(type_name<std::deque<float>>() == "deque<f32>");
  CHECK(type_name<std::list<int>>() == "list<i32>");
  CHECK(type_name<std::pair<int, std::string>>() == "pair<i32,string>");
  CHECK(type_name<std::tuple<>>() == "tuple<>");
  CHECK(type_name<std::tuple<int, std::string, double>>() == "tuple<i32,string,f64>");
  CHECK(type_name<std::optional<std::string>>() == "optional<string>");
  CHECK(type_name<std::optional<std::vector<int>>>() == "optional<vector<i32>>");
  CHECK(type_name<std::array<double, 3>>() == "array<f64,3>");
  CHECK(type_name<std::variant<int, std::string>>() == "variant<i32,string>");
  CHECK(type_name<std::shared_ptr<int>>() == "shared_ptr<i32>");
  CHECK(type_name<std::unique_ptr<int>>() == "unique_ptr<i32>");
  CHECK(type_name<std::complex<double>>() == "complex<f64>");
  CHECK(type_name<std::bitset<8>>() == "bitset<8>");
  CHECK(type_name<std::map<std::string, std::vector<std::pair<int, double>>>>() ==
        "map<string,vector<pair<i32,f64>>>");
}

TEST_CASE("type_name leaves out allocators and comparators and hashers", "[serialize]") {
  CHECK(type_name<std::map<int, int, std::greater<>>>() == "map<i32,i32>");
  CHECK(type_name<std::set<int, std::greater<>>>() == "set<i32>");
}

TEST_CASE("type_name uses PROXYSTORE_TYPE_NAME for user types also nested", "[serialize]") {
  CHECK(type_name<typename_test::Point>() == "test.point");
  CHECK(type_name<const typename_test::Point>() == "test.point");
  CHECK(type_name<std::vector<typename_test::Point>>() == "vector<test.point>");
  CHECK(type_name<std::map<std::string, typename_test::Point>>() == "map<string,test.point>");
}

TEST_CASE("type_name falls back to the demangled name prefixed cxx:", "[serialize]") {
  CHECK(type_name<typename_test::Unnamed>() == "cxx:typename_test::Unnamed");
  CHECK(type_name<typename_test::Box<int>>() == "cxx:typename_test::Box<int>");
  CHECK(type_name<std::vector<typename_test::Unnamed>>() == "vector<cxx:typename_test::Unnamed>");
}

TEST_CASE("type_name names the library's own types", "[serialize]") {
  CHECK(type_name<proxystore::Key>() == "proxystore.key");
  CHECK(type_name<proxystore::StoreConfig>() == "proxystore.store_config");
  CHECK(type_name<proxystore::Proxy<int>>() == "proxy<i32>");
  CHECK(type_name<proxystore::Factory<std::vector<double>>>() == "factory<vector<f64>>");
}

TEST_CASE("type_name is stable and distinct", "[serialize]") {
  CHECK(&type_name<std::vector<int>>() == &type_name<std::vector<int>>());
  const std::vector<std::string> names = {
      type_name<std::string>(),
      type_name<std::vector<char>>(),
      type_name<std::vector<unsigned char>>(),
      type_name<std::vector<std::byte>>(),
      type_name<std::vector<signed char>>(),
      type_name<char>(),
      type_name<signed char>(),
      type_name<unsigned char>(),
      type_name<int>(),
      type_name<unsigned>(),
      type_name<float>(),
      type_name<double>(),
      type_name<bool>(),
      type_name<std::vector<int>>(),
      type_name<std::set<int>>(),
      type_name<std::list<int>>(),
  };
  const std::set<std::string> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
}
