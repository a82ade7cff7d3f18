// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/serialization.md.
#include <proxystore/proxystore.hpp>

#include <cereal/archives/json.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

//! [user_type]
namespace geo {
struct Point {
  double x = 0;
  double y = 0;

  template <class Archive>
  void serialize(Archive& ar) {  // plain cereal
    ar(x, y);
  }
};
}  // namespace geo

// At global scope, once, visible to producer and consumer alike.
PROXYSTORE_TYPE_NAME(geo::Point, "geo.point");
//! [user_type]

void round_trip() {
  //! [round_trip]
  std::map<std::string, std::vector<int>> table{{"a", {1, 2}}, {"b", {3}}};
  std::string bytes = ps::serialize(table);  // header + cereal body
  auto back = ps::deserialize<std::map<std::string, std::vector<int>>>(bytes);
  CHECK(back == table);

  CHECK(ps::deserialize<geo::Point>(ps::serialize(geo::Point{1, 2})).y == 2);
  //! [round_trip]
}

void type_names() {
  //! [type_names]
  CHECK(ps::type_name<int>() == "i32");
  CHECK(ps::type_name<long long>() == "i64");
  CHECK(ps::type_name<double>() == "f64");
  CHECK(ps::type_name<std::string>() == "string");
  CHECK(ps::type_name<std::vector<double>>() == "vector<f64>");
  CHECK(ps::type_name<std::map<std::string, std::int64_t>>() == "map<string,i64>");
  CHECK(ps::type_name<std::tuple<int, std::optional<float>>>() == "tuple<i32,optional<f32>>");
  CHECK(ps::type_name<geo::Point>() == "geo.point");
  CHECK(ps::type_name<ps::Proxy<geo::Point>>() == "proxy<geo.point>");
  //! [type_names]
}

void header() {
  //! [header]
  const std::string bytes = ps::serialize(std::string("hi"));
  const std::string expected = std::string("PX\x01", 3)                // magic, format version 1
                               + std::string("\x06string", 7)          // type name: length, name
                               + std::string("\x02\0\0\0\0\0\0\0", 8)  // body length, little-endian
                               + "hi";                                 // body: the raw bytes
  CHECK(bytes == expected);
  //! [header]
}

void wrong_type() {
  //! [wrong_type]
  const std::string bytes = ps::serialize(std::vector<double>{1.0, 2.0});
  try {
    (void)ps::deserialize<std::vector<float>>(bytes);
    CHECK(false);
  } catch (const ps::SerializationError& e) {
    // "cannot decode 'vector<f32>': the object holds a 'vector<f64>', not a 'vector<f32>'"
    CHECK(std::string(e.what()).find("vector<f64>") != std::string::npos);
  }
  //! [wrong_type]
}

void bounded() {
  //! [bounded]
  std::string bytes = ps::serialize(std::vector<std::int64_t>(1000, 7));

  // Truncated, corrupted or hostile input throws; it never crashes, hangs or
  // allocates more than the input can back.
  bytes.resize(bytes.size() / 2);
  try {
    (void)ps::deserialize<std::vector<std::int64_t>>(bytes);
    CHECK(false);
  } catch (const ps::SerializationError&) {
  }

  // A length field claiming 2^63 - 1 elements, in an otherwise well-formed
  // object, is refused before anything is allocated.
  std::string hostile = ps::serialize(std::vector<std::int64_t>{});  // body: the length 0
  hostile.pop_back();
  hostile[hostile.size() - 8] = 9;  // the header's body length: now 9 bytes
  hostile += std::string("\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 9);  // length 2^63 - 1
  try {
    (void)ps::deserialize<std::vector<std::int64_t>>(hostile);
    CHECK(false);
  } catch (const ps::SerializationError& e) {
    // "cannot decode 'vector<i64>': length 9223372036854775807 at offset 0 exceeds the 0 bytes
    // that remain"
    CHECK(std::string(e.what()).find("exceeds") != std::string::npos);
  }

  // An optional ceiling on the whole object (StoreOptions::max_object_size for stores).
  try {
    (void)ps::deserialize<std::string>(ps::serialize(std::string(4096, 'x')), 1024);
    CHECK(false);
  } catch (const ps::SerializationError&) {
  }
  //! [bounded]
}

void other_archives() {
  auto store = std::make_shared<ps::LocalStore>("serialization-doc");
  //! [archives]
  // Proxies (and factories, keys, configs) work with any cereal archive, so
  // they can ride inside your own JSON or binary messages.
  ps::Proxy<geo::Point> point = store->proxy(geo::Point{3, 4});
  std::stringstream json;
  {
    cereal::JSONOutputArchive out(json);
    out(cereal::make_nvp("point", point));  // {"point": {"factory": {"kind": "store", ...}}}
  }
  ps::Proxy<geo::Point> parsed;
  {
    cereal::JSONInputArchive in(json);
    in(cereal::make_nvp("point", parsed));
  }
  CHECK(parsed->x == 3);
  //! [archives]
}

int main() {
  return run_snippet("serialization", [] {
    round_trip();
    type_names();
    header();
    wrong_type();
    bounded();
    other_archives();
  });
}
