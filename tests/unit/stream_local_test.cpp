// SPDX-License-Identifier: Apache-2.0
// Streams (stream.hpp) over LocalBroker: producer, consumer, fan-out and
// groups, batching, inline threshold, eviction on acknowledgement,
// end-of-stream, filters, hostile events, and many threads.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::message_of;
using proxystore::test::ScopedStoreName;

namespace stream_local_test {

using namespace std::chrono_literals;

/// A broker that forwards to a LocalBroker and counts publish calls (the
/// real broker still does the work).
class CountingBroker final : public Broker {
 public:
  std::atomic<int> publishes{0};
  std::atomic<std::size_t> messages{0};
  LocalBroker inner;

  void publish(const std::string& topic, const std::vector<std::string>& batch) override {
    ++publishes;
    messages += batch.size();
    inner.publish(topic, batch);
  }
  void close(const std::string& topic) override { inner.close(topic); }
  void subscribe(BrokerCursor& cursor) override { inner.subscribe(cursor); }
  BrokerBatch receive(BrokerCursor& cursor, std::size_t max,
                      std::chrono::milliseconds wait) override {
    return inner.receive(cursor, max, wait);
  }
  BrokerBatch claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                    std::size_t max) override {
    return inner.claim(cursor, min_idle, max);
  }
  void ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) override {
    inner.ack(cursor, ids);
  }
};

ConsumerOptions quick(std::string group = {}) {
  ConsumerOptions options;
  options.group = std::move(group);
  options.timeout = 5s;
  options.claim_after = 100ms;
  return options;
}

std::shared_ptr<LocalStore> local_store(const std::string& name) {
  StoreOptions options;
  options.metrics = true;
  options.cache_size = 0;
  return std::make_shared<LocalStore>(name, options);
}

}  // namespace stream_local_test

using namespace stream_local_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Stream fan-out: every consumer sees every item in order, then end-of-stream",
          "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  StreamProducer<int> producer(broker);
  StreamConsumer<int> first(broker, "numbers", quick());
  for (int i = 0; i < 100; ++i)
    producer.send("numbers", i, {{"index", std::to_string(i)}});
  producer.close_topic("numbers");
  // A consumer that starts after the producer finished reads everything.
  StreamConsumer<int> late(broker, "numbers", quick());
  for (StreamConsumer<int>* consumer : {&first, &late}) {
    int expected = 0;
    for (StreamItem<int>& item : *consumer) {
      CHECK(*item.proxy == expected);
      CHECK(item.metadata.at("index") == std::to_string(expected));
      ++expected;
    }
    CHECK(expected == 100);
    CHECK_FALSE(consumer->next());  // stays at the end
  }
}

TEST_CASE("Stream send after close_topic throws TopicClosedError naming the topic", "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  StreamProducer<std::string> producer(broker);
  producer.send("t", "a");
  producer.close_topic("t");
  producer.close_topic("t");  // a no-op
  const std::string message = message_of<TopicClosedError>([&] { producer.send("t", "b"); });
  CHECK_THAT(message, Catch::Contains("'t'") && Catch::Contains("close_topic"));
  producer.send("other", "c");  // other topics stay open
}

TEST_CASE("Stream next throws StreamTimeoutError after the timeout", "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  ConsumerOptions options = quick("g");
  options.timeout = 50ms;
  StreamConsumer<int> consumer(broker, "silent", options);
  const std::string message = message_of<StreamTimeoutError>([&] { (void)consumer.next(); });
  CHECK_THAT(message, Catch::Contains("'silent'") && Catch::Contains("50 ms") &&
                          Catch::Contains("group 'g'"));
}

TEST_CASE("Stream batching: a flush is one proxy_batch and one publish", "[stream]") {
  ScopedStoreName name("stream-batch-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<CountingBroker>();
  TopicOptions options;
  options.store = store;
  options.batch_size = 4;
  StreamProducer<std::vector<int>> producer(broker, options);
  for (int i = 0; i < 10; ++i)
    producer.send("batched", std::vector<int>(100, i));
  CHECK(broker->publishes == 2);  // two full batches of 4
  CHECK(store->metrics().at("set_batch").count == 2);
  CHECK(store->metrics().at("set").count == 0);
  producer.flush();
  CHECK(broker->publishes == 3);  // the last 2 items
  CHECK(broker->messages == 10);
  CHECK(store->metrics().at("set_batch").count == 3);
  producer.flush();  // nothing buffered: no publish
  CHECK(broker->publishes == 3);
}

TEST_CASE("Stream inline threshold: small items travel in the event, large ones in the store",
          "[stream]") {
  ScopedStoreName name("stream-inline-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<LocalBroker>();
  TopicOptions options;
  options.store = store;
  options.inline_threshold = 200;
  options.batch_size = 2;
  StreamProducer<std::string> producer(broker, options);
  StreamConsumer<std::string> consumer(broker, "mixed", quick());
  producer.send("mixed", std::string(10, 's'));
  producer.send("mixed", std::string(1000, 'L'));
  producer.close_topic("mixed");
  std::optional<StreamItem<std::string>> small = consumer.next();
  REQUIRE(small);
  CHECK(get_factory(small->proxy).target<StoreFactory<std::string>>() == nullptr);
  CHECK(*small->proxy == std::string(10, 's'));
  std::optional<StreamItem<std::string>> large = consumer.next();
  REQUIRE(large);
  const auto* factory = get_factory(large->proxy).target<StoreFactory<std::string>>();
  REQUIRE(factory != nullptr);
  CHECK(store->exists(factory->key()));
  CHECK(*large->proxy == std::string(1000, 'L'));
  CHECK(store->metrics().at("set_batch").count == 1);  // only the large item was stored
}

TEST_CASE("Stream group: evict happens on acknowledgement, not on resolve", "[stream]") {
  ScopedStoreName name("stream-evict-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<LocalBroker>();
  TopicOptions options;
  options.store = store;
  StreamProducer<std::string> producer(broker, options);
  StreamConsumer<std::string> member(broker, "work", quick("workers"));
  StreamConsumer<std::string> watcher(broker, "work", quick());  // fan-out never evicts
  producer.send("work", "payload-1");
  producer.send("work", "payload-2");
  producer.close_topic("work");

  std::optional<StreamItem<std::string>> item = member.next();
  REQUIRE(item);
  const Key key = get_factory(item->proxy).target<StoreFactory<std::string>>()->key();
  CHECK(*item->proxy == "payload-1");
  CHECK(store->exists(key));  // resolved, not acknowledged: still there
  item->ack();
  item->ack();  // idempotent
  CHECK_FALSE(store->exists(key));

  std::optional<StreamItem<std::string>> second = member.next();
  REQUIRE(second);
  const Key key2 = get_factory(second->proxy).target<StoreFactory<std::string>>()->key();
  CHECK(store->exists(key2));
  CHECK_FALSE(member.next());  // next() acknowledged the second: end-of-stream follows
  CHECK_FALSE(store->exists(key2));

  std::optional<StreamItem<std::string>> seen = watcher.next();
  REQUIRE(seen);  // the fan-out consumer still sees the item; it was evicted by the group
  CHECK_THROWS_AS(resolve(seen->proxy), ProxyResolveMissingKeyError);
}

TEST_CASE("Stream group: each item goes to one member; a dead member's items are claimed",
          "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  StreamProducer<int> producer(broker);
  // A member that takes two items and dies without acknowledging them.
  BrokerCursor dead;
  dead.topic = "jobs";
  dead.group = "pool";
  dead.consumer = "dead-member";
  broker->subscribe(dead);
  StreamConsumer<int> alive(broker, "jobs", quick("pool"));
  for (int i = 0; i < 6; ++i)
    producer.send("jobs", i);
  producer.close_topic("jobs");
  REQUIRE(broker->receive(dead, 2, 0ms).messages.size() == 2);  // items 0 and 1
  std::multiset<int> seen;
  for (StreamItem<int>& item : alive)
    seen.insert(*item.proxy);
  CHECK(seen == std::multiset<int>{0, 1, 2, 3, 4, 5});  // 0 and 1 after claim_after, once
}

TEST_CASE("Stream end-of-stream reaches every group member once earlier items are acknowledged",
          "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  StreamProducer<int> producer(broker);
  ConsumerOptions options = quick("g");
  options.claim_after = 10s;  // nobody claims a's item in this test
  options.timeout = 200ms;
  StreamConsumer<int> a(broker, "few", options);
  StreamConsumer<int> b(broker, "few", options);
  producer.send("few", 1);
  producer.close_topic("few");
  std::optional<StreamItem<int>> item = a.next();
  REQUIRE(item);
  CHECK(*item->proxy == 1);
  // a's item is neither acknowledged nor stale: b must not end yet.
  CHECK_THROWS_AS(b.next(), StreamTimeoutError);
  item->ack();
  CHECK_FALSE(b.next());
  CHECK_FALSE(a.next());
}

TEST_CASE("Stream filters drop items before they are stored", "[stream]") {
  ScopedStoreName name("stream-filter-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<LocalBroker>();
  TopicOptions options;
  options.store = store;
  options.filter = [](const StreamMetadata& metadata) {
    return metadata.count("skip") > 0;
  };
  StreamProducer<int> producer(broker, options);
  TopicOptions sampled;
  sampled.filter = SamplingFilter(0.5, 42);
  producer.set_topic("sampled", sampled);
  TopicOptions none;
  none.filter = SamplingFilter(1.0);
  producer.set_topic("none", none);
  StreamConsumer<int> consumer(broker, "filtered", quick());
  StreamConsumer<int> sample_consumer(broker, "sampled", quick());
  StreamConsumer<int> none_consumer(broker, "none", quick());
  for (int i = 0; i < 10; ++i) {
    producer.send("filtered", i, i % 2 == 0 ? StreamMetadata{{"skip", "1"}} : StreamMetadata{});
    producer.send("none", i);
  }
  for (int i = 0; i < 200; ++i)
    producer.send("sampled", i);
  for (const char* topic : {"filtered", "sampled", "none"})
    producer.close_topic(topic);
  std::vector<int> odd;
  for (StreamItem<int>& item : consumer)
    odd.push_back(*item.proxy);
  CHECK(odd == std::vector<int>{1, 3, 5, 7, 9});
  CHECK(store->metrics().at("set_batch").count == 5);  // dropped items never reached the store
  int kept = 0;
  for (StreamItem<int>& item : sample_consumer) {
    (void)item;
    ++kept;
  }
  CHECK(kept > 50);
  CHECK(kept < 150);
  CHECK_FALSE(none_consumer.next());
  CHECK_THROWS_AS(SamplingFilter(1.5), Error);
}

TEST_CASE("Stream lifetime: stored items are evicted when the topic's lifetime ends", "[stream]") {
  ScopedStoreName name("stream-lifetime-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<LocalBroker>();
  auto lifetime = std::make_shared<ContextLifetime>();
  TopicOptions options;
  options.store = store;
  options.lifetime = lifetime;
  StreamProducer<std::string> producer(broker, options);
  StreamConsumer<std::string> consumer(broker, "scoped", quick());
  producer.send("scoped", "kept until the lifetime ends");
  std::optional<StreamItem<std::string>> item = consumer.next();
  REQUIRE(item);
  const Key key = get_factory(item->proxy).target<StoreFactory<std::string>>()->key();
  CHECK(store->exists(key));
  lifetime->close();
  CHECK_FALSE(store->exists(key));
}

TEST_CASE("Stream forged events are refused with a clear error and skipped", "[stream]") {
  auto broker = std::make_shared<LocalBroker>();
  StreamConsumer<int> fanout(broker, "hostile", quick());
  StreamConsumer<int> member(broker, "hostile", quick("g"));
  const std::string good = [] {
    auto source = std::make_shared<LocalBroker>();
    StreamProducer<int> producer(source);
    BrokerCursor cursor;
    cursor.topic = "x";
    source->subscribe(cursor);
    producer.send("x", 7);
    return source->receive(cursor, 1, 0ms).messages.at(0).data;
  }();
  std::string truncated = good.substr(0, good.size() / 2);
  std::string huge_length = good;
  huge_length[3] = '\x7f';  // a type-name length far beyond the input
  broker->publish("hostile", {"", "garbage\x01\xff", truncated,
                              serialize(std::string("not an event")), huge_length, good});
  broker->close("hostile");
  for (StreamConsumer<int>* consumer : {&fanout, &member}) {
    for (int i = 0; i < 5; ++i) {
      const std::string message = message_of<SerializationError>([&] { (void)consumer->next(); });
      CHECK_THAT(message, Catch::Contains("stream topic 'hostile' message '" + std::to_string(i)));
    }
    std::optional<StreamItem<int>> item = consumer->next();
    REQUIRE(item);
    CHECK(*item->proxy == 7);
    CHECK_FALSE(consumer->next());  // the group's bad events were acknowledged: it ends
  }
}

TEST_CASE("Stream max_event_size defaults to the store policy's max_object_size", "[stream]") {
  struct Restore {
    StorePolicy saved = store_policy();
    ~Restore() { set_store_policy(saved); }
  } restore;
  const StorePolicy saved = restore.saved;
  StorePolicy policy = saved;
  policy.max_object_size = 1000;
  set_store_policy(policy);

  auto broker = std::make_shared<LocalBroker>();
  StreamConsumer<std::string> bounded(broker, "limits", quick());
  ConsumerOptions larger = quick();
  larger.max_event_size = 4000;  // an explicit value overrides the policy
  StreamConsumer<std::string> overridden(broker, "limits", larger);
  set_store_policy(saved);  // read when the consumer was made, not later
  StreamConsumer<std::string> unbounded(broker, "limits", quick());

  StreamProducer<std::string> producer(broker);
  producer.send("limits", std::string(2000, 'x'));
  producer.close_topic("limits");
  const std::string message = message_of<SerializationError>([&] { (void)bounded.next(); });
  CHECK_THAT(message, Catch::Contains("stream topic 'limits'"));
  CHECK_THAT(message, Catch::Contains("1000"));
  CHECK_FALSE(bounded.next());
  for (StreamConsumer<std::string>* consumer : {&overridden, &unbounded}) {
    std::optional<std::string> object = consumer->next_object();
    REQUIRE(object);
    CHECK(object->size() == 2000);
    CHECK_FALSE(consumer->next());
  }
}

TEST_CASE("Stream on LocalBroker with 8 producer and 8 consumer threads", "[stream][concurrency]") {
  ScopedStoreName name("stream-threads-store");
  auto store = local_store(name.get());
  auto broker = std::make_shared<LocalBroker>();
  TopicOptions options;
  options.store = store;
  options.inline_threshold = 64;  // small items inline, the others stored
  options.batch_size = 8;
  auto producer = std::make_shared<StreamProducer<std::string>>(broker, options);
  constexpr int producers = 8;
  constexpr int consumers = 8;
  constexpr int per_producer = 200;

  std::vector<std::unique_ptr<StreamConsumer<std::string>>> members;
  std::vector<std::unique_ptr<StreamConsumer<std::string>>> watchers;
  for (int c = 0; c < consumers; ++c) {
    ConsumerOptions member_options = quick("g");
    member_options.claim_after = 60s;  // slow threads (TSan) must not look dead
    member_options.timeout = 60s;
    members.push_back(
        std::make_unique<StreamConsumer<std::string>>(broker, "busy", member_options));
    watchers.push_back(std::make_unique<StreamConsumer<std::string>>(broker, "busy", quick()));
  }
  std::mutex mutex;
  std::multiset<std::string> received;
  std::atomic<int> watcher_total{0};
  std::atomic<int> ends{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < consumers; ++c) {
    threads.emplace_back([&, c] {
      for (StreamItem<std::string>& item : *members[static_cast<std::size_t>(c)]) {
        std::lock_guard<std::mutex> lock(mutex);
        received.insert(*item.proxy);
      }
      ++ends;
    });
    threads.emplace_back([&, c] {
      int count = 0;
      for (StreamItem<std::string>& item : *watchers[static_cast<std::size_t>(c)]) {
        (void)item;
        ++count;
      }
      watcher_total += count;
    });
  }
  std::vector<std::thread> senders;
  for (int p = 0; p < producers; ++p) {
    senders.emplace_back([&, p] {
      for (int i = 0; i < per_producer; ++i) {
        std::string value = std::to_string(p) + ":" + std::to_string(i);
        if (i % 3 == 0)
          value.resize(200, '.');  // stored
        producer->send("busy", value, {{"from", std::to_string(p)}});
      }
    });
  }
  for (std::thread& sender : senders)
    sender.join();
  producer->close_topic("busy");
  for (std::thread& thread : threads)
    thread.join();
  CHECK(ends == consumers);
  CHECK(received.size() == static_cast<std::size_t>(producers * per_producer));
  CHECK(std::set<std::string>(received.begin(), received.end()).size() == received.size());
  CHECK(watcher_total == consumers * producers * per_producer);
}
