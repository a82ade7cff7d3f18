// SPDX-License-Identifier: Apache-2.0
// Streams over RedisStreamBroker against a real redis-server, with
// consumers in real child processes (helpers/stream_member.cpp).
#include <proxystore/proxystore.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/store_fixtures.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ChildOptions;
using proxystore::test::ChildResult;
using proxystore::test::message_of;
using proxystore::test::RedisServer;
using proxystore::test::run_child;
using proxystore::test::ScopedStoreName;

namespace stream_redis_test {

using namespace std::chrono_literals;

RedisOptions quick_redis() {
  RedisOptions options;
  options.connect_timeout = 2000ms;
  options.command_timeout = 5000ms;
  return options;
}

std::shared_ptr<RedisStreamBroker> make_broker(const RedisServer& server,
                                               RedisStreamOptions stream = {}) {
  return std::make_shared<RedisStreamBroker>(server.host(), server.port(), quick_redis(), stream);
}

std::shared_ptr<RedisStore> make_store(const RedisServer& server, const std::string& name) {
  return std::make_shared<RedisStore>(name, server.host(), server.port(), quick_redis());
}

ConsumerOptions member_of(std::string group, std::string name) {
  ConsumerOptions options;
  options.group = std::move(group);
  options.name = std::move(name);
  return options;
}

/// "item-<i>", padded after a '|' to `size` bytes (the member prints only
/// what precedes the '|').
std::string item(int i, std::size_t size = 0) {
  std::string value = fmt::format("item-{:05}", i);
  if (size > value.size()) {
    value += '|';
    value.resize(size, 'x');
  }
  return value;
}

/// Runs stream_member; returns its result.
ChildResult member(const RedisServer& server, const std::string& topic, const std::string& group,
                   std::chrono::milliseconds claim_after, long die_after = 0,
                   std::chrono::milliseconds timeout = 20000ms) {
  ChildOptions options;
  options.timeout = 60000ms;
  return run_child(PROXYSTORE_HELPER_STREAM_MEMBER,
                   {std::to_string(server.port()), topic, group.empty() ? "-" : group,
                    std::to_string(claim_after.count()), std::to_string(timeout.count()),
                    std::to_string(die_after)},
                   "", options);
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

/// Keys of the store (everything but stream keys).
std::vector<std::string> object_keys(const RedisServer& server) {
  std::vector<std::string> keys = server.keys("proxystore:*");
  keys.erase(std::remove_if(
                 keys.begin(), keys.end(),
                 [](const std::string& key) { return key.rfind("proxystore:stream:", 0) == 0; }),
             keys.end());
  return keys;
}

long long integer_reply(const RedisServer& server, const std::vector<std::string>& command) {
  const proxystore::test::RespReply reply = server.command(command);
  REQUIRE(reply.type == proxystore::test::RespReply::Type::integer);
  return reply.integer;
}

}  // namespace stream_redis_test

using namespace stream_redis_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Redis stream fan-out: 2 consumer processes each see all 10,000 items in order",
          "[stream][redis]") {
  RedisServer server;
  auto broker = make_broker(server);
  constexpr int count = 10000;
  ChildResult results[2];
  std::vector<std::thread> consumers;
  for (ChildResult& result : results) {
    consumers.emplace_back([&server, &result] { result = member(server, "fan", "", 30000ms); });
  }
  {
    TopicOptions options;
    options.batch_size = 100;
    StreamProducer<std::string> producer(broker, options);
    for (int i = 0; i < count; ++i)
      producer.send("fan", item(i));
    producer.close_topic("fan");
  }
  for (std::thread& consumer : consumers)
    consumer.join();
  for (const ChildResult& result : results) {
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    const std::vector<std::string> got = lines(result.out);
    REQUIRE(got.size() == count + 1);
    for (int i = 0; i < count; ++i)
      REQUIRE(got[static_cast<std::size_t>(i)] == item(i));
    CHECK(got.back() == "END");
  }
}

TEST_CASE(
    "Redis stream group: 3 consumer processes get every item exactly once; acked items "
    "are evicted",
    "[stream][redis]") {
  RedisServer server;
  ScopedStoreName name("stream-group-store");
  auto broker = make_broker(server);
  constexpr int count = 600;
  {
    TopicOptions options;
    options.store = make_store(server, name.get());
    options.inline_threshold = 100;
    options.batch_size = 20;
    StreamProducer<std::string> producer(broker, options);
    // The group exists before the first item (made by a member that reads
    // nothing yet); members started later still read from the start.
    StreamConsumer<std::string> early(broker, "work", member_of("workers", "early"));
    for (int i = 0; i < count; ++i)
      producer.send("work", item(i, i % 2 == 0 ? 50 : 500));
    producer.close_topic("work");
  }
  ChildResult results[3];
  std::vector<std::thread> members;
  for (ChildResult& result : results)
    members.emplace_back(
        [&server, &result] { result = member(server, "work", "workers", 30000ms); });
  for (std::thread& thread : members)
    thread.join();
  std::multiset<std::string> seen;
  for (const ChildResult& result : results) {
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    std::vector<std::string> got = lines(result.out);
    REQUIRE_FALSE(got.empty());
    CHECK(got.back() == "END");  // end-of-stream reached every member
    got.pop_back();
    seen.insert(got.begin(), got.end());
  }
  CHECK(seen.size() == count);
  for (int i = 0; i < count; ++i)
    CHECK(seen.count(item(i)) == 1);
  CHECK(object_keys(server).empty());  // every stored item was evicted on ack
  CHECK(integer_reply(server, {"XLEN", broker->stream_key("work")}) == count + 1);
}

TEST_CASE("Redis stream: a SIGKILLed member's unacknowledged items reach another member",
          "[stream][redis]") {
  RedisServer server;
  ScopedStoreName name("stream-crash-store");
  auto broker = make_broker(server);
  constexpr int count = 200;
  {
    TopicOptions options;
    options.store = make_store(server, name.get());
    options.batch_size = 10;
    StreamProducer<std::string> producer(broker, options);
    StreamConsumer<std::string> create_group(broker, "jobs", member_of("g", "creator"));
    for (int i = 0; i < count; ++i)
      producer.send("jobs", item(i, 300));
    producer.close_topic("jobs");
  }
  // Takes a prefetch of items, prints 5 and dies: none acknowledged.
  const ChildResult dead = member(server, "jobs", "g", 200ms, 5);
  INFO(dead.describe());
  REQUIRE(dead.signal == SIGKILL);
  const std::vector<std::string> died_with = lines(dead.out);
  REQUIRE(died_with.size() == 5);
  const proxystore::test::RespReply held =
      server.command({"XPENDING", broker->stream_key("jobs"), "g"});
  REQUIRE(held.type == proxystore::test::RespReply::Type::array);
  REQUIRE(held.elements.at(0).integer >= 5);  // the dead member's prefetch, unacknowledged

  ChildResult results[2];
  std::vector<std::thread> members;
  for (ChildResult& result : results)
    members.emplace_back([&server, &result] { result = member(server, "jobs", "g", 200ms); });
  for (std::thread& thread : members)
    thread.join();
  std::set<std::string> seen;
  for (const ChildResult& result : results) {
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);  // every item resolved: eviction waits for the ack
    std::vector<std::string> got = lines(result.out);
    CHECK(got.back() == "END");
    got.pop_back();
    seen.insert(got.begin(), got.end());
  }
  CHECK(seen.size() == count);
  for (const std::string& lost : died_with)
    CHECK(seen.count(lost) == 1);
  // Nothing is left: no pending delivery, no stored object; the stream
  // keeps its entries (retention is trimming's job).
  const proxystore::test::RespReply pending =
      server.command({"XPENDING", broker->stream_key("jobs"), "g"});
  REQUIRE(pending.type == proxystore::test::RespReply::Type::array);
  CHECK(pending.elements.at(0).integer == 0);
  CHECK(object_keys(server).empty());
}

TEST_CASE("Redis stream: late consumers read the whole stream; send after close throws",
          "[stream][redis]") {
  RedisServer server;
  auto broker = make_broker(server);
  StreamProducer<std::string> producer(broker);
  for (int i = 0; i < 50; ++i)
    producer.send("done", item(i));
  producer.close_topic("done");
  CHECK_THROWS_AS(producer.send("done", item(99)), TopicClosedError);
  for (const std::string& group : {std::string(), std::string("late-group")}) {
    const ChildResult result = member(server, "done", group, 30000ms);
    INFO(result.describe());
    REQUIRE(result.exit_code == 0);
    const std::vector<std::string> got = lines(result.out);
    REQUIRE(got.size() == 51);
    CHECK(got.front() == item(0));
    CHECK(got.back() == "END");
  }
}

TEST_CASE("Redis stream: inline vs stored by threshold, one MSET and one XADD batch per flush",
          "[stream][redis]") {
  RedisServer server;
  ScopedStoreName name("stream-threshold-store");
  auto broker = make_broker(server);
  TopicOptions options;
  options.store = make_store(server, name.get());
  options.inline_threshold = 256;
  options.batch_size = 10;
  StreamProducer<std::string> producer(broker, options);
  server.reset_stats();
  for (int i = 0; i < 10; ++i)
    producer.send("sizes", item(i, i < 4 ? 100 : 1000));  // 4 inline, 6 stored
  CHECK(server.command_calls("mset") == 1);
  CHECK(server.command_calls("xadd") == 10);  // pipelined: one round trip
  CHECK(server.command_calls("set") == 0);
  CHECK(object_keys(server).size() == 6);
  const proxystore::test::RespReply entries =
      server.command({"XRANGE", broker->stream_key("sizes"), "-", "+"});
  REQUIRE(entries.elements.size() == 10);
  for (std::size_t i = 0; i < entries.elements.size(); ++i) {
    const std::string& event = entries.elements[i].elements.at(1).elements.at(1).text;
    INFO("entry " << i << " of " << event.size() << " bytes");
    if (i < 4)
      CHECK(event.find(item(static_cast<int>(i), 100)) != std::string::npos);  // inline
    else
      CHECK(event.size() < 512);  // a proxy, not the 1000-byte item
  }
}

TEST_CASE("Redis stream trimming keeps the stream near max_length", "[stream][redis]") {
  RedisServer server;
  RedisStreamOptions trimmed;
  trimmed.max_length = 100;
  auto broker = make_broker(server, trimmed);
  TopicOptions options;
  options.batch_size = 50;
  StreamProducer<std::string> producer(broker, options);
  for (int i = 0; i < 1000; ++i)
    producer.send("bounded", item(i));
  producer.flush();
  const long long length = integer_reply(server, {"XLEN", broker->stream_key("bounded")});
  CHECK(length >= 100);
  CHECK(length <= 200);  // MAXLEN ~ trims whole nodes (100 entries each by default)
}

TEST_CASE("Redis stream: Redis killed and restarted mid-stream, then the stream continues",
          "[stream][redis]") {
  // appendfsync always: every acknowledged write (XADD, XACK, the group)
  // is on disk before Redis answers, so a SIGKILL loses nothing that was
  // acknowledged; restart() brings the same server back on the same port
  // with its data.
  RedisServer::Options server_options;
  server_options.extra_args = {"--appendonly", "yes", "--appendfsync", "always"};
  RedisServer server(server_options);
  auto broker = make_broker(server);
  TopicOptions topic;
  topic.batch_size = 5;
  StreamProducer<std::string> producer(broker, topic);
  ConsumerOptions options;
  options.group = "survivors";
  options.claim_after = 200ms;
  options.timeout = 10000ms;
  StreamConsumer<std::string> consumer(broker, "durable", options);
  for (int i = 0; i < 100; ++i)
    producer.send("durable", item(i));
  std::multiset<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    std::optional<StreamItem<std::string>> got = consumer.next();
    REQUIRE(got);
    seen.insert(*got->proxy);
  }
  server.kill(SIGKILL);
  const std::string message = message_of<ConnectionError>([&] {
    for (int i = 0; i < 5; ++i)
      producer.send("durable", item(100 + i));  // a full batch: the flush fails
  });
  CHECK_THAT(message, Catch::Contains(server.address()));
  const std::string consumer_message = message_of<ConnectionError>([&] {
    for (int i = 0; i < 100; ++i) {  // drains its prefetch, then fails
      std::optional<StreamItem<std::string>> got = consumer.next();
      REQUIRE(got);
      seen.insert(*got->proxy);
    }
  });
  CHECK_THAT(consumer_message, Catch::Contains(server.address()));
  server.restart();
  // Redis answers LOADING (an error reply) until it has replayed the AOF.
  for (int tries = 0; server.command({"PING"}).type != proxystore::test::RespReply::Type::status;
       ++tries) {
    REQUIRE(tries < 500);
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 105; i < 150; ++i)
    producer.send("durable", item(i));  // the failed batch goes out first
  producer.close_topic("durable");
  for (;;) {
    std::optional<StreamItem<std::string>> got = consumer.next();
    if (!got)
      break;
    seen.insert(*got->proxy);
  }
  for (int i = 0; i < 150; ++i)
    CHECK(seen.count(item(i)) >= 1);
  CHECK(integer_reply(server, {"XLEN", broker->stream_key("durable")}) == 151);
}

TEST_CASE("Redis stream broker rejects bad options and names the server when it is down",
          "[stream][redis]") {
  CHECK_THROWS_AS(RedisStreamBroker("", 6379), Error);
  CHECK_THROWS_AS(RedisStreamBroker("127.0.0.1", 0), Error);
  const int port = proxystore::test::free_loopback_port();
  auto broker = std::make_shared<RedisStreamBroker>("127.0.0.1", port, quick_redis());
  StreamProducer<int> producer(broker);
  const std::string message = message_of<ConnectionError>([&] { producer.send("t", 1); });
  CHECK_THAT(message, Catch::Contains(fmt::format("127.0.0.1:{}", port)));
}
