// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker on a real local Redis Cluster with replicas: the
// primary holding a topic's stream is SIGKILLed mid-stream and its replica
// promoted. The producer and a group member either continue transparently
// (the cluster layer retries unreachable nodes and redirections within the
// command timeout) or get a clear ConnectionError and continue on the next
// call; nothing acknowledged is lost, every item arrives (at least once),
// nothing hangs (every wait is bounded by the options below).
#include <proxystore/proxystore.hpp>

#include "support/redis_cluster.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::RedisCluster;
using proxystore::test::RespReply;

namespace stream_cluster_failover_test {

using namespace std::chrono_literals;

constexpr int attempts = 20;  // ConnectionErrors tolerated per call while the replica takes over

/// `call()`, repeated while it throws ConnectionError (at most `attempts`
/// times); counts the errors in `errors`.
template <class Call>
auto retrying(Call&& call, int& errors) -> decltype(call()) {
  for (int attempt = 1;; ++attempt) {
    try {
      return call();
    } catch (const ConnectionError& e) {
      ++errors;
      INFO("attempt " << attempt << ": " << e.what());
      CHECK_FALSE(std::string(e.what()).empty());
      if (attempt == attempts)
        throw;
      std::this_thread::sleep_for(200ms);
    }
  }
}

}  // namespace stream_cluster_failover_test

using namespace stream_cluster_failover_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Redis stream on a cluster: the topic's primary killed mid-stream, its replica promoted",
          "[stream][redis][redis-cluster]") {
  RedisCluster cluster;  // 3 primaries, 1 replica each
  RedisOptions redis;
  redis.connect_timeout = 1000ms;
  redis.command_timeout = 8000ms;
  auto broker = std::make_shared<RedisStreamBroker>(cluster.seeds(), redis);
  const std::string topic = "failover";
  const std::string key = broker->stream_key(topic);
  const RespReply slot_reply = cluster.server(0).command({"CLUSTER", "KEYSLOT", key});
  REQUIRE(slot_reply.type == RespReply::Type::integer);
  const std::size_t primary = cluster.owner_of(static_cast<int>(slot_reply.integer));

  ConsumerOptions member_options;
  member_options.group = "g";
  member_options.timeout = 20s;
  // A read cut by the failover can leave entries pending for this member
  // that never reached it (an XREADGROUP is not idempotent, and the cluster
  // layer resends one whose reply was lost); the member reads them back
  // itself on its next read. Claims would start only a minute after the
  // kill, past `timeout`: every item must come without them. The duplicate
  // bound below catches anything delivered twice beyond one read.
  member_options.claim_after = 60s;
  member_options.prefetch = 8;
  StreamConsumer<int> member(broker, topic, member_options);
  TopicOptions batched;
  batched.batch_size = 10;
  StreamProducer<int> producer(broker, batched);

  constexpr int items = 100;
  int errors = 0;
  std::multiset<int> received;
  auto receive = [&](int count) {
    for (int i = 0; i < count; ++i) {
      std::optional<int> value = retrying([&] { return member.next_object(); }, errors);
      REQUIRE(value);
      received.insert(*value);
    }
  };
  // A send whose flush failed keeps its events for the next flush.
  auto send = [&](int value) {
    try {
      producer.send(topic, value);
    } catch (const ConnectionError&) {
      ++errors;
      retrying([&] { producer.flush(topic); }, errors);
    }
  };

  for (int i = 0; i < items / 2; ++i)
    producer.send(topic, i);
  // The first quarter acknowledged one by one (XACK at once), then
  // replicated before the primary dies: a replica promoted with less would
  // be Redis's asynchronous replication, not the broker.
  for (int i = 0; i < items / 4; ++i) {
    std::optional<StreamItem<int>> item = member.next();
    REQUIRE(item);
    received.insert(*item->proxy);
    item->ack();
  }
  // WAIT counts the writes of its own connection: one write there (in the
  // stream's slot), then WAIT, covers every earlier write of the node
  // (replication is ordered).
  const RespReply synced = cluster.server(primary).commands(
      {{"SET", "{" + key + "}:barrier", "1"}, {"WAIT", "1", "5000"}});
  REQUIRE(synced.type == RespReply::Type::integer);
  REQUIRE(synced.integer == 1);

  cluster.kill(primary);
  const auto killed_at = std::chrono::steady_clock::now();
  const std::size_t promoted = cluster.wait_for_promotion(primary);
  INFO("primary " << primary << " killed; replica " << promoted << " promoted");

  // The rest of the first half, then a second half sent to the new primary.
  receive(items / 2 - items / 4);
  for (int i = items / 2; i < items; ++i)
    send(i);
  retrying([&] { producer.close_topic(topic); }, errors);
  for (;;) {
    std::optional<int> value = retrying([&] { return member.next_object(); }, errors);
    if (!value)
      break;  // end-of-stream: everything delivered and acknowledged
    received.insert(*value);
  }
  CHECK(std::chrono::steady_clock::now() - killed_at < 60s);

  // Every item at least once; only items in flight at the kill may repeat.
  for (int i = 0; i < items; ++i)
    CHECK(received.count(i) >= 1);
  CHECK(received.size() <= static_cast<std::size_t>(items + member_options.prefetch));
  // Acknowledged before the kill stays acknowledged: nothing of the first
  // quarter comes back.
  for (int i = 0; i < items / 4; ++i)
    CHECK(received.count(i) == 1);
  CHECK(cluster.server(promoted).command({"XPENDING", key, "g"}).elements.at(0).integer == 0);
  CHECK(cluster.server(promoted).command({"XLEN", key}).integer >= items + 1);
  INFO("ConnectionErrors seen: " << errors);
}
