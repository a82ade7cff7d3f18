// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker while a real redis-server is LOADING its dataset: the
// broker retries within its command timeout, then reports a ConnectionError.
//
// How LOADING is provoked, reliably and quickly: DEBUG RELOAD (the server
// saves and reloads its RDB) with `key-load-delay` (a delay per key loaded)
// and `loading-process-events-interval-bytes` at its minimum, so the
// server keeps answering other clients — with -LOADING — for about two
// seconds.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::message_of;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;

namespace stream_redis_loading_test {

using namespace std::chrono_literals;

RedisServer::Options slow_loading() {
  RedisServer::Options options;
  options.extra_args = {
      "--enable-debug-command", "yes", "--loading-process-events-interval-bytes", "1024",
      "--key-load-delay",       "1000"};  // microseconds per key: 2,000 keys load in about 2 s
  return options;
}

bool loading(const RedisServer& server) {
  const RespReply reply = server.command({"INFO", "persistence"});
  return reply.text.find("loading:1") != std::string::npos;
}

/// DEBUG RELOAD on a thread of its own, started once the server reports
/// loading:1; join() waits for its reply (+OK).
class Reload {
 public:
  explicit Reload(const RedisServer& server) : server_(server) {
    REQUIRE(server.command({"DEBUG", "POPULATE", "2000"}).type == RespReply::Type::status);
    thread_ = std::thread([this] {
      try {
        reply_ = server_.command({"DEBUG", "RELOAD"});
      } catch (const std::exception& e) {
        reply_.type = RespReply::Type::error;
        reply_.text = e.what();
      }
    });
    for (int tries = 0; !loading(server); ++tries) {
      if (tries >= 2000) {
        join();
        FAIL("the server never reported loading:1");
      }
      std::this_thread::sleep_for(1ms);  // polling interval, not a wait-for-effect
    }
  }
  Reload(const Reload&) = delete;
  Reload& operator=(const Reload&) = delete;
  ~Reload() {
    if (thread_.joinable())
      thread_.join();
  }

  /// Waits for DEBUG RELOAD's reply and checks it.
  void join() {
    thread_.join();
    CHECK(reply_.type == RespReply::Type::status);
    CHECK(reply_.text == "OK");
  }

 private:
  const RedisServer& server_;
  std::thread thread_;
  RespReply reply_;
};

RedisOptions timeouts(std::chrono::milliseconds command_timeout) {
  RedisOptions options;
  options.connect_timeout = 2000ms;
  options.command_timeout = command_timeout;
  return options;
}

}  // namespace stream_redis_loading_test

using namespace stream_redis_loading_test;  // NOLINT(google-build-using-namespace)

TEST_CASE("Redis stream: LOADING replies are retried within the command timeout",
          "[stream][redis]") {
  RedisServer server(slow_loading());
  auto broker = std::make_shared<RedisStreamBroker>(server.host(), server.port(), timeouts(10s));
  ConsumerOptions options;
  options.group = "g";
  options.timeout = 10s;
  StreamConsumer<std::string> consumer(broker, "loading", options);  // the group exists
  StreamProducer<std::string> producer(broker);
  producer.send("loading", "before");
  std::optional<StreamItem<std::string>> first = consumer.next();
  REQUIRE(first);
  CHECK(*first->proxy == "before");

  Reload reload(server);
  // Every command below meets -LOADING first (the server is loading now).
  producer.send("loading", "during");
  const bool loaded = !loading(server);
  std::optional<StreamItem<std::string>> second = consumer.next();  // XACK + XREADGROUP
  reload.join();
  CHECK(loaded);  // send returned only once loading was over
  REQUIRE(second);
  CHECK(*second->proxy == "during");
  producer.close_topic("loading");
  CHECK_FALSE(consumer.next());
  CHECK(server.command({"XPENDING", broker->stream_key("loading"), "g"}).elements.at(0).integer ==
        0);
}

TEST_CASE("Redis stream: a server LOADING past the command timeout is a ConnectionError",
          "[stream][redis]") {
  RedisServer server(slow_loading());
  auto broker = std::make_shared<RedisStreamBroker>(server.host(), server.port(), timeouts(200ms));
  StreamProducer<std::string> producer(broker);
  Reload reload(server);
  const std::string message =
      message_of<ConnectionError>([&] { producer.send("loading", "too early"); });
  reload.join();
  CHECK_THAT(message, Catch::Contains(server.address()));
  CHECK_THAT(message, Catch::Contains("still loading"));
  CHECK_THAT(message, Catch::Contains("XADD"));
  producer.flush();  // the item stayed buffered; the server answers now
  CHECK(server.command({"XLEN", broker->stream_key("loading")}).integer == 1);
}
