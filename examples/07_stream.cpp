// SPDX-License-Identifier: Apache-2.0
// 07 — A stream: one producer process, a group of consumer processes.
//
//   producer ──events (proxies, small items)──▶ broker ──▶ consumer 0, 1, 2
//            ──large objects──▶ store ◀──resolve──────────┘
//
// The producer sends 300 frames (half small, half 64 KiB) to topic
// "frames" with batching; small frames travel inline in the events, large
// ones through the store. Three consumer processes share the work as one
// group: each frame goes to one of them, is resolved, checked and
// acknowledged (which evicts the stored object). The producer closes the
// topic; every consumer sees end-of-stream. The producer prints items/s and
// the bytes that went through the broker vs the store.
//
// Broker and store: a RedisStreamBroker and a RedisStore when
// PROXYSTORE_REDIS=host:port is set (nothing is started for you); else a
// LocalBroker and a LocalStore, with threads instead of processes.
//
// Run: build/examples/07_stream      (exits non-zero on any mismatch)
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace ps = proxystore;

namespace example {

constexpr int frames = 300;
constexpr int consumers = 3;
constexpr std::size_t large = std::size_t{64} << 10U;

/// Counts what goes through the broker, then lets the real one work.
class MeteredBroker final : public ps::Broker {
 public:
  explicit MeteredBroker(std::shared_ptr<ps::Broker> inner) : inner_(std::move(inner)) {}
  void publish(const std::string& topic, const std::vector<std::string>& messages) override {
    for (const std::string& message : messages)
      bytes_ += message.size();
    inner_->publish(topic, messages);
  }
  void close(const std::string& topic) override { inner_->close(topic); }
  void subscribe(ps::BrokerCursor& cursor) override { inner_->subscribe(cursor); }
  ps::BrokerBatch receive(ps::BrokerCursor& cursor, std::size_t max,
                          std::chrono::milliseconds wait) override {
    return inner_->receive(cursor, max, wait);
  }
  ps::BrokerBatch claim(ps::BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                        std::size_t max) override {
    return inner_->claim(cursor, min_idle, max);
  }
  void ack(const ps::BrokerCursor& cursor, const std::vector<std::string>& ids) override {
    inner_->ack(cursor, ids);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::shared_ptr<ps::Broker> inner_;
  std::atomic<std::size_t> bytes_{0};
};

struct Setup {
  std::shared_ptr<ps::Broker> broker;
  std::shared_ptr<ps::Store> store;
};

/// A frame: its number in byte 0..3, then filler.
std::vector<char> frame(int i) {
  std::vector<char> data(i % 2 == 0 ? 32 : large, static_cast<char>('a' + i % 26));
  std::memcpy(data.data(), &i, sizeof i);
  return data;
}

Setup make_setup(const char* redis, const std::string& topic) {
  ps::StoreOptions store_options;
  store_options.metrics = true;
  if (redis == nullptr) {
    return {std::make_shared<ps::LocalBroker>(),
            std::make_shared<ps::LocalStore>("example-07", store_options)};
  }
  const std::string address = redis;
  const std::string host = address.substr(0, address.rfind(':'));
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  ps::RedisOptions options;
  options.key_prefix = fmt::format("example-07:{}:", topic);
  options.store = store_options;
  return {std::make_shared<ps::RedisStreamBroker>(host, port, options),
          std::make_shared<ps::RedisStore>("example-07", host, port, options)};
}

/// One group member: resolves and checks each frame; returns how many it got.
int consume(const std::shared_ptr<ps::Broker>& broker, const std::string& topic) {
  ps::ConsumerOptions options;
  options.group = "analysis";
  options.timeout = std::chrono::seconds(30);
  ps::StreamConsumer<std::vector<char>> consumer(broker, topic, options);
  int count = 0;
  for (ps::StreamItem<std::vector<char>>& item : consumer) {
    const std::vector<char>& data = item.proxy;
    int i = -1;
    std::memcpy(&i, data.data(), sizeof i);
    if (data != frame(i) || item.metadata.at("frame") != std::to_string(i))
      throw ps::Error(fmt::format("frame {} arrived damaged", i));
    ++count;
  }
  return count;
}

int run() {
  const char* redis = std::getenv("PROXYSTORE_REDIS");
  const std::string topic = fmt::format("frames-{}", static_cast<long>(getpid()));
  std::vector<pid_t> children;
  std::vector<std::thread> threads;
  std::atomic<int> consumed{0};
  Setup setup = make_setup(redis, topic);
  auto metered = std::make_shared<MeteredBroker>(setup.broker);
  // The group exists before the first frame; members may start any time.
  {
    ps::ConsumerOptions group;
    group.group = "analysis";
    ps::StreamConsumer<std::vector<char>> creates_group(metered, topic, group);
  }
  for (int c = 0; c < consumers; ++c) {
    if (redis == nullptr) {
      threads.emplace_back([&] { consumed += consume(metered, topic); });
      continue;
    }
    const pid_t pid = fork();
    if (pid == 0) {  // a consumer process with its own broker connections
      try {
        Setup own = make_setup(redis, topic);
        const int count = consume(own.broker, topic);
        std::printf("consumer %d: %d frames\n", c, count);
        std::fflush(stdout);
        _exit(0);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer %d: %s\n", c, e.what());
        _exit(1);
      }
    }
    children.push_back(pid);
  }

  const auto started = std::chrono::steady_clock::now();
  {
    ps::TopicOptions options;
    options.store = setup.store;
    options.inline_threshold = 1024;
    options.batch_size = 16;
    ps::StreamProducer<std::vector<char>> producer(metered, options);
    for (int i = 0; i < frames; ++i)
      producer.send(topic, frame(i), {{"frame", std::to_string(i)}});
    producer.close_topic(topic);
  }
  bool ok = true;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  for (std::thread& thread : threads)
    thread.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (redis == nullptr && consumed != frames) {
    std::fprintf(stderr, "consumed %d frames of %d\n", consumed.load(), frames);
    ok = false;
  }
  if (auto* redis_broker = dynamic_cast<ps::RedisStreamBroker*>(setup.broker.get()))
    redis_broker->remove_topic(topic);  // every consumer is done: leave nothing behind
  const std::uint64_t store_bytes = setup.store->metrics().at("set_batch").bytes;
  std::printf("%d frames in %.3f s: %.0f items/s\n", frames, seconds, frames / seconds);
  std::printf("through the broker: %zu bytes; through the store: %llu bytes\n", metered->bytes(),
              static_cast<unsigned long long>(store_bytes));
  return ok ? 0 : 1;
}

}  // namespace example

int main() {
  try {
    return example::run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "07_stream: %s\n", e.what());
    return 1;
  }
}
