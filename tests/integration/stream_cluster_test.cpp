// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker on a real local Redis Cluster (3 primaries started by
// the harness): each topic's stream on the primary of its slot, fan-out
// and group consumption there, and a topic whose slot migrates mid-stream
// (ASK, then MOVED).
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/redis_cluster.hpp"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::message_of;
using proxystore::test::RedisCluster;
using proxystore::test::RespReply;

namespace stream_cluster_test {

using namespace std::chrono_literals;

RedisCluster::Options three_primaries() {
  RedisCluster::Options options;
  options.replicas_per_primary = 0;  // routing needs no failover here
  return options;
}

RedisOptions quick_redis() {
  RedisOptions options;
  options.connect_timeout = 2000ms;
  options.command_timeout = 10000ms;
  return options;
}

ConsumerOptions member_of(const std::string& group) {
  ConsumerOptions options;
  options.group = group;
  options.timeout = 10s;
  return options;
}

/// The slot of `key`, as the cluster computes it.
int slot_of(RedisCluster& cluster, const std::string& key) {
  const RespReply slot = cluster.server(0).command({"CLUSTER", "KEYSLOT", key});
  REQUIRE(slot.type == RespReply::Type::integer);
  return static_cast<int>(slot.integer);
}

/// One topic per primary: topic name -> the index of the primary whose
/// slot its stream key hashes to.
std::map<std::string, std::size_t> topic_per_primary(RedisCluster& cluster,
                                                     const RedisStreamBroker& broker) {
  std::map<std::string, std::size_t> topics;
  std::set<std::size_t> covered;
  for (int i = 0; covered.size() < cluster.live_primaries().size(); ++i) {
    REQUIRE(i < 1000);
    const std::string topic = fmt::format("topic-{}", i);
    const std::size_t owner = cluster.owner_of(slot_of(cluster, broker.stream_key(topic)));
    if (covered.insert(owner).second)
      topics[topic] = owner;
  }
  return topics;
}

}  // namespace stream_cluster_test

using namespace stream_cluster_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Redis stream on a cluster: each topic on its slot's primary, fan-out and groups",
          "[stream][redis][redis-cluster]") {
  RedisCluster cluster(three_primaries());
  auto broker = std::make_shared<RedisStreamBroker>(cluster.seeds(), quick_redis());
  const std::map<std::string, std::size_t> topics = topic_per_primary(cluster, *broker);
  REQUIRE(topics.size() == 3);

  constexpr int items = 200;
  std::map<std::string, std::unique_ptr<StreamConsumer<int>>> fanout;
  for (const auto& [topic, owner] : topics)
    fanout[topic] = std::make_unique<StreamConsumer<int>>(broker, topic, member_of(""));
  // A group created before anything was sent; its two members run on
  // threads (each waits for end-of-stream until the other acknowledged).
  std::map<std::string, std::unique_ptr<StreamConsumer<int>>> members;
  for (const auto& [topic, owner] : topics) {
    members[topic + "/a"] = std::make_unique<StreamConsumer<int>>(broker, topic, member_of("g"));
    members[topic + "/b"] = std::make_unique<StreamConsumer<int>>(broker, topic, member_of("g"));
  }

  TopicOptions batched;
  batched.batch_size = 16;
  StreamProducer<int> producer(broker, batched);
  for (int i = 0; i < items; ++i) {
    for (const auto& [topic, owner] : topics)
      producer.send(topic, i);
  }
  for (const auto& [topic, owner] : topics)
    producer.close_topic(topic);

  for (const auto& [topic, owner] : topics) {
    INFO("topic " << topic << " on node " << owner);
    const std::string key = broker->stream_key(topic);
    for (std::size_t node = 0; node < cluster.size(); ++node)
      CHECK(cluster.server(node).command({"EXISTS", key}).integer == (node == owner ? 1 : 0));
    CHECK(cluster.server(owner).command({"XLEN", key}).integer == items + 1);  // + end

    int expected = 0;
    for (StreamItem<int>& item : *fanout[topic])
      CHECK(*item.proxy == expected++);
    CHECK(expected == items);
  }

  // Each member on a thread of its own (std::async: get() rethrows what
  // a member threw).
  std::map<std::string, std::future<std::vector<int>>> running;
  for (auto& [name, consumer] : members) {
    StreamConsumer<int>* member = consumer.get();
    running[name] = std::async(std::launch::async, [member] {
      std::vector<int> got;
      while (std::optional<int> value = member->next_object())
        got.push_back(*value);
      return got;
    });
  }
  std::map<std::string, std::vector<int>> received;
  for (auto& [name, future] : running)
    received[name] = future.get();
  for (const auto& [topic, owner] : topics) {
    INFO("topic " << topic);
    std::multiset<int> all(received[topic + "/a"].begin(), received[topic + "/a"].end());
    all.insert(received[topic + "/b"].begin(), received[topic + "/b"].end());
    CHECK(all.size() == static_cast<std::size_t>(items));  // each exactly once in total
    CHECK(std::set<int>(all.begin(), all.end()).size() == static_cast<std::size_t>(items));
    CHECK(cluster.server(owner)
              .command({"XPENDING", broker->stream_key(topic), "g"})
              .elements.at(0)
              .integer == 0);
    broker->remove_topic(topic);
    CHECK(cluster.server(owner).command({"EXISTS", broker->stream_key(topic)}).integer == 0);
  }
}

TEST_CASE("Redis stream on a cluster: a topic whose slot migrates mid-stream (ASK, then MOVED)",
          "[stream][redis][redis-cluster]") {
  RedisCluster cluster(three_primaries());
  auto broker = std::make_shared<RedisStreamBroker>(cluster.seeds(), quick_redis());
  const std::string topic = "moving";
  const std::string key = broker->stream_key(topic);
  const int slot = slot_of(cluster, key);
  const std::size_t source = cluster.owner_of(slot);
  std::size_t target = source;
  for (const std::size_t p : cluster.live_primaries()) {
    if (p != source)
      target = p;
  }
  REQUIRE(target != source);

  StreamConsumer<int> member(broker, topic, member_of("g"));
  StreamConsumer<int> reader(broker, topic, member_of(""));
  StreamProducer<int> producer(broker);
  std::vector<int> got;
  std::vector<int> read;
  auto consume = [&](int count) {
    for (int i = 0; i < count; ++i) {
      std::optional<int> value = member.next_object();
      REQUIRE(value);
      got.push_back(*value);
      std::optional<int> copy = reader.next_object();
      REQUIRE(copy);
      read.push_back(*copy);
    }
  };
  for (int i = 0; i < 10; ++i)
    producer.send(topic, i);
  consume(5);

  cluster.begin_migration(slot, source, target);
  for (int i = 10; i < 20; ++i)
    producer.send(topic, i);  // the stream is still on the source
  consume(5);
  cluster.migrate_keys(slot, source, target);
  CHECK(cluster.server(source).command({"EXISTS", key}).integer == 0);
  cluster.server(target).reset_stats();
  for (int i = 20; i < 30; ++i)
    producer.send(topic, i);  // ASK to the target
  CHECK(cluster.server(target).command_calls("asking") >= 1);
  consume(10);
  cluster.finish_migration(slot, target);
  for (int i = 30; i < 40; ++i)
    producer.send(topic, i);  // MOVED, then straight to the target
  producer.close_topic(topic);
  consume(20);
  CHECK_FALSE(member.next());
  CHECK_FALSE(reader.next());

  std::vector<int> expected(40);
  for (int i = 0; i < 40; ++i)
    expected[static_cast<std::size_t>(i)] = i;
  CHECK(got == expected);
  CHECK(read == expected);
  CHECK(cluster.server(target).command({"XLEN", key}).integer == 41);
  CHECK(cluster.server(target).command({"XPENDING", key, "g"}).elements.at(0).integer == 0);
}

TEST_CASE("Redis stream broker on a cluster rejects bad options", "[stream][redis-cluster]") {
  CHECK_THROWS_AS(RedisStreamBroker(std::vector<std::string>{}), Error);
  const std::string message =
      message_of<Error>([] { RedisStreamBroker broker(std::vector<std::string>{"127.0.0.1:0"}); });
  CHECK_THAT(message, Catch::Contains("is not host:port"));
  RedisOptions tagged;
  tagged.key_prefix = "{x}";
  CHECK_THROWS_AS(RedisStreamBroker(std::vector<std::string>{"127.0.0.1:7000"}, tagged), Error);
  RedisOptions db;
  db.db = 1;
  CHECK_THROWS_AS(RedisStreamBroker(std::vector<std::string>{"127.0.0.1:7000"}, db), Error);
}
