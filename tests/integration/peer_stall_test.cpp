// SPDX-License-Identifier: Apache-2.0
// Peers that stall, trickle or flood, over real UCX on loopback
// (support/raw_ucx_peer): a client that announces a put's value by
// rendezvous and then stalls or trickles it is given up by the serving
// node at its receive timeout (one log line naming the client and the key,
// the buffer released, other clients still served); a reply whose data
// stalls is given up when the call times out (its buffer released); and a
// caller's wait ends at its deadline while a peer floods its worker with
// messages.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "../../src/detail/ucx_transport.hpp"
#include "support/child_process.hpp"
#include "support/eventually.hpp"
#include "support/matchers.hpp"
#include "support/raw_ucx_peer.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::TimeoutError;
using proxystore::test::eventually;
using proxystore::test::message_of;
using proxystore::test::RawUcxPeer;
using proxystore::test::unique_name;
namespace ucx = proxystore::detail::ucx;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

namespace {

PeerOptions short_options() {
  PeerOptions options;
  options.connect_timeout = milliseconds(1000);
  options.command_timeout = milliseconds(500);
  options.store.cache_size = 0;
  return options;
}

/// Lines a node logs, from its progress thread.
class LogLines {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(line);
    };
  }
  /// The lines containing `text`.
  std::vector<std::string> with(const std::string& text) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const std::string& line : lines_) {
      if (line.find(text) != std::string::npos)
        out.push_back(line);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

constexpr std::uint32_t ok = 0;

}  // namespace

TEST_CASE("Node: puts still being received count against the memory limit", "[peer]") {
  // Long enough for the refused put below to arrive (its first connection
  // included) before the announced one is given up, on a loaded machine.
  constexpr milliseconds receive_timeout{3000};
  constexpr std::size_t limit = std::size_t{64} << 20U;
  LogLines log;
  auto table = std::make_shared<ucx::ObjectTable>(limit, std::string(), "limit test");
  ucx::Node node(ucx::Node::Listen{"127.0.0.1", 0, receive_timeout}, table, log.sink());
  PeerOptions options = short_options();
  options.command_timeout = milliseconds(5000);
  auto good = std::make_shared<EndpointStore>(unique_name("peer-incoming-good"), "127.0.0.1",
                                              node.port(), options);
  REQUIRE_FALSE(good->exists(proxystore::Key{"not-there"}));  // connected
  const std::vector<char> object(std::size_t{30} << 20U, 'o');

  // A peer announces 40 MiB and never sends them: admitted, and counted.
  RawUcxPeer hostile;
  const int connection = hostile.connect(node.port());
  hostile.send(connection, RawUcxPeer::request_header(1, 1, {}));  // ping
  REQUIRE(hostile.wait_replies(1, std::chrono::seconds(10)));
  hostile.start_send(connection, RawUcxPeer::request_header(5, 2, "announced"),
                     std::size_t{40} << 20U, milliseconds(3600000));
  REQUIRE(eventually([&] { return table->incoming_bytes() >= (std::size_t{40} << 20U); },
                     milliseconds(5000)));

  // 30 MiB more would fit the limit alone, not beside the announced put.
  const std::string refused =
      message_of<proxystore::StoreOperationError>([&] { (void)good->set(object); });
  CHECK_THAT(refused, Catch::Contains("memory limit of " + std::to_string(limit) + " bytes"));
  CHECK_THAT(refused, Catch::Contains("puts being received"));
  CHECK_THAT(refused, Catch::Contains("put of"));
  CHECK(table->memory_bytes() == 0);

  // Given up at the receive timeout, the announced put no longer counts.
  REQUIRE(eventually([&] { return !log.with("gave up").empty(); },
                     receive_timeout + milliseconds(5000)));
  CHECK(table->incoming_bytes() == 0);
  const proxystore::Key key = good->set(object);
  CHECK(good->get<std::vector<char>>(key) == object);
  CHECK(table->incoming_bytes() == 0);
}

TEST_CASE("Node: a flood of requests does not delay the receive timeout", "[peer]") {
  constexpr milliseconds receive_timeout{1000};
  LogLines log;
  auto table = std::make_shared<ucx::ObjectTable>(0, std::string(), "flood test");
  ucx::Node node(ucx::Node::Listen{"127.0.0.1", 0, receive_timeout}, table, log.sink());

  RawUcxPeer stalling;
  const int stalled = stalling.connect(node.port());
  stalling.send(stalled, RawUcxPeer::request_header(1, 1, {}));  // ping
  REQUIRE(stalling.wait_replies(1, std::chrono::seconds(10)));
  RawUcxPeer flooding;
  const int flooded = flooding.connect(node.port());
  flooding.send(flooded, RawUcxPeer::request_header(1, 1, {}));
  REQUIRE(flooding.wait_replies(1, std::chrono::seconds(10)));

  // Pings for 8 s, each answered, while a put stalls: the node must still
  // give the put up at its timeout, not when the flood ends.
  const auto started = steady_clock::now();
  flooding.flood_requests(flooded, RawUcxPeer::request_header(1, 2, {}), milliseconds(8000));
  stalling.start_send(stalled, RawUcxPeer::request_header(5, 2, "stalled-under-flood"),
                      std::size_t{64} << 20U, milliseconds(3600000));
  REQUIRE(eventually([&] { return !log.with("gave up").empty(); }, milliseconds(10000)));
  const auto elapsed = steady_clock::now() - started;
  INFO("gave up after " << std::chrono::duration_cast<milliseconds>(elapsed).count()
                        << " ms; flood: " << flooding.flooded() << " requests");
  CHECK(flooding.flooded() > 1000);  // the flood was on
  CHECK(elapsed < receive_timeout + milliseconds(2500));
}

TEST_CASE("Node: a put whose value stalls or trickles is given up at the receive timeout",
          "[peer]") {
  // Progressed once an hour: the value never moves. Once per 200 ms: it
  // moves, slowly, and the transfer's own events must not extend the bound.
  const milliseconds interval = GENERATE(milliseconds(3600000), milliseconds(200));
  INFO("the stalling client progresses once every " << interval.count() << " ms");
  constexpr milliseconds receive_timeout{1000};
  // Large enough that even a peer whose few progress calls each move as
  // much as the sockets take cannot complete it within the timeout.
  constexpr std::size_t size = std::size_t{1} << 30U;
  LogLines log;
  auto table = std::make_shared<ucx::ObjectTable>(0, std::string(), "stall test");
  ucx::Node node(ucx::Node::Listen{"127.0.0.1", 0, receive_timeout}, table, log.sink());
  auto good = std::make_shared<EndpointStore>(unique_name("peer-stall-good"), "127.0.0.1",
                                              node.port(), short_options());
  const proxystore::Key kept = good->set(std::string("kept"));
  const std::size_t held = table->memory_bytes();
  // (The put's receive is freed just after its reply is sent.)
  REQUIRE(eventually([] { return ucx::testing::receive_bytes_held() == 0; }, milliseconds(5000)));

  RawUcxPeer hostile;
  const int connection = hostile.connect(node.port());
  // Connected and answered first: the stall below must not stop the
  // connection's own setup.
  hostile.send(connection, RawUcxPeer::request_header(1, 1, {}));  // ping
  REQUIRE(hostile.wait_replies(1, std::chrono::seconds(10)));
  const std::string key = "stalled-put-key";
  const auto started = steady_clock::now();
  hostile.start_send(connection, RawUcxPeer::request_header(5, 2, key), size, interval);
  // The node has started receiving it (and holds its buffer).
  CHECK(eventually([] { return ucx::testing::receive_bytes_held() == size; }, milliseconds(5000)));

  REQUIRE(eventually([&] { return !log.with("gave up").empty(); },
                     receive_timeout + milliseconds(5000)));
  const auto elapsed = steady_clock::now() - started;
  const std::vector<std::string> lines = log.with("gave up");
  REQUIRE(lines.size() == 1);
  INFO(lines.front());
  CHECK_THAT(lines.front(), Catch::Contains(key));
  CHECK_THAT(lines.front(), Catch::Contains("127.0.0.1:"));  // the client's address
  CHECK_THAT(lines.front(), Catch::Contains(std::to_string(size) + " bytes"));
  CHECK_THAT(lines.front(), Catch::Contains("receive timeout of 1000 ms"));
  CHECK(elapsed >= receive_timeout - milliseconds(50));
  CHECK(elapsed < receive_timeout + milliseconds(3000));
  // The buffer's memory is released (UCX 1.13 keeps the receive itself
  // until the node stops: its pages are returned), and nothing was stored.
  CHECK(eventually([] { return ucx::testing::receive_bytes_held() == 0; }, milliseconds(5000)));
  CHECK(table->memory_bytes() == held);
  CHECK_FALSE(table->exists(key));

  // Other clients are still served, old and new.
  CHECK(good->get<std::string>(kept) == std::string("kept"));
  auto other = std::make_shared<EndpointStore>(unique_name("peer-stall-other"), "127.0.0.1",
                                               node.port(), short_options());
  CHECK(other->get<std::string>(kept) == std::string("kept"));
  const proxystore::Key after = other->set(std::string("after"));
  CHECK(good->get<std::string>(after) == std::string("after"));
  CHECK(log.with("gave up").size() == 1);
}

TEST_CASE("Node::call: a reply whose data stalls is given up at the timeout, its buffer released",
          "[peer]") {
  constexpr std::size_t size = std::size_t{64} << 20U;
  const std::string head(ucx::reply_head_size, 'h');
  RawUcxPeer peer([&](const RawUcxPeer::Request& request) {
    RawUcxPeer::Answer answer{
        RawUcxPeer::reply_header(request.header.id, ok, head, ucx::reply_head_size), {}, size};
    answer.then_progress_every = milliseconds(3600000);  // announced, never sent
    return std::optional<RawUcxPeer::Answer>(std::move(answer));
  });
  auto node = std::make_shared<ucx::Node>(std::nullopt, nullptr);
  ucx::Target target;
  target.host = "127.0.0.1";
  target.port = peer.port();
  target.connect_timeout = milliseconds(2000);
  target.command_timeout = milliseconds(500);
  target.subject = "stalled reply test";
  REQUIRE(ucx::testing::receive_bytes_held() == 0);
  const auto started = steady_clock::now();
  const std::string message = message_of<TimeoutError>([&] {
    (void)node->call(target, ucx::Op::get, "stalled-reply-key", {}, std::size_t{1} << 30U,
                     "stalled-reply-key");
  });
  const auto elapsed = steady_clock::now() - started;
  INFO(message);
  CHECK_THAT(message, Catch::Contains("stalled-reply-key"));
  CHECK_THAT(message, Catch::Contains(peer.address()));
  CHECK(elapsed < target.connect_timeout + target.command_timeout + milliseconds(2000));
  // The buffer's memory is released (its pages returned; the mapping stays
  // until UCX lets go of the receive, as UCX could still write into it).
  CHECK(eventually([] { return ucx::testing::receive_bytes_held() == 0; }, milliseconds(5000)));
}

TEST_CASE("EndpointStore: a call ends at its deadline while a peer floods its worker", "[peer]") {
  // An exists is answered by a flood of copies of its reply, for much
  // longer than the next call may wait: the first copy answers it, the rest
  // answer nothing. Then a get whose reply never comes: its caller drives
  // the worker itself while the flood keeps it busy, and must stop at its
  // deadline, not when the events stop.
  constexpr milliseconds flood_for{10000};
  RawUcxPeer peer([&](const RawUcxPeer::Request& request) {
    if (request.header.op != static_cast<std::uint16_t>(ucx::Op::exists))
      return std::optional<RawUcxPeer::Answer>();
    RawUcxPeer::Answer answer{RawUcxPeer::reply_header(request.header.id, ok, {}, 0), std::string(),
                              0};
    answer.flood_for = flood_for;
    return std::optional<RawUcxPeer::Answer>(std::move(answer));
  });
  const PeerOptions options = short_options();
  auto client = std::make_shared<EndpointStore>(unique_name("peer-flooded"), "127.0.0.1",
                                                peer.port(), options);
  const proxystore::Key key{"flooded-key"};
  REQUIRE(client->exists(key));  // the flood starts
  const std::size_t before = peer.flooded();
  const auto started = steady_clock::now();
  const std::string message =
      message_of<TimeoutError>([&] { (void)client->get<std::string>(key); });
  const auto elapsed = steady_clock::now() - started;
  const std::size_t flooded = peer.flooded() - before;
  INFO(message);
  INFO(flooded << " messages flooded during the call");
  CHECK_THAT(message, Catch::Contains("no reply within the command timeout"));
  CHECK_THAT(message, Catch::Contains(key.id));
  CHECK(elapsed < options.connect_timeout + options.command_timeout + milliseconds(2000));
  CHECK(flooded > 1000);
  // The flood was still going when the call gave up.
  const std::size_t after = peer.flooded();
  CHECK(eventually([&] { return peer.flooded() > after; }, milliseconds(2000)));
}

#ifdef PROXYSTORE_TEST_ENDPOINT
TEST_CASE("proxystore-endpoint: --receive-timeout gives up a stalled put with one log line",
          "[peer]") {
  for (const char* bad : {"0", "abc", "12K", "86400001"}) {
    INFO(bad);
    const proxystore::test::ProcessResult result = proxystore::test::run_process(
        PROXYSTORE_TEST_ENDPOINT, {"--receive-timeout", bad}, "", {}, milliseconds(20000));
    CHECK(result.exit_code == 1);
    CHECK_THAT(result.err, Catch::Contains("--receive-timeout"));
  }

  const proxystore::test::TempDir dir("peer-stall-endpoint");
  const std::string log = (dir / "stderr").string();
  proxystore::test::BackgroundChild endpoint(
      "/bin/sh", {"-c", "exec \"$0\" --listen 127.0.0.1:0 --receive-timeout 1000 2>\"$1\"",
                  PROXYSTORE_TEST_ENDPOINT, log});
  const std::string listening = endpoint.read_line();
  REQUIRE(listening.rfind("listening on ", 0) == 0);
  const int port = std::stoi(listening.substr(listening.rfind(':') + 1));
  auto good = std::make_shared<EndpointStore>(unique_name("peer-stall-endpoint-good"), "127.0.0.1",
                                              port, short_options());
  const proxystore::Key kept = good->set(std::string("kept"));

  const std::string key = "stalled-endpoint-key";
  auto gave_up = [&] {
    std::size_t count = 0;
    const std::string text = dir.read_file("stderr");
    for (std::size_t at = text.find("proxystore-endpoint: gave up"); at != std::string::npos;
         at = text.find("proxystore-endpoint: gave up", at + 1))
      ++count;
    return count;
  };
  {
    RawUcxPeer hostile;
    const int connection = hostile.connect(port);
    hostile.send(connection, RawUcxPeer::request_header(1, 1, {}));  // ping
    REQUIRE(hostile.wait_replies(1, std::chrono::seconds(10)));
    hostile.start_send(connection, RawUcxPeer::request_header(5, 2, key), std::size_t{64} << 20U,
                       milliseconds(3600000));
    CHECK(eventually([&] { return gave_up() == 1; }, milliseconds(6000)));
    CHECK(good->get<std::string>(kept) == std::string("kept"));
  }
  CHECK(good->get<std::string>(kept) == std::string("kept"));
  endpoint.kill(SIGTERM);
  CHECK(endpoint.wait(std::chrono::seconds(10)) == 0);
  const std::string text = dir.read_file("stderr");
  INFO(text);
  CHECK(gave_up() == 1);
  CHECK_THAT(text, Catch::Contains(key));
  CHECK_THAT(text, Catch::Contains("receive timeout of 1000 ms"));
}
#endif  // PROXYSTORE_TEST_ENDPOINT

#endif  // PROXYSTORE_HAS_UCX
