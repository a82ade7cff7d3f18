// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker, a group member whose read fails after the server ran
// it: the server recorded the messages it delivered as pending for the
// member, and the reply never arrived. The member reads exactly those back
// itself on its next read — not after claim_after, and not the messages it
// already holds. The member talks to a real redis-server through a relay
// (FakeRedisServer) that forwards every command and can break one reply.
#include <proxystore/proxystore.hpp>

#include "support/fake_redis_server.hpp"
#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using proxystore::BrokerCursor;
using proxystore::BrokerMessage;
using proxystore::RedisOptions;
using proxystore::RedisStreamBroker;
using proxystore::RedisStreamOptions;
using proxystore::test::FakeRedisServer;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;
using namespace std::chrono_literals;

namespace {

/// `reply` in the RESP2 wire format.
std::string encode(const RespReply& reply) {
  switch (reply.type) {
    case RespReply::Type::status:
      return "+" + reply.text + "\r\n";
    case RespReply::Type::error:
      return FakeRedisServer::error(reply.text);
    case RespReply::Type::integer:
      return FakeRedisServer::integer(reply.integer);
    case RespReply::Type::bulk:
      return FakeRedisServer::bulk(reply.text);
    case RespReply::Type::nil:
      return FakeRedisServer::nil();
    case RespReply::Type::array: {
      std::string out = "*" + std::to_string(reply.elements.size()) + "\r\n";
      for (const RespReply& element : reply.elements)
        out += encode(element);
      return out;
    }
  }
  return FakeRedisServer::nil();
}

std::vector<std::string> data_of(const std::vector<BrokerMessage>& messages) {
  std::vector<std::string> out;
  for (const BrokerMessage& message : messages)
    out.push_back(message.data);
  return out;
}

std::vector<std::string> ids_of(const std::vector<BrokerMessage>& messages) {
  std::vector<std::string> out;
  for (const BrokerMessage& message : messages)
    out.push_back(message.id);
  return out;
}

}  // namespace

TEST_CASE("Redis stream group member: what a failed read delivered is read back on the next read",
          "[stream][redis]") {
  // Which reply breaks: the read's own, or the XACK pipelined before it
  // (refused; the read behind it still runs on the server).
  const std::string broken = GENERATE(std::string("XREADGROUP"), std::string("XACK"));
  INFO("the relay breaks the reply to " << broken);
  // Whether m4 is deleted (as a trim does) while pending, before it is
  // read back: it must not reach the member, and must not stay pending.
  const bool m4_deleted = GENERATE(false, true);
  INFO("m4 deleted while pending: " << m4_deleted);
  RedisServer server;
  std::atomic<bool> break_next{false};
  FakeRedisServer relay(FakeRedisServer::with_handshake(
      [&](const FakeRedisServer::Command& command) -> std::optional<std::string> {
        const RespReply reply = server.command(command);  // the server runs it
        if (!command.empty() && command[0] == broken && break_next.exchange(false)) {
          // A read's reply lost: the client drops the connection. An XACK
          // refused: the client still reads the read's reply, then fails.
          return broken == "XACK" ? FakeRedisServer::error("ERR injected")
                                  : std::string("?not a reply\r\n");
        }
        return encode(reply);
      }));
  RedisOptions options;
  options.connect_timeout = 2000ms;
  options.command_timeout = 5000ms;
  RedisStreamOptions stream_options;
  stream_options.max_block = 100ms;
  auto direct = std::make_shared<RedisStreamBroker>(server.host(), server.port(), options);
  auto member =
      std::make_shared<RedisStreamBroker>(relay.host(), relay.port(), options, stream_options);

  BrokerCursor cursor;
  cursor.topic = "recovery";
  cursor.group = "g";
  cursor.consumer = "member-1";
  member->subscribe(cursor);
  direct->publish(cursor.topic, {"m1", "m2", "m3", "m4", "m5"});

  // Three held (delivered, not acknowledged), two left.
  const std::vector<BrokerMessage> held = member->receive(cursor, 3, 100ms).messages;
  REQUIRE(data_of(held) == std::vector<std::string>{"m1", "m2", "m3"});

  // The next read runs on the server (m4 and m5 become pending for this
  // member) and its reply is lost.
  break_next = true;
  CHECK_THROWS_AS(member->ack_and_receive(cursor, {held.front().id}, 3, 100ms), proxystore::Error);
  CHECK_FALSE(break_next.load());  // the relay did break a reply
  const RespReply pending =
      server.command({"XPENDING", direct->stream_key(cursor.topic), "g", "-", "+", "10"});
  REQUIRE(pending.type == RespReply::Type::array);
  // The server ran the XACK (m1 done) and the read (m4 and m5 pending):
  // m2, m3, m4 and m5.
  REQUIRE(pending.elements.size() == 4U);
  if (m4_deleted) {
    REQUIRE(pending.elements[2].type == RespReply::Type::array);
    REQUIRE_FALSE(pending.elements[2].elements.empty());
    const std::string m4 = pending.elements[2].elements[0].text;
    CHECK(server.command({"XDEL", direct->stream_key(cursor.topic), m4}).integer == 1);
  }

  // The next read returns m4 and m5 at once (claim_after is not involved),
  // and not m2 or m3, which the member already holds.
  const std::vector<BrokerMessage> recovered = member->receive(cursor, 3, 100ms).messages;
  CHECK(data_of(recovered) ==
        (m4_deleted ? std::vector<std::string>{"m5"} : std::vector<std::string>{"m4", "m5"}));

  // Nothing more, and nothing twice.
  CHECK(member->receive(cursor, 3, 100ms).messages.empty());
  std::vector<std::string> all = ids_of(held);
  for (const std::string& id : ids_of(recovered))
    all.push_back(id);
  member->ack(cursor, all);
  const RespReply after =
      server.command({"XPENDING", direct->stream_key(cursor.topic), "g", "-", "+", "10"});
  REQUIRE(after.type == RespReply::Type::array);
  CHECK(after.elements.empty());
}
