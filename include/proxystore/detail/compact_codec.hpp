// SPDX-License-Identifier: Apache-2.0
// Compact wire encodings of keys and store configs: they ride in every proxy.
#pragma once

// A serialized proxy of a Redis-stored object is mostly its StoreConfig
// (seven option names and values) and its Key (32 hex digits). Spelled out
// that is ~190 bytes; these encodings bring it under 100 without changing
// what a config or key *is*: only the wire archive uses them (JSON, XML and
// cereal's binary archives keep the plain field-by-field form).
//
//   word    varint tag; 0 = a literal string follows (varint length, bytes),
//           n > 0 = well_known_words[n - 1]
//   key id  byte 1 + 16 bytes when the id is 32 lowercase hex digits (the
//           default random key), else byte 0 + a literal string
//
// well_known_words is append-only: a word's index is part of the format.

#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace proxystore::detail {

inline constexpr std::array<std::string_view, 15> well_known_words = {
    "local",     "file",      "redis",      "hostname",           "port",
    "db",        "username",  "key_prefix", "connect_timeout_ms", "command_timeout_ms",
    "directory", "127.0.0.1", "localhost",  "proxystore:",        "0"};

inline void save_word(WireOutputArchive& ar, std::string_view word) {
  for (std::size_t i = 0; i < well_known_words.size(); ++i) {
    if (well_known_words[i] == word) {
      ar.save_varint(i + 1);
      return;
    }
  }
  ar.save_varint(0);
  ar.save_length(word.size());
  ar.save_bytes(word.data(), word.size());
}

inline std::string load_literal(WireInputArchive& ar) {
  std::string literal(static_cast<std::size_t>(ar.load_length()), '\0');
  ar.load_bytes(literal.data(), literal.size());
  return literal;
}

inline std::string load_word(WireInputArchive& ar) {
  const std::uint64_t tag = ar.load_varint();
  if (tag == 0)
    return load_literal(ar);
  if (tag > well_known_words.size()) {
    throw SerializationError(fmt::format("unknown well-known word {}", tag));
  }
  return std::string(well_known_words[tag - 1]);
}

inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

inline void save_key_id(WireOutputArchive& ar, std::string_view id) {
  std::uint8_t packed[16];
  bool is_hex128 = id.size() == 2 * sizeof(packed);
  for (std::size_t i = 0; is_hex128 && i < sizeof(packed); ++i) {
    const int high = hex_digit_value(id[2 * i]);
    const int low = hex_digit_value(id[2 * i + 1]);
    is_hex128 = high >= 0 && low >= 0;
    packed[i] = static_cast<std::uint8_t>((high << 4) | (low & 0x0f));
  }
  const std::uint8_t form = is_hex128 ? 1 : 0;
  ar.save_bytes(&form, 1);
  if (is_hex128) {
    ar.save_bytes(packed, sizeof(packed));
  } else {
    ar.save_length(id.size());
    ar.save_bytes(id.data(), id.size());
  }
}

inline std::string load_key_id(WireInputArchive& ar) {
  std::uint8_t form = 0;
  ar.load_bytes(&form, 1);
  if (form == 0)
    return load_literal(ar);
  if (form != 1)
    throw SerializationError(fmt::format("invalid key form {}", form));
  std::uint8_t packed[16];
  ar.load_bytes(packed, sizeof(packed));
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(2 * sizeof(packed), '0');
  for (std::size_t i = 0; i < sizeof(packed); ++i) {
    id[2 * i] = hex[packed[i] >> 4U];
    id[2 * i + 1] = hex[packed[i] & 0x0fU];
  }
  return id;
}

}  // namespace proxystore::detail
