// SPDX-License-Identifier: Apache-2.0
// EndpointStore::do_read: a value the peer sends by UCX rendezvous is
// received straight into the object Store::get builds (its first bytes come
// with the reply). Every shape of read must still see the right bytes, and
// a failed read must leave the connection working.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/matchers.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::test::message_of;
using proxystore::test::unique_name;

namespace {

PeerOptions read_options() {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(10000);
  options.store.cache_size = 0;
  return options;
}

std::vector<double> doubles(std::size_t count) {
  std::vector<double> values(count);
  for (std::size_t i = 0; i < count; ++i)
    values[i] = static_cast<double>(i) * 0.5 + 1.0;
  return values;
}

std::string text(std::size_t size) {
  std::string value(size, '\0');
  for (std::size_t i = 0; i < size; ++i)
    value[i] = static_cast<char>((i * 131 + 17) & 0xffU);
  return value;
}

}  // namespace

TEST_CASE("EndpointStore: values from 1 B to 8 MB land in the object whole", "[peer]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-read"), read_options());
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), read_options());
  for (const std::size_t size :
       {std::size_t{1}, std::size_t{100}, std::size_t{127}, std::size_t{65536},
        (std::size_t{1} << 20U) + 3, std::size_t{8} << 20U}) {
    INFO("size " << size);
    const std::string value = text(size);
    const proxystore::Key key = owner->set(value);
    CHECK(client->get<std::string>(key) == value);
    const std::vector<double> numbers = doubles(size / 8 + 1);
    const proxystore::Key numbers_key = owner->set(numbers);
    CHECK(client->get<std::vector<double>>(numbers_key) == numbers);
  }
  // Not a raw-body type: the whole value first, then decoded.
  std::map<int, std::string> map;
  for (int i = 0; i < 2000; ++i)
    map[i] = text(1000);
  CHECK(client->get<std::map<int, std::string>>(owner->set(map)) == map);
  CHECK_FALSE(client->get<std::string>(proxystore::Key{"no-such-key"}).has_value());
}

TEST_CASE("EndpointStore: a large value read as the wrong type or beyond a limit fails cleanly",
          "[peer]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-read-wrong"), read_options());
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), read_options());
  const std::string value = text(std::size_t{4} << 20U);
  const proxystore::Key key = owner->set(value);
  for (int round = 0; round < 3; ++round) {
    // The header names std::string: the rest is read in slices (through a
    // buffer) and decoding reports the mismatch; the next get works.
    const std::string message = message_of<proxystore::SerializationError>(
        [&] { (void)client->get<std::vector<double>>(key); });
    CHECK_THAT(message, Catch::Contains("vector<f64>"));
    CHECK(client->get<std::string>(key) == value);
  }
  // A limit below the announced size: refused before anything is received.
  PeerOptions small = read_options();
  small.store.max_object_size = 1 << 20;
  auto limited = std::make_shared<EndpointStore>(owner->name() + "-limited", "127.0.0.1",
                                                 owner->port(), small);
  const std::string refused =
      message_of<proxystore::Error>([&] { (void)limited->get<std::string>(key); });
  CHECK_THAT(refused, Catch::Contains(key.id));
  CHECK(client->get<std::string>(key) == value);
}

#endif  // PROXYSTORE_HAS_UCX
