// SPDX-License-Identifier: Apache-2.0
// Many threads sharing one RedisStore (and its connection pool): no lost
// or mixed-up objects, also with chunked values and through a restart.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using proxystore::Key;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::test::RedisServer;

namespace {

RedisOptions test_options(std::string prefix) {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  options.key_prefix = std::move(prefix);
  options.store.cache_size = 0;
  options.pool_size = 3;  // fewer connections than threads: callers wait for one
  return options;
}

std::string value_of(int thread, int i, std::size_t size) {
  std::string out = "t" + std::to_string(thread) + "-i" + std::to_string(i) + ":";
  out.resize(size, static_cast<char>('a' + (thread * 31 + i) % 26));
  return out;
}

/// Runs `body(thread_index)` on `count` threads and joins them; the first
/// exception message of any thread is returned ("" if none).
template <class Body>
std::string run_threads(int count, Body body) {
  std::mutex mutex;
  std::string first_error;
  std::vector<std::thread> threads;
  for (int t = 0; t < count; ++t) {
    threads.emplace_back([&, t] {
      try {
        body(t);
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(mutex);
        if (first_error.empty())
          first_error = "thread " + std::to_string(t) + ": " + e.what();
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  return first_error;
}

}  // namespace

TEST_CASE("RedisStore: 8 threads share one store without losing anything", "[redis][concurrency]") {
  RedisServer server;
  RedisOptions options = test_options("mt:");
  options.chunk_size = 2048;  // some values are chunked
  auto store = std::make_shared<RedisStore>("redis-mt-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);
  constexpr int threads = 8;
  constexpr int iterations = 150;
  std::vector<std::vector<Key>> kept(threads);
  std::atomic<int> mismatches{0};

  const std::string error = run_threads(threads, [&](int t) {
    for (int i = 0; i < iterations; ++i) {
      const std::size_t size = i % 10 == 0 ? 5000 : 64 + static_cast<std::size_t>(i);
      const std::string value = value_of(t, i, size);
      const Key key = store->set(value);
      if (store->get<std::string>(key) != value)
        ++mismatches;
      if (!store->exists(key))
        ++mismatches;
      if (i % 5 == 0) {
        store->evict(key);
        if (store->exists(key) || store->get<std::string>(key).has_value())
          ++mismatches;
      } else {
        kept[static_cast<std::size_t>(t)].push_back(key);
      }
      if (i % 25 == 0) {
        std::vector<std::string> batch{value_of(t, i, 100), value_of(t, i + 1, 3000),
                                       value_of(t, i + 2, 10)};
        const std::vector<Key> keys = store->set_batch(batch);
        const auto read = store->get_batch<std::string>(keys);
        for (std::size_t j = 0; j < batch.size(); ++j) {
          if (read[j] != batch[j])
            ++mismatches;
          store->evict(keys[j]);
        }
      }
    }
  });
  REQUIRE(error.empty());
  CHECK(mismatches == 0);

  // Everything kept is there, intact; nothing else is (no stray chunks).
  std::size_t expected_keys = 0;
  for (int t = 0; t < threads; ++t) {
    const auto& keys = kept[static_cast<std::size_t>(t)];
    const auto read = store->get_batch<std::string>(keys);
    int i = 0;
    for (std::size_t j = 0; j < keys.size(); ++i) {
      if (i % 5 == 0)
        continue;
      const std::size_t size = i % 10 == 0 ? 5000 : 64 + static_cast<std::size_t>(i);
      CHECK(read[j] == value_of(t, i, size));
      expected_keys += size > 2000 ? 4 : 1;  // a 5000-byte value: manifest + 3 chunks
      ++j;
    }
  }
  CHECK(server.keys("mt:*").size() == expected_keys);
}

TEST_CASE("RedisStore: threads share proxies resolved from Redis", "[redis][concurrency]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>("redis-mt-proxy-" + std::to_string(server.port()),
                                            server.host(), server.port(), test_options("mtp:"));
  std::vector<std::string> values;
  for (int i = 0; i < 32; ++i)
    values.push_back(value_of(0, i, 200));
  // Serialized copies, as another process would receive them.
  std::vector<std::string> wire;
  for (const auto& proxy : store->proxy_batch(values))
    wire.push_back(proxystore::serialize(proxy));
  std::vector<proxystore::Proxy<std::string>> shared;
  for (const std::string& bytes : wire) {
    shared.push_back(proxystore::deserialize<proxystore::Proxy<std::string>>(bytes));
  }

  std::atomic<int> mismatches{0};
  const std::string error = run_threads(8, [&](int) {
    for (std::size_t i = 0; i < shared.size(); ++i) {
      proxystore::Proxy<std::string> copy = shared[i];  // copies share one resolution
      if (*copy != values[i])
        ++mismatches;
    }
  });
  REQUIRE(error.empty());
  CHECK(mismatches == 0);
}

TEST_CASE("RedisStore: threads ride through a server restart", "[redis][concurrency]") {
  RedisServer server;
  RedisOptions options = test_options("mtr:");
  options.command_timeout = std::chrono::milliseconds(2000);
  auto store = std::make_shared<RedisStore>("redis-mt-restart-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);
  std::atomic<bool> restarted{false};
  std::atomic<int> restarts{0};
  std::atomic<bool> done{false};
  std::atomic<int> before{0};
  std::atomic<int> failures{0};
  std::atomic<int> after{0};
  std::atomic<int> mismatches{0};
  std::mutex mutex;
  std::string unexpected;

  std::vector<std::thread> workers;
  for (int t = 0; t < 8; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) {
        const bool back = restarted.load();
        const int epoch = restarts.load();
        try {
          // Some values are large, so writes into dead sockets hit EPIPE.
          const std::string value = value_of(t, i, i % 4 == 0 ? 300000 : 100);
          const Key key = store->set(value);
          const std::optional<std::string> read = store->get<std::string>(key);
          // A value written just before the kill is legitimately gone from
          // the restarted (empty) server; any other difference is a bug.
          if (read ? *read != value : restarts.load() == epoch)
            ++mismatches;
          ++(back ? after : before);
        } catch (const proxystore::ConnectionError&) {
          ++failures;
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mutex);
          unexpected = e.what();
        }
      }
    });
  }
  // Polls a condition the workers make true, within a bound.
  auto eventually = [](auto condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return true;
  };
  const bool worked = eventually([&] { return before.load() >= 40; });
  ++restarts;  // before the kill: a read racing it may meet the new server
  server.kill();
  const bool failed = eventually([&] { return failures.load() >= 16; });
  server.restart();
  restarted = true;
  const bool recovered = eventually([&] { return after.load() >= 80; });
  done = true;
  for (auto& worker : workers)
    worker.join();

  CHECK(worked);
  CHECK(failed);
  CHECK(recovered);
  CHECK(unexpected.empty());
  CHECK(mismatches == 0);
}
