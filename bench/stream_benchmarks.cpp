// SPDX-License-Identifier: Apache-2.0
// Streams over RedisStreamBroker against raw hiredis, on one server in one
// process.
//
// Names: stream/<what>/<variant>
//   inline/100 B/hiredis   XADD (a batch pipelined) / XREADGROUP COUNT batch /
//                          one XACK per batch: the floor for the library
//   inline/100 B/library   StreamProducer + StreamConsumer (group) of the
//                          same batch size; items/s of both give the ratio
//   transfer/<size>/{proxy,inline}
//                          items produced and consumed (group, acked): objects
//                          through a RedisStore vs inside the events; the
//                          counter stream_bytes is MEMORY USAGE of the stream
//                          with every item published
//   latency/100 B/library  one item per send (batch 1) at 1,000 items/s,
//                          a consumer thread: p50/p99 producer→consumer (us)
//   latency/100 B/hiredis  the same with raw XADD / XREADGROUP BLOCK / XACK
#include "bench_common.hpp"

#include <proxystore/proxystore.hpp>

#include <hiredis/hiredis.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace proxystore::bench {
namespace {

constexpr std::size_t batch = 100;

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

ContextPtr connect() {
  ContextPtr context(redisConnect(settings().redis_host.c_str(), settings().redis_port));
  if (!context || context->err != 0)
    throw std::runtime_error("cannot connect to redis at port " +
                             std::to_string(settings().redis_port));
  return context;
}

ReplyPtr reply_of(redisContext* context, void* raw) {
  ReplyPtr reply(static_cast<redisReply*>(raw));
  if (!reply)
    throw std::runtime_error(std::string("hiredis: ") + context->errstr);
  if (reply->type == REDIS_REPLY_ERROR)
    throw std::runtime_error("hiredis: " + std::string(reply->str, reply->len));
  return reply;
}

ReplyPtr command(redisContext* context, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  return reply_of(context, redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(),
                                            lengths.data()));
}

std::string unique_topic(const char* what) {
  static std::atomic<int> counter{0};
  return std::string("bench-") + what + "-" + std::to_string(counter++);
}

std::shared_ptr<RedisStreamBroker> broker() {
  static auto instance =
      std::make_shared<RedisStreamBroker>(settings().redis_host, settings().redis_port);
  return instance;
}

std::size_t inline_items() {
  return settings().smoke ? 200 : 20000;
}

// --- 100 B inline: raw hiredis vs the library ---------------------------------

void raw_inline(benchmark::State& state) {
  ContextPtr producer = connect();
  ContextPtr consumer = connect();
  const std::string item(100, 'x');
  const std::size_t items = inline_items();
  for (auto _ : state) {
    const std::string key = "proxystore:stream:" + unique_topic("raw");
    command(consumer.get(), {"XGROUP", "CREATE", key, "g", "0", "MKSTREAM"});
    timed(state, [&] {
      for (std::size_t done = 0; done < items; done += batch) {
        for (std::size_t i = 0; i < batch; ++i) {
          const char* argv[] = {"XADD", key.data(), "*", "d", item.data()};
          const std::size_t lengths[] = {4, key.size(), 1, 1, item.size()};
          redisAppendCommandArgv(producer.get(), 5, argv, lengths);
        }
        for (std::size_t i = 0; i < batch; ++i) {
          void* raw = nullptr;
          if (redisGetReply(producer.get(), &raw) != REDIS_OK)
            throw std::runtime_error("hiredis: XADD failed");
          reply_of(producer.get(), raw);
        }
        ReplyPtr read = command(consumer.get(), {"XREADGROUP", "GROUP", "g", "c", "COUNT",
                                                 std::to_string(batch), "STREAMS", key, ">"});
        std::vector<std::string> ack = {"XACK", key, "g"};
        const redisReply* entries = read->element[0]->element[1];
        for (std::size_t i = 0; i < entries->elements; ++i) {
          const redisReply* fields = entries->element[i]->element[1];
          benchmark::DoNotOptimize(fields->element[1]->str);
          ack.emplace_back(entries->element[i]->element[0]->str,
                           entries->element[i]->element[0]->len);
        }
        command(consumer.get(), ack);
      }
    });
    command(consumer.get(), {"DEL", key});
  }
  state.counters["items_per_second"] =
      benchmark::Counter(static_cast<double>(items) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

void library_inline(benchmark::State& state) {
  const std::string item(100, 'x');
  const std::size_t items = inline_items();
  for (auto _ : state) {
    const std::string topic = unique_topic("lib");
    TopicOptions topic_options;
    topic_options.batch_size = batch;
    StreamProducer<std::string> producer(broker(), topic_options);
    ConsumerOptions options;
    options.group = "g";
    options.prefetch = batch;
    StreamConsumer<std::string> consumer(broker(), topic, options);
    timed(state, [&] {
      for (std::size_t done = 0; done < items; done += batch) {
        for (std::size_t i = 0; i < batch; ++i)
          producer.send(topic, item);
        for (std::size_t i = 0; i < batch; ++i) {
          std::optional<StreamItem<std::string>> got = consumer.next();
          benchmark::DoNotOptimize(got->proxy->data());
        }
      }
    });
    ContextPtr admin = connect();
    command(admin.get(), {"DEL", broker()->stream_key(topic)});
  }
  state.counters["items_per_second"] =
      benchmark::Counter(static_cast<double>(items) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}

// --- large items: through the store vs inline -----------------------------------

void transfer(benchmark::State& state, std::size_t size, bool through_store) {
  const std::size_t items = settings().smoke ? 2 : (size >= (std::size_t{10} << 20U) ? 10 : 50);
  static auto store = [] {
    RedisOptions options;
    options.store.cache_size = 0;
    return std::make_shared<RedisStore>("bench-stream-store", settings().redis_host,
                                        settings().redis_port, options);
  }();
  const std::vector<char> object(size, 'o');
  double stream_bytes = 0;
  for (auto _ : state) {
    const std::string topic = unique_topic("transfer");
    TopicOptions topic_options;
    if (through_store)
      topic_options.store = store;
    StreamProducer<std::vector<char>> producer(broker(), topic_options);
    ConsumerOptions options;
    options.group = "g";
    options.prefetch = 4;
    StreamConsumer<std::vector<char>> consumer(broker(), topic, options);
    ContextPtr admin = connect();
    timed(state, [&] {
      for (std::size_t i = 0; i < items; ++i)
        producer.send(topic, object);
      ReplyPtr usage = command(admin.get(), {"MEMORY", "USAGE", broker()->stream_key(topic)});
      stream_bytes = static_cast<double>(usage->integer);
      for (std::size_t i = 0; i < items; ++i) {
        std::optional<StreamItem<std::vector<char>>> got = consumer.next();
        benchmark::DoNotOptimize(got->proxy->data());
      }
    });
    command(admin.get(), {"DEL", broker()->stream_key(topic)});
  }
  state.counters["items_per_second"] =
      benchmark::Counter(static_cast<double>(items) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["stream_bytes"] = stream_bytes;
}

// --- latency at 1,000 items/s ------------------------------------------------------

/// Calls `send` with a 100 B item `items` times, one per millisecond; the
/// item's first 8 bytes are the send time (Clock ticks).
template <class Send>
void paced_sends(std::size_t items, Send&& send) {
  auto next = Clock::now();
  std::string item(100, 'x');
  for (std::size_t i = 0; i < items; ++i) {
    std::this_thread::sleep_until(next);
    next += std::chrono::milliseconds(1);
    const std::int64_t now = Clock::now().time_since_epoch().count();
    std::memcpy(item.data(), &now, sizeof now);
    send(item);
  }
}

/// Microseconds since the send time stamped in `value` (paced_sends).
double micros_since_sent(const char* value) {
  std::int64_t sent = 0;
  std::memcpy(&sent, value, sizeof sent);
  return static_cast<double>(Clock::now().time_since_epoch().count() - sent) / 1000.0;
}

/// p50_us and p99_us of `micros`.
void report_percentiles(benchmark::State& state, std::vector<double>& micros) {
  std::sort(micros.begin(), micros.end());
  auto at = [&](double q) {
    return micros.empty() ? 0.0 : micros[static_cast<std::size_t>(q * (micros.size() - 1))];
  };
  state.counters["p50_us"] = at(0.50);
  state.counters["p99_us"] = at(0.99);
}

void latency(benchmark::State& state) {
  const std::size_t items = settings().smoke ? 50 : 3000;
  std::vector<double> micros;
  for (auto _ : state) {
    const std::string topic = unique_topic("latency");
    StreamProducer<std::string> producer(broker());
    ConsumerOptions options;
    options.group = "g";
    options.prefetch = 1;
    StreamConsumer<std::string> consumer(broker(), topic, options);
    micros.clear();
    timed(state, [&] {
      std::thread reader([&] {
        for (std::size_t i = 0; i < items; ++i) {
          std::optional<StreamItem<std::string>> got = consumer.next();
          const std::string& value = got->proxy;
          micros.push_back(micros_since_sent(value.data()));
        }
      });
      paced_sends(items, [&](const std::string& item) { producer.send(topic, item); });
      reader.join();
    });
    ContextPtr admin = connect();
    command(admin.get(), {"DEL", broker()->stream_key(topic)});
  }
  report_percentiles(state, micros);
}

/// The same pacing with raw hiredis (XADD; XREADGROUP BLOCK COUNT 1, then
/// XACK): the floor the library's latency row is read against.
void raw_latency(benchmark::State& state) {
  const std::size_t items = settings().smoke ? 50 : 3000;
  std::vector<double> micros;
  for (auto _ : state) {
    const std::string key = "proxystore:stream:" + unique_topic("raw-latency");
    ContextPtr producer = connect();
    ContextPtr consumer = connect();
    command(consumer.get(), {"XGROUP", "CREATE", key, "g", "0", "MKSTREAM"});
    micros.clear();
    timed(state, [&] {
      std::thread reader([&] {
        for (std::size_t i = 0; i < items;) {
          ReplyPtr read = command(consumer.get(), {"XREADGROUP", "GROUP", "g", "c", "COUNT", "1",
                                                   "BLOCK", "1000", "STREAMS", key, ">"});
          if (read->type != REDIS_REPLY_ARRAY)
            continue;
          const redisReply* entry = read->element[0]->element[1]->element[0];
          micros.push_back(micros_since_sent(entry->element[1]->element[1]->str));
          command(consumer.get(),
                  {"XACK", key, "g", std::string(entry->element[0]->str, entry->element[0]->len)});
          ++i;
        }
      });
      paced_sends(items, [&](const std::string& item) {
        command(producer.get(), {"XADD", key, "*", "d", item});
      });
      reader.join();
    });
    command(producer.get(), {"DEL", key});
  }
  report_percentiles(state, micros);
}

}  // namespace

void register_stream_benchmarks() {
  add_timed("stream/inline/100 B/hiredis", raw_inline);
  add_timed("stream/inline/100 B/library", library_inline);
  for (std::size_t size : {std::size_t{1} << 20U, std::size_t{10} << 20U}) {
    const std::string label = size_label(size);
    add_timed("stream/transfer/" + label + "/proxy",
              [size](benchmark::State& state) { transfer(state, size, true); });
    add_timed("stream/transfer/" + label + "/inline",
              [size](benchmark::State& state) { transfer(state, size, false); });
  }
  add_timed("stream/latency/100 B/hiredis", raw_latency)->Iterations(1);
  add_timed("stream/latency/100 B/library", latency)->Iterations(1);
}

}  // namespace proxystore::bench
