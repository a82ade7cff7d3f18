// SPDX-License-Identifier: Apache-2.0
// Snippets of docs/streaming.md: a producer and a consumer group on a
// LocalBroker, and a custom broker.
#include <proxystore/proxystore.hpp>

#include "check.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace ps = proxystore;

//! [custom_broker]
// A broker that logs every publish, then lets a LocalBroker do the work. A
// broker for another message system implements the same six functions:
// publish and close append to a topic; subscribe, receive, claim and ack
// deliver it (fan-out when cursor.group is empty, else to one member).
class LoggingBroker final : public ps::Broker {
 public:
  void publish(const std::string& topic, const std::vector<std::string>& messages) override {
    published_ += messages.size();
    inner_.publish(topic, messages);
  }
  void close(const std::string& topic) override { inner_.close(topic); }
  void subscribe(ps::BrokerCursor& cursor) override { inner_.subscribe(cursor); }
  ps::BrokerBatch receive(ps::BrokerCursor& cursor, std::size_t max,
                          std::chrono::milliseconds wait) override {
    return inner_.receive(cursor, max, wait);
  }
  ps::BrokerBatch claim(ps::BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                        std::size_t max) override {
    return inner_.claim(cursor, min_idle, max);
  }
  void ack(const ps::BrokerCursor& cursor, const std::vector<std::string>& ids) override {
    inner_.ack(cursor, ids);
  }
  std::size_t published() const { return published_; }

 private:
  std::atomic<std::size_t> published_{0};
  ps::LocalBroker inner_;
};
//! [custom_broker]

int main() {
  //! [basic]
  auto broker = std::make_shared<ps::LocalBroker>();  // or RedisStreamBroker(host, port)
  auto store = std::make_shared<ps::LocalStore>("stream-objects");

  ps::TopicOptions options;
  options.store = store;           // large items go here; the broker carries proxies
  options.inline_threshold = 256;  // items of <= 256 serialized bytes travel inline
  options.batch_size = 8;          // one proxy_batch + one publish per 8 items
  ps::StreamProducer<std::vector<double>> producer(broker, options);

  ps::ConsumerOptions group;
  group.group = "analysis";  // work sharing: each item to one member
  group.timeout = std::chrono::seconds(10);
  ps::StreamConsumer<std::vector<double>> a(broker, "frames", group);
  ps::StreamConsumer<std::vector<double>> b(broker, "frames", group);

  for (int i = 0; i < 20; ++i)
    producer.send("frames", std::vector<double>(1000, i), {{"frame", std::to_string(i)}});
  producer.close_topic("frames");  // flush, then end-of-stream

  std::size_t seen = 0;
  std::thread other([&] {
    for (ps::StreamItem<std::vector<double>>& item : b)  // acknowledged as it moves on
      seen += item.proxy->size() > 0 ? 1 : 0;
  });
  while (std::optional<ps::StreamItem<std::vector<double>>> item = a.next()) {
    CHECK(item->metadata.count("frame") == 1);
    item->ack();  // now: the stored object is evicted
  }
  other.join();
  //! [basic]
  (void)seen;

  auto logging = std::make_shared<LoggingBroker>();
  ps::StreamProducer<int> numbers(logging);
  ps::StreamConsumer<int> reader(logging, "n");
  numbers.send("n", 1);
  numbers.close_topic("n");
  CHECK(reader.next_object() == std::optional<int>(1));
  CHECK(!reader.next_object());
  CHECK(logging->published() == 1);
  return 0;
}
