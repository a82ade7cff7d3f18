// SPDX-License-Identifier: Apache-2.0
// Hostile UCX peers, over real UCX on loopback (support/raw_ucx_peer):
// a server whose replies are forged (an absurd announced size, a truncated
// head, a wrong reply id, an unknown status, no reply at all) must give the
// client a clear ConnectionError naming the address and the key within its
// timeouts, never bad_alloc, a hang or a crash; a client sending malformed
// requests to a PeerStore listener must not stop it serving others.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "../../src/detail/machine_memory.hpp"
#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/raw_ucx_peer.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

using proxystore::ConnectionError;
using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::test::message_of;
using proxystore::test::RawUcxPeer;
using proxystore::test::unique_name;
namespace ucx = proxystore::detail::ucx;

namespace {

PeerOptions hostile_options() {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(3000);
  options.command_timeout = std::chrono::milliseconds(1000);
  options.store.cache_size = 0;
  return options;
}

constexpr std::uint32_t ok = 0;

}  // namespace

TEST_CASE("EndpointStore: forged replies from a hostile peer are clear errors", "[peer]") {
  struct Case {
    const char* name;
    RawUcxPeer::Script script;
    const char* expected;  // in the message
    std::size_t max_object_size;
  };
  const std::string head(ucx::reply_head_size, 'h');
  const std::uint64_t memory = proxystore::detail::machine_memory_bytes();
  const Case cases[] = {
      {"an announced size above the machine's memory",
       [&](const RawUcxPeer::Request& request) {
         RawUcxPeer::Answer answer{
             RawUcxPeer::reply_header(request.header.id, ok, head, ucx::reply_head_size),
             {},
             static_cast<std::size_t>(memory) + (std::size_t{1} << 30U)};
         return std::optional<RawUcxPeer::Answer>(std::move(answer));
       },
       "more than this machine's memory", 0},
      {"an announced size above max_object_size",
       [&](const RawUcxPeer::Request& request) {
         RawUcxPeer::Answer answer{
             RawUcxPeer::reply_header(request.header.id, ok, head, ucx::reply_head_size),
             {},
             std::size_t{64} << 20U};
         return std::optional<RawUcxPeer::Answer>(std::move(answer));
       },
       "above the limit of 1048576 bytes", std::size_t{1} << 20U},
      {"a head shorter than announced",
       [](const RawUcxPeer::Request& request) {
         return std::optional<RawUcxPeer::Answer>(RawUcxPeer::Answer{
             RawUcxPeer::reply_header(request.header.id, ok, "short", 128), "rest", 0});
       },
       "malformed reply header", 0},
      {"a head longer than the protocol allows",
       [](const RawUcxPeer::Request& request) {
         const std::string long_head(4096, 'x');
         return std::optional<RawUcxPeer::Answer>(RawUcxPeer::Answer{
             RawUcxPeer::reply_header(request.header.id, ok, long_head, 4096), {}, 0});
       },
       "malformed reply header", 0},
      {"an unknown status",
       [](const RawUcxPeer::Request& request) {
         return std::optional<RawUcxPeer::Answer>(
             RawUcxPeer::Answer{RawUcxPeer::reply_header(request.header.id, 77, {}, 0), {}, 0});
       },
       "unknown status 77", 0},
      {"a reply to another request",
       [](const RawUcxPeer::Request& request) {
         return std::optional<RawUcxPeer::Answer>(RawUcxPeer::Answer{
             RawUcxPeer::reply_header(request.header.id + 1000, ok, "x", 1), {}, 0});
       },
       "no reply within the command timeout", 0},
      {"a truncated reply header",
       [](const RawUcxPeer::Request& /*request*/) {
         return std::optional<RawUcxPeer::Answer>(RawUcxPeer::Answer{"abc", {}, 0});
       },
       "no reply within the command timeout", 0},
      {"no reply at all",
       [](const RawUcxPeer::Request& /*request*/) { return std::optional<RawUcxPeer::Answer>(); },
       "no reply within the command timeout", 0},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    RawUcxPeer peer(c.script);
    PeerOptions options = hostile_options();
    if (c.max_object_size != 0)
      options.store.max_object_size = c.max_object_size;
    auto client = std::make_shared<EndpointStore>(unique_name("peer-forged-reply"), "127.0.0.1",
                                                  peer.port(), options);
    const proxystore::Key key{"forged-reply-key"};
    const auto started = std::chrono::steady_clock::now();
    const std::string message =
        message_of<ConnectionError>([&] { (void)client->get<std::string>(key); });
    const auto elapsed = std::chrono::steady_clock::now() - started;
    INFO(message);
    CHECK_THAT(message, Catch::Contains(c.expected));
    CHECK_THAT(message, Catch::Contains(peer.address()));
    CHECK_THAT(message, Catch::Contains(key.id));
    CHECK(peer.requests() >= 1);
    CHECK(elapsed < options.command_timeout + std::chrono::seconds(4));
  }
}

TEST_CASE("PeerStore: malformed requests from a hostile client leave it serving others", "[peer]") {
  auto store = std::make_shared<PeerStore>(unique_name("peer-hostile-client"), hostile_options());
  auto good = std::make_shared<EndpointStore>(store->name() + "-good", "127.0.0.1", store->port(),
                                              hostile_options());
  const proxystore::Key before = good->set(std::string("before"));
  const std::size_t held = store->memory_bytes();

  RawUcxPeer hostile;
  const int connection = hostile.connect(store->port());
  // Answered with an error reply: an unknown operation, data with a get,
  // batches whose entries overrun their bytes or name oversized keys.
  hostile.send(connection, RawUcxPeer::request_header(99, 1, "k"));
  hostile.send(connection, RawUcxPeer::request_header(2, 2, "k"), "unexpected data");
  std::string overrun = RawUcxPeer::request_header(7, 3, {});  // put_batch, count 5
  reinterpret_cast<ucx::RequestHeader*>(overrun.data())->count = 5;
  std::string entries;
  ucx::append_u32(entries, 1U << 30U);  // a key length far beyond the data
  hostile.send(connection, overrun, entries);
  std::string batch = RawUcxPeer::request_header(6, 4, {});  // get_batch, count 1
  reinterpret_cast<ucx::RequestHeader*>(batch.data())->count = 1;
  std::string big_key;
  ucx::append_u32(big_key, 4096);
  big_key.append(4096, 'k');
  hostile.send(connection, batch, big_key);
  // Dropped without an answer: a truncated header, a wrong magic, a key
  // length that does not match, a key above the limit.
  hostile.send(connection, std::string(10, '\1'));
  std::string wrong_magic = RawUcxPeer::request_header(2, 5, "k");
  wrong_magic[0] = 'X';
  hostile.send(connection, wrong_magic);
  std::string mismatch = RawUcxPeer::request_header(2, 6, "key");
  reinterpret_cast<ucx::RequestHeader*>(mismatch.data())->key_length = 1000;
  hostile.send(connection, mismatch);
  hostile.send(connection, RawUcxPeer::request_header(2, 7, std::string(2000, 'k')));
  // A flood of connections that never send anything.
  for (int i = 0; i < 40; ++i)
    (void)hostile.connect(store->port());

  REQUIRE(hostile.wait_replies(4, std::chrono::seconds(10)));
  const std::vector<std::string> replies = hostile.replies();
  CHECK(replies.size() == 4);
  for (const std::string& reply : replies) {
    REQUIRE(reply.size() >= sizeof(ucx::ReplyHeader));
    ucx::ReplyHeader header{};
    std::memcpy(&header, reply.data(), sizeof header);
    CHECK(header.id >= 1);
    CHECK(header.id <= 4);
    CHECK(header.status == static_cast<std::uint32_t>(ucx::Status::error));
  }

  // Everyone else is still served, and nothing was stored.
  CHECK(store->memory_bytes() == held);
  CHECK(good->get<std::string>(before) == std::string("before"));
  const proxystore::Key after = good->set(std::string("after"));
  CHECK(good->get<std::string>(after) == std::string("after"));
  auto other = std::make_shared<EndpointStore>(store->name() + "-other", "127.0.0.1", store->port(),
                                               hostile_options());
  CHECK(other->get<std::string>(before) == std::string("before"));
}

#ifdef PROXYSTORE_TEST_ENDPOINT
TEST_CASE("proxystore-endpoint: one log line per malformed request and it keeps serving",
          "[peer]") {
  const proxystore::test::TempDir dir("peer-hostile-endpoint");
  const std::string log = (dir / "stderr").string();
  proxystore::test::BackgroundChild endpoint(
      "/bin/sh",
      {"-c", "exec \"$0\" --listen 127.0.0.1:0 2>\"$1\"", PROXYSTORE_TEST_ENDPOINT, log});
  const std::string listening = endpoint.read_line();
  REQUIRE(listening.rfind("listening on ", 0) == 0);
  const int port = std::stoi(listening.substr(listening.rfind(':') + 1));
  auto good = std::make_shared<EndpointStore>(unique_name("peer-endpoint-good"), "127.0.0.1", port,
                                              hostile_options());
  const proxystore::Key key = good->set(std::string("kept"));

  {
    RawUcxPeer hostile;
    const int connection = hostile.connect(port);
    hostile.send(connection, std::string(10, '\1'));  // a truncated header
    std::string wrong_magic = RawUcxPeer::request_header(2, 1, "k");
    wrong_magic[0] = 'X';
    hostile.send(connection, wrong_magic);
    hostile.send(connection, RawUcxPeer::request_header(2, 2, std::string(2000, 'k')));
    for (int i = 0; i < 20; ++i)
      (void)hostile.connect(port);
    // Answered, and after the three above on the same connection.
    hostile.send(connection, RawUcxPeer::request_header(99, 3, "k"));
    REQUIRE(hostile.wait_replies(1, std::chrono::seconds(10)));
    CHECK(good->get<std::string>(key) == std::string("kept"));
  }
  CHECK(good->get<std::string>(key) == std::string("kept"));
  endpoint.kill(SIGTERM);
  CHECK(endpoint.wait(std::chrono::seconds(10)) == 0);

  std::istringstream lines(dir.read_file("stderr"));
  std::string line;
  int dropped = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("proxystore-endpoint: dropped", 0) == 0)
      ++dropped;
  }
  INFO(dir.read_file("stderr"));
  CHECK(dropped == 3);
}
#endif  // PROXYSTORE_TEST_ENDPOINT

#endif  // PROXYSTORE_HAS_UCX
