// SPDX-License-Identifier: Apache-2.0
// serialize()/deserialize(): header, byte-like bodies, bounded decoding of hostile input.
#include "support/matchers.hpp"

#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using Catch::Matchers::Contains;
using proxystore::test::MessageContains;

namespace serialize_test {

struct Point {
  double x = 0;
  double y = 0;
  friend bool operator==(const Point& a, const Point& b) { return a.x == b.x && a.y == b.y; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y);
  }
};

/// A bit of everything cereal writes: strings, lengths, bools, optionals,
/// variants, nested containers and a user type.
struct Record {
  std::string name;
  std::vector<double> values;
  std::map<std::string, std::vector<int>> groups;
  std::optional<std::string> note;
  bool flag = false;
  std::variant<int, std::string> tag;
  std::vector<Point> points;
  std::tuple<std::uint8_t, std::int64_t> pair{};

  friend bool operator==(const Record& a, const Record& b) {
    return a.name == b.name && a.values == b.values && a.groups == b.groups && a.note == b.note &&
           a.flag == b.flag && a.tag == b.tag && a.points == b.points && a.pair == b.pair;
  }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values, groups, note, flag, tag, points, pair);
  }
};

Record sample_record() {
  Record r;
  r.name = "sample";
  r.values = {1.5, -2.25, 1e300};
  r.groups = {{"a", {1, 2, 3}}, {"bb", {}}, {"ccc", {-7}}};
  r.note = "note";
  r.flag = true;
  r.tag = std::string("tagged");
  r.points = {{1, 2}, {3, 4}};
  r.pair = {255, -1};
  return r;
}

/// Counts live instances; built by cereal through load_and_construct, which
/// reads a second field after constructing the object.
struct Tracked {
  static inline std::atomic<int> live{0};
  std::string text;
  int extra = 0;

  explicit Tracked(std::string t) : text(std::move(t)) { ++live; }
  Tracked(const Tracked& other) : text(other.text), extra(other.extra) { ++live; }
  Tracked(Tracked&& other) noexcept : text(std::move(other.text)), extra(other.extra) { ++live; }
  Tracked& operator=(const Tracked&) = default;
  Tracked& operator=(Tracked&&) = default;
  ~Tracked() { --live; }

  template <class Archive>
  void save(Archive& ar) const {
    ar(text, extra);
  }
  template <class Archive>
  static void load_and_construct(Archive& ar, cereal::construct<Tracked>& construct) {
    std::string text;
    ar(text);
    construct(std::move(text));
    ar(construct->extra);
  }
};

/// Its load_and_construct "forgets" to construct when the value is 0.
struct SometimesBuilt {
  int value;
  explicit SometimesBuilt(int v) : value(v) {}
  template <class Archive>
  void save(Archive& ar) const {
    ar(value);
  }
  template <class Archive>
  static void load_and_construct(Archive& ar, cereal::construct<SometimesBuilt>& construct) {
    int value = 0;
    ar(value);
    if (value != 0)
      construct(value);
  }
};

/// Its save always fails.
struct FailsToSave {
  template <class Archive>
  void save(Archive& /*ar*/) const {
    throw std::runtime_error("save refused");
  }
  template <class Archive>
  void load(Archive& /*ar*/) {}
};

}  // namespace serialize_test

PROXYSTORE_TYPE_NAME(serialize_test::Point, "test.point");
PROXYSTORE_TYPE_NAME(serialize_test::Record, "test.record");
PROXYSTORE_TYPE_NAME(serialize_test::Tracked, "test.tracked");
PROXYSTORE_TYPE_NAME(serialize_test::SometimesBuilt, "test.sometimes_built");
PROXYSTORE_TYPE_NAME(serialize_test::FailsToSave, "test.fails_to_save");

namespace {

using serialize_test::Point;
using serialize_test::Record;
using serialize_test::sample_record;

/// The start of the header serialize() writes for `type` (short names
/// only): magic, format version and type name, up to the body length.
std::string header_of(std::string_view type) {
  REQUIRE(type.size() < 128);
  std::string header = "PX";
  header.push_back('\x01');
  header.push_back(static_cast<char>(type.size()));
  header.append(type);
  return header;
}

/// The fixed-width little-endian body length that ends the header.
std::string body_length(std::uint64_t length) {
  std::string out;
  for (int i = 0; i < 8; ++i, length >>= 8U)
    out.push_back(static_cast<char>(length & 0xffU));
  return out;
}

/// A whole stored object: header (with the body's length) and `body`.
std::string encoded(std::string_view type, std::string_view body) {
  return header_of(type) + body_length(body.size()) + std::string(body);
}

/// The size of the header of an object of `type`.
std::size_t header_size(std::string_view type) {
  return header_of(type).size() + 8;
}

std::string varint(std::uint64_t value) {
  std::string out;
  do {
    auto byte = static_cast<unsigned char>(value & 0x7fU);
    value >>= 7U;
    out.push_back(static_cast<char>(value != 0 ? (byte | 0x80U) : byte));
  } while (value != 0);
  return out;
}

template <class T>
void check_round_trip(const T& value) {
  INFO("type " << type_name<T>());
  const std::string bytes = serialize(value);
  CHECK(bytes.rfind(header_of(type_name<T>()), 0) == 0);
  CHECK(deserialize<T>(bytes) == value);
}

/// Either serialize refuses `value` with SerializationError, or the bytes it
/// wrote read back as `value`: never written-but-unreadable.
template <class T>
void check_round_trip_or_refused(const T& value) {
  INFO("type " << type_name<T>());
  std::string bytes;
  try {
    bytes = serialize(value);
  } catch (const SerializationError& e) {
    SUCCEED("refused when written: " << e.what());
    return;
  }
  CHECK(deserialize<T>(bytes) == value);
}

/// Every strict prefix of `bytes` must be rejected with SerializationError;
/// and so must every strict prefix of its body under a header whose body
/// length was fixed up to match (the body's own encoding must notice).
template <class T>
void check_every_truncation_throws(const std::string& bytes) {
  INFO("type " << type_name<T>() << ", " << bytes.size() << " bytes");
  for (std::size_t length = 0; length < bytes.size(); ++length) {
    INFO("prefix length " << length);
    CHECK_THROWS_AS(deserialize<T>(std::string_view(bytes).substr(0, length)), SerializationError);
  }
  if constexpr (!detail::is_byte_like_v<T>) {
    const std::string body = bytes.substr(header_size(type_name<T>()));
    REQUIRE(encoded(type_name<T>(), body) == bytes);
    for (std::size_t length = 0; length < body.size(); ++length) {
      INFO("body prefix length " << length);
      CHECK_THROWS_AS(deserialize<T>(encoded(type_name<T>(), body.substr(0, length))),
                      SerializationError);
    }
  }
}

/// Flips random bytes of `bytes` many times; each decode must either succeed
/// or throw SerializationError (any other exception fails the test; a crash
/// fails it under any build, a bad access under ASan).
template <class T>
int check_random_corruption(const std::string& bytes, unsigned seed) {
  std::mt19937 random(seed);
  std::uniform_int_distribution<std::size_t> position(0, bytes.size() - 1);
  std::uniform_int_distribution<int> value(0, 255);
  std::uniform_int_distribution<int> flips(1, 3);
  int rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string corrupt = bytes;
    for (int i = flips(random); i > 0; --i)
      corrupt[position(random)] = static_cast<char>(value(random));
    try {
      (void)deserialize<T>(corrupt);
    } catch (const SerializationError&) {
      ++rejected;  // the expected outcome for most corruptions
    }
  }
  return rejected;
}

}  // namespace

TEST_CASE("serialize writes magic and format version and type name before the body",
          "[serialize]") {
  const std::int32_t value = 0x01020304;
  std::string body(sizeof(value), '\0');
  std::memcpy(body.data(), &value, sizeof(value));
  CHECK(serialize(value) == encoded("i32", body));

  const std::string bytes = serialize(std::vector<double>{1.0, 2.0});
  CHECK(bytes.substr(0, 2) == "PX");
  CHECK(bytes[2] == '\x01');
  CHECK(bytes.rfind(header_of("vector<f64>"), 0) == 0);
}

TEST_CASE("serialize round-trips values of many types", "[serialize]") {
  check_round_trip(42);
  check_round_trip(-1L);
  check_round_trip(3.25);
  check_round_trip(true);
  check_round_trip(false);
  check_round_trip('c');
  check_round_trip(std::string());
  check_round_trip(std::string("with\0nul", 8));
  check_round_trip(std::vector<double>{});
  check_round_trip(std::vector<double>{1.5, -2.5});
  check_round_trip(std::vector<bool>{true, false, true});
  check_round_trip(std::vector<std::string>{"a", "", "ccc"});
  check_round_trip(std::map<std::string, long>{{"one", 1}, {"two", 2}});
  check_round_trip(std::unordered_map<std::string, int>{{"x", 1}});
  check_round_trip(std::set<int>{3, 1, 2});
  check_round_trip(std::optional<int>());
  check_round_trip(std::optional<int>(5));
  check_round_trip(std::pair<int, std::string>(1, "one"));
  check_round_trip(std::tuple<int, double, std::string>(1, 2.0, "three"));
  check_round_trip(std::array<double, 3>{1, 2, 3});
  check_round_trip(std::variant<int, std::string>(std::string("alt")));
  check_round_trip(Point{1, 2});
  check_round_trip(std::vector<Point>{{1, 2}, {3, 4}});
  check_round_trip(sample_record());
  check_round_trip(Key{"0123abcd"});
  check_round_trip(StoreConfig{"file", "files", {{"directory", "/tmp/x"}, {"other", ""}}});

  const auto owned = deserialize<std::unique_ptr<int>>(serialize(std::make_unique<int>(9)));
  REQUIRE(owned);
  CHECK(*owned == 9);
  CHECK_FALSE(deserialize<std::unique_ptr<int>>(serialize(std::unique_ptr<int>())));
}

TEST_CASE("What serialize accepts deserialize reads back: containers of empty elements",
          "[serialize]") {
  // An element may take zero bytes of body (an empty struct, monostate), so a
  // length tag may legitimately exceed the bytes that remain. Either such
  // data is refused when written, or it must be readable.
  check_round_trip_or_refused(std::vector<std::monostate>(3));
  check_round_trip_or_refused(std::vector<std::tuple<>>(2));
}

TEST_CASE("Byte-like types store their raw bytes as the body under distinct names", "[serialize]") {
  const std::string raw("bytes\0\xff", 7);
  CHECK(serialize(raw) == encoded("string", raw));
  CHECK(serialize(std::vector<char>(raw.begin(), raw.end())) == encoded("vector<char>", raw));
  std::vector<unsigned char> uchars(raw.begin(), raw.end());
  CHECK(serialize(uchars) == encoded("vector<u8>", raw));
  std::vector<std::byte> bytes;
  for (char c : raw)
    bytes.push_back(static_cast<std::byte>(c));
  CHECK(serialize(bytes) == encoded("vector<byte>", raw));

  CHECK(deserialize<std::string>(serialize(raw)) == raw);
  CHECK(deserialize<std::vector<unsigned char>>(serialize(uchars)) == uchars);
  CHECK(deserialize<std::vector<std::byte>>(serialize(bytes)) == bytes);

  // Same bytes, different type: still a type error.
  CHECK_THROWS_AS(deserialize<std::vector<char>>(serialize(raw)), SerializationError);
  CHECK_THROWS_AS(deserialize<std::string>(serialize(uchars)), SerializationError);

  // A large byte-like body is the bytes, with no per-element overhead.
  const std::string big(1 << 20, 'z');
  CHECK(serialize(big).size() == header_size("string") + big.size());
}

TEST_CASE("Reading bytes as the wrong type names both types", "[serialize]") {
  const std::string bytes = serialize(std::vector<double>{1.0});
  CHECK_THROWS_MATCHES(deserialize<std::vector<int>>(bytes), SerializationError,
                       MessageContains({"vector<f64>", "vector<i32>"}));
  CHECK_THROWS_WITH(deserialize<Point>(serialize(std::string("x"))),
                    Contains("test.point") && Contains("string"));
  CHECK_THROWS_WITH(deserialize<std::string>(serialize(Point{})),
                    Contains("test.point") && Contains("string"));
  CHECK_THROWS_AS(deserialize<long>(serialize(42)), SerializationError);
  CHECK_THROWS_AS(deserialize<unsigned>(serialize(42)), SerializationError);
}

TEST_CASE("Every truncation of a valid encoding throws SerializationError", "[serialize]") {
  check_every_truncation_throws<int>(serialize(7));
  check_every_truncation_throws<bool>(serialize(true));
  check_every_truncation_throws<std::vector<double>>(serialize(std::vector<double>{1, 2, 3}));
  check_every_truncation_throws<std::vector<std::string>>(
      serialize(std::vector<std::string>{"ab", "", "cde"}));
  check_every_truncation_throws<std::map<std::string, long>>(
      serialize(std::map<std::string, long>{{"k", 1}, {"kk", 2}}));
  check_every_truncation_throws<std::optional<std::string>>(
      serialize(std::optional<std::string>("opt")));
  check_every_truncation_throws<Record>(serialize(sample_record()));
  check_every_truncation_throws<Key>(serialize(Key{"abcdef"}));
  check_every_truncation_throws<StoreConfig>(
      serialize(StoreConfig{"file", "f", {{"directory", "/tmp/d"}}}));

  using StringProxy = Proxy<std::string>;
  check_every_truncation_throws<StringProxy>(
      serialize(StringProxy(SimpleFactory<std::string>("simple value"))));
  check_every_truncation_throws<StringProxy>(serialize(StringProxy(StoreFactory<std::string>(
      StoreConfig{"file", "f", {{"directory", "/tmp/d"}}}, Key{"k1"}, true))));
  check_every_truncation_throws<Factory<int>>(serialize(Factory<int>(SimpleFactory<int>(3))));
}

TEST_CASE("Truncating the header of a byte-like object throws SerializationError", "[serialize]") {
  const std::string bytes = serialize(std::string("payload"));
  const std::size_t header = header_size("string");
  for (std::size_t length = 0; length < header; ++length) {
    INFO("prefix length " << length);
    CHECK_THROWS_AS(deserialize<std::string>(std::string_view(bytes).substr(0, length)),
                    SerializationError);
  }
}

TEST_CASE("Truncating the body of a byte-like object throws SerializationError", "[serialize]") {
  // The contract: truncated bytes throw. A byte-like body has no cereal
  // length of its own, so the header must make a short body detectable.
  const std::string payload(100, 'p');
  const std::string bytes = serialize(payload);
  for (std::size_t cut : {1U, 50U, 100U}) {
    INFO("bytes cut from the end: " << cut);
    const std::string_view truncated = std::string_view(bytes).substr(0, bytes.size() - cut);
    CHECK_THROWS_AS(deserialize<std::string>(truncated), SerializationError);
  }
  const std::vector<unsigned char> uchars(64, 7);
  const std::string ubytes = serialize(uchars);
  CHECK_THROWS_AS(deserialize<std::vector<unsigned char>>(
                      std::string_view(ubytes).substr(0, ubytes.size() - 1)),
                  SerializationError);
}

TEST_CASE("A failed load_and_construct does not leak the constructed object", "[serialize]") {
  using serialize_test::Tracked;
  Tracked::live = 0;
  {
    const std::string bytes = serialize(Tracked(std::string(64, 't')));
    REQUIRE(Tracked::live.load() == 0);
    const Tracked loaded = deserialize<Tracked>(bytes);
    CHECK(loaded.text == std::string(64, 't'));
    CHECK(Tracked::live.load() == 1);
  }
  CHECK(Tracked::live.load() == 0);

  // Cut off half of `extra` (under a matching body length): the object is
  // constructed, then the next read fails.
  const std::string bytes = serialize(Tracked(std::string(64, 't')));
  const std::string body = bytes.substr(header_size("test.tracked"));
  CHECK_THROWS_AS(deserialize<Tracked>(encoded("test.tracked", body.substr(0, body.size() - 2))),
                  SerializationError);
  CHECK(Tracked::live.load() == 0);
  check_every_truncation_throws<Tracked>(bytes);
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("A load_and_construct that does not construct is a SerializationError", "[serialize]") {
  using serialize_test::SometimesBuilt;
  CHECK(deserialize<SometimesBuilt>(serialize(SometimesBuilt(3))).value == 3);
  CHECK_THROWS_AS(deserialize<SometimesBuilt>(serialize(SometimesBuilt(0))), SerializationError);
}

TEST_CASE("Random byte corruption never crashes: decode or SerializationError", "[serialize]") {
  const int record_rejected = check_random_corruption<Record>(serialize(sample_record()), 1234);
  CHECK(record_rejected > 0);

  using StringProxy = Proxy<std::string>;
  const std::string proxy_bytes = serialize(StringProxy(
      StoreFactory<std::string>(StoreConfig{"file", "f", {{"directory", "/tmp/d"}}}, Key{"k1"})));
  CHECK(check_random_corruption<StringProxy>(proxy_bytes, 99) > 0);

  CHECK(check_random_corruption<std::map<std::string, std::vector<int>>>(
            serialize(std::map<std::string, std::vector<int>>{{"a", {1, 2}}, {"b", {3}}}), 7) > 0);
  CHECK(check_random_corruption<std::string>(serialize(std::string("text")), 5) > 0);
}

TEST_CASE("A hostile length throws before allocating what the input cannot back", "[serialize]") {
  // 2^60 elements (8 EiB of doubles) claimed by a 9-byte varint.
  CHECK_THROWS_MATCHES(
      deserialize<std::vector<double>>(encoded("vector<f64>", varint(1ULL << 60U))),
      SerializationError, MessageContains("exceeds"));
  // The largest value a 10-byte varint can hold.
  const std::string max_varint = std::string(9, '\xff') + '\x01';
  CHECK_THROWS_WITH(deserialize<std::vector<double>>(encoded("vector<f64>", max_varint)),
                    Contains("exceeds"));
  // A varint that never ends within 64 bits.
  CHECK_THROWS_AS(
      deserialize<std::vector<double>>(encoded("vector<f64>", std::string(11, '\xff') + '\x01')),
      SerializationError);
  // A count just above what remains.
  CHECK_THROWS_WITH(deserialize<std::vector<std::string>>(
                        encoded("vector<string>", varint(5) + std::string(4, '\0'))),
                    Contains("exceeds"));
  // A hostile string length inside a map value.
  using StringMap = std::map<std::string, std::string>;
  CHECK_THROWS_WITH(deserialize<StringMap>(encoded(
                        "map<string,string>", varint(1) + varint(1) + "k" + varint(1ULL << 40U))),
                    Contains("exceeds"));
  // A header announcing a body far longer than the input.
  CHECK_THROWS_AS(deserialize<std::string>(header_of("string") + body_length(1ULL << 62U) + "abc"),
                  SerializationError);
  // A hostile type-name length in the header.
  CHECK_THROWS_AS(deserialize<int>(std::string("PX\x01", 3) + varint(1ULL << 60U) + "i32"),
                  SerializationError);
}

TEST_CASE("A bool byte other than 0 or 1 is rejected", "[serialize]") {
  std::string bytes = serialize(true);
  CHECK(deserialize<bool>(bytes));
  bytes.back() = '\x02';
  CHECK_THROWS_WITH(deserialize<bool>(bytes), Contains("bool"));
  bytes.back() = '\xff';
  CHECK_THROWS_AS(deserialize<bool>(bytes), SerializationError);

  // The presence flag of an optional is a bool too.
  std::string optional_bytes = serialize(std::optional<std::uint8_t>(std::uint8_t{1}));
  optional_bytes[header_size("optional<u8>")] = '\x02';
  CHECK_THROWS_AS(deserialize<std::optional<std::uint8_t>>(optional_bytes), SerializationError);
}

TEST_CASE("Trailing bytes are rejected", "[serialize]") {
  // After the announced body ...
  CHECK_THROWS_AS(deserialize<int>(serialize(1) + '\0'), SerializationError);
  CHECK_THROWS_AS(deserialize<std::vector<int>>(serialize(std::vector<int>{1}) + "xyz"),
                  SerializationError);
  CHECK_THROWS_AS(deserialize<Record>(serialize(sample_record()) + '\x01'), SerializationError);
  CHECK_THROWS_AS(deserialize<std::string>(serialize(std::string("abc")) + 'd'),
                  SerializationError);
  // ... and inside a body whose length covers them.
  std::string body(4, '\0');
  CHECK(deserialize<int>(encoded("i32", body)) == 0);
  body.push_back('\0');
  CHECK_THROWS_WITH(deserialize<int>(encoded("i32", body)), Contains("trailing"));
  CHECK_THROWS_WITH(deserialize<std::vector<int>>(encoded("vector<i32>", varint(0) + "x")),
                    Contains("trailing"));
}

TEST_CASE("Bad magic and unknown format versions are rejected", "[serialize]") {
  const std::string good = serialize(5);
  CHECK_THROWS_AS(deserialize<int>(""), SerializationError);
  CHECK_THROWS_AS(deserialize<int>("P"), SerializationError);
  std::string bad_magic = good;
  bad_magic[0] = 'Q';
  CHECK_THROWS_WITH(deserialize<int>(bad_magic), Contains("missing the \"PX\" header"));
  // The magic alone is a truncated object, not a missing header.
  CHECK_THROWS_WITH(deserialize<int>("PX"),
                    Contains("truncated") && !Contains("missing the \"PX\" header"));
  std::string bad_version = good;
  bad_version[2] = '\x02';
  CHECK_THROWS_WITH(deserialize<int>(bad_version), Contains("version 2"));
  bad_version[2] = '\x00';
  CHECK_THROWS_AS(deserialize<int>(bad_version), SerializationError);
}

TEST_CASE("deserialize enforces max_object_size", "[serialize]") {
  const std::string bytes = serialize(std::string(1000, 'm'));
  CHECK(deserialize<std::string>(bytes, bytes.size()) == std::string(1000, 'm'));
  CHECK_THROWS_WITH(deserialize<std::string>(bytes, bytes.size() - 1),
                    Contains("maximum object size"));
  CHECK_THROWS_AS(deserialize<std::vector<int>>(serialize(std::vector<int>(100)), 16),
                  SerializationError);
}

TEST_CASE("Encoding failures become SerializationError naming the type", "[serialize]") {
  CHECK_THROWS_MATCHES(serialize(serialize_test::FailsToSave{}), SerializationError,
                       MessageContains({"test.fails_to_save", "save refused"}));
}

TEST_CASE("Key and StoreConfig round-trip and format", "[serialize]") {
  const Key key{"00ff"};
  CHECK(deserialize<Key>(serialize(key)) == key);
  CHECK(fmt::format("{}", key) == "00ff");
  CHECK(fmt::format("[{:>6}]", key) == "[  00ff]");
  CHECK(fmt::format("{:<5}|", key) == "00ff |");
  std::ostringstream out;
  out << key;
  CHECK(out.str() == "00ff");
  CHECK(std::hash<Key>{}(key) == std::hash<std::string>{}("00ff"));
  CHECK(Key{"a"} < Key{"b"});
  CHECK(Key{"a"} != Key{"b"});
  CHECK(Key{"b"} >= Key{"a"});

  const StoreConfig config{"redis", "cache", {{"hostname", "127.0.0.1"}, {"port", "6379"}}};
  const StoreConfig loaded = deserialize<StoreConfig>(serialize(config));
  CHECK(loaded == config);
  CHECK(loaded.type == "redis");
  CHECK(loaded.name == "cache");
  CHECK(loaded.options.at("port") == "6379");
  StoreConfig other = config;
  other.options["db"] = "1";
  CHECK(other != config);
  std::ostringstream printed;
  printed << config;
  CHECK(printed.str() == "redis \"cache\" {hostname=127.0.0.1, port=6379}");

  const Key random1 = random_key();
  const Key random2 = random_key();
  CHECK(random1.id.size() == 32);
  CHECK(random1.id.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(random1 != random2);
}
