// SPDX-License-Identifier: Apache-2.0
// Inputs found by (or built after) the fuzzers in fuzz/: each must keep
// failing cleanly — a SerializationError, never a crash, a hang or an
// allocation the input cannot back.
#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>
#include <cereal/cereal.hpp>

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

namespace {

using namespace proxystore;

/// The recursive user type of fuzz/fuzz_types.hpp.
struct Tree {
  std::string label;
  std::vector<Tree> children;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(label, children);
  }
};

/// A type whose values hold proxies of the same type: each nested proxy's
/// payload is decoded by a fresh archive.
struct Chain {
  int value = 0;
  std::vector<Proxy<Chain>> next;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(value, next);
  }
};

std::string bytes_of(std::initializer_list<unsigned char> list) {
  return std::string(list.begin(), list.end());
}

/// A stored object: "PX", version 1, the type name, the 8-byte body length
/// and the body.
std::string object(std::string_view type, std::string_view body) {
  std::string out = "PX\x01";
  out.push_back(static_cast<char>(type.size()));
  out.append(type);
  for (std::size_t i = 0, n = body.size(); i < 8; ++i, n >>= 8U)
    out.push_back(static_cast<char>(n & 0xffU));
  out.append(body);
  return out;
}

/// A Tree `depth` levels deep: every level has an empty label and one child.
std::string nested_tree(std::size_t depth) {
  std::string body;
  for (std::size_t i = 0; i < depth; ++i)
    body += std::string("\x00\x01", 2);
  body += std::string("\x00\x00", 2);
  return object("fuzz.tree", body);
}

}  // namespace

PROXYSTORE_TYPE_NAME(Tree, "fuzz.tree");
PROXYSTORE_TYPE_NAME(Chain, "fuzz.chain");

TEST_CASE("fuzz: an empty proxy decodes as empty and throws Error only when used",
          "[serialize][fuzz]") {
  // fuzz_proxy, first run: `PX 01 0d "proxy<string>" <body length 3> 00 00 00`
  // (no kind, no signature, no payload) is the encoding of an empty proxy;
  // the fuzz target called get_factory on it.
  const std::string bytes = bytes_of({0x50, 0x58, 0x01, 0x0d, 0x70, 0x72, 0x6f, 0x78, 0x79, 0x3c,
                                      0x73, 0x74, 0x72, 0x69, 0x6e, 0x67, 0x3e, 0x03, 0x00, 0x00,
                                      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00});
  const auto proxy = deserialize<Proxy<std::string>>(bytes);
  CHECK_THROWS_AS(resolve(proxy), Error);
  CHECK(serialize(proxy) == bytes);
  // With a signing key an empty factory needs no signature: it can do nothing.
  set_signing_key("regression-key");
  CHECK_NOTHROW(deserialize<Proxy<std::string>>(bytes));
  clear_signing_key();
}

TEST_CASE("fuzz: deeply nested recursive types are refused, not a stack overflow",
          "[serialize][fuzz]") {
  // 200 000 levels (400 KB) overflowed the stack before the nesting limit.
  CHECK_THROWS_WITH(deserialize<Tree>(nested_tree(200000)), Catch::Contains("nest deeper"));
  // Also on a thread with a default-sized stack, and with a 4 KB input.
  std::thread([] {
    CHECK_THROWS_AS(deserialize<Tree>(nested_tree(200000)), SerializationError);
    CHECK_THROWS_AS(deserialize<Tree>(nested_tree(2040)), SerializationError);
  }).join();
  // Ordinary depths still decode, and a failed decode leaves no residue:
  // the next decode on this thread starts from depth zero again.
  const Tree tree = deserialize<Tree>(nested_tree(300));
  std::size_t depth = 0;
  for (const Tree* node = &tree; !node->children.empty(); node = &node->children.front())
    ++depth;
  CHECK(depth == 300);
}

TEST_CASE("fuzz: nesting through proxies inside factories is bounded too", "[serialize][fuzz]") {
  // Chain{ next = [ Proxy(SimpleFactory(Chain{ next = [...] })) ] }: each
  // level is decoded by a new archive, so the limit is counted per thread.
  Chain chain{1, {}};
  for (int i = 0; i < 40; ++i) {
    chain = Chain{i, {Proxy<Chain>(Factory<Chain>(SimpleFactory<Chain>(chain)))}};
  }
  const std::string ok = serialize(chain);
  CHECK(deserialize<Chain>(ok).value == 39);

  // Far deeper than the limit: built by hand, since copying the chain
  // above would take quadratic time. Level = i32 value, 1 proxy, kind
  // "simple", empty signature, payload (length-prefixed).
  std::string body = std::string(4, '\0') + '\0';  // innermost: value 0, no next
  for (int level = 0; level < 600; ++level) {
    std::string payload = body;
    std::string out(4, '\0');
    out += '\x01';       // one element in `next`
    out += '\x06';       // kind length
    out += "simple";     // kind
    out += '\0';         // empty signature
    std::string length;  // payload length, LEB128
    for (std::size_t n = payload.size();; n >>= 7U) {
      const auto byte = static_cast<unsigned char>(n & 0x7fU);
      if ((n >> 7U) == 0) {
        length.push_back(static_cast<char>(byte));
        break;
      }
      length.push_back(static_cast<char>(byte | 0x80U));
    }
    out += length + payload;
    body = out;
  }
  CHECK_THROWS_WITH(deserialize<Chain>(object("fuzz.chain", body)), Catch::Contains("nest deeper"));
  CHECK(deserialize<Chain>(ok).value == 39);  // the depth counter was restored
}

TEST_CASE("fuzz: containers of empty elements cannot grow quadratically", "[serialize][fuzz]") {
  // vector<vector<monostate>>: an element takes no bytes, so each inner
  // length could claim everything that remains: 1 400 inner vectors of
  // ~4 000 elements from 4 KB, 1e10 elements from 300 KB. All lengths of
  // one decode together are now bounded by the input size.
  using Nested = std::vector<std::vector<std::monostate>>;
  std::string body;
  const std::size_t outer = 100000;
  for (std::size_t n = outer;; n >>= 7U) {  // outer length, LEB128
    if ((n >> 7U) == 0) {
      body.push_back(static_cast<char>(n & 0x7fU));
      break;
    }
    body.push_back(static_cast<char>((n & 0x7fU) | 0x80U));
  }
  for (std::size_t i = 0; i < outer; ++i)
    body += std::string("\xff\xff\x03", 3);  // 65 535 elements each
  const std::string bytes = object(type_name<Nested>(), body);
  CHECK_THROWS_WITH(deserialize<Nested>(bytes), Catch::Contains("can back"));

  // Legitimate nested containers are unaffected.
  using Map = std::map<std::string, std::vector<std::string>>;
  const Map map = {{"a", {"", "x"}}, {"", {}}, {"b", {"", "", ""}}};
  CHECK(deserialize<Map>(serialize(map)) == map);
  const std::vector<std::vector<std::vector<int>>> deep = {{{1, 2}, {}}, {}, {{3}}};
  CHECK(deserialize<std::vector<std::vector<std::vector<int>>>>(serialize(deep)) == deep);
}

TEST_CASE("fuzz: hostile length tags are refused before allocating", "[serialize][fuzz]") {
  // A 10-byte varint claiming 2^63 elements.
  const std::string huge =
      object("vector<f64>", bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}));
  CHECK_THROWS_AS(deserialize<std::vector<double>>(huge), SerializationError);
  // An 11-byte varint (overlong) is malformed.
  const std::string overlong = object("vector<f64>", std::string(10, '\x80') + '\x01');
  CHECK_THROWS_AS(deserialize<std::vector<double>>(overlong), SerializationError);
  // A bool byte other than 0 or 1, and a variant index out of range.
  CHECK_THROWS_AS(deserialize<bool>(object("bool", "\x02")), SerializationError);
  using V = std::variant<int, std::string>;
  CHECK_THROWS_AS(deserialize<V>(object(type_name<V>(), bytes_of({0x07, 0, 0, 0}))),
                  SerializationError);
}
