// SPDX-License-Identifier: Apache-2.0
// Fault injection against a real redis-server, with many threads in flight:
// SIGKILL and restart, SIGSTOP, a full server. The promise in each case:
// every caller gets a clear exception within its timeouts (none hangs,
// nothing crashes), and the store works again once the server does.
#include "support/eventually.hpp"
#include "support/redis_server.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

using proxystore::test::eventually;
using namespace proxystore;
using proxystore::test::RedisServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int thread_count = 8;

std::string value_of(int thread, int i, std::size_t size) {
  std::string value = "t" + std::to_string(thread) + "-" + std::to_string(i) + ":";
  value.resize(size, static_cast<char>('a' + (thread + i) % 26));
  return value;
}

/// What one operation did, for the checks after the threads are done.
struct Outcome {
  enum class Kind { ok, connection_error, timeout_error, other_error };
  Kind kind = Kind::ok;
  milliseconds elapsed{0};
  Clock::time_point started;
  std::string what;
};

/// Runs `operation`, classifying its result and timing it.
Outcome attempt(const std::function<void()>& operation) {
  Outcome outcome;
  outcome.started = Clock::now();
  try {
    operation();
  } catch (const TimeoutError& e) {
    outcome.kind = Outcome::Kind::timeout_error;
    outcome.what = e.what();
  } catch (const ConnectionError& e) {
    outcome.kind = Outcome::Kind::connection_error;
    outcome.what = e.what();
  } catch (const std::exception& e) {
    outcome.kind = Outcome::Kind::other_error;
    outcome.what = e.what();
  }
  outcome.elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - outcome.started);
  return outcome;
}

/// Joins `threads`, or — if they do not all finish within `limit` — reports
/// the hang and aborts (a hung thread cannot be joined or detached safely).
void join_or_abort(std::vector<std::thread>& threads, const std::atomic<int>& finished,
                   milliseconds limit, const char* what) {
  if (!eventually([&] { return finished.load() == static_cast<int>(threads.size()); }, limit)) {
    std::fprintf(stderr, "FATAL: %s: %d of %zu threads still running after %lld ms (a hang)\n",
                 what, static_cast<int>(threads.size()) - finished.load(), threads.size(),
                 static_cast<long long>(limit.count()));
    std::abort();
  }
  for (auto& thread : threads)
    thread.join();
}

/// One mixed operation: a write (large every few rounds, so some die
/// mid-transfer), a read, an exists, a batch, or a proxy round trip
/// through the registry.
void mixed_operation(const std::shared_ptr<RedisStore>& store, int thread, int i) {
  switch (i % 5) {
    case 0: {
      const std::string value = value_of(thread, i, i % 10 == 0 ? 1U << 20U : 200);
      const Key key = store->set(value);
      if (store->get<std::string>(key) != value)
        throw std::logic_error("read back a different value");
      break;
    }
    case 1:
      static_cast<void>(store->exists(Key{"missing-" + std::to_string(i)}));
      break;
    case 2: {
      const auto keys = store->set_batch(std::vector<std::string>(3, value_of(thread, i, 64)));
      static_cast<void>(store->get<std::string>(keys.back()));
      break;
    }
    case 3: {
      const auto proxy = store->proxy(value_of(thread, i, 300));
      const auto copy = deserialize<Proxy<std::string>>(serialize(proxy));
      if (copy->size() != 300)
        throw std::logic_error("proxy resolved to a different value");
      break;
    }
    default:
      store->evict(Key{"gone-" + std::to_string(i)});
      break;
  }
}

RedisOptions fault_options(const char* prefix) {
  RedisOptions options;
  options.connect_timeout = milliseconds(1000);
  options.command_timeout = milliseconds(2000);
  options.key_prefix = prefix;
  options.pool_size = thread_count;
  options.store.cache_size = 0;  // every read goes to the server
  return options;
}

}  // namespace

TEST_CASE("fault: SIGKILL while 8 threads are mid-operation, then a restart on the same port",
          "[fault][redis][concurrency]") {
  RedisServer server;
  const RedisOptions options = fault_options("fault-kill:");
  auto store = std::make_shared<RedisStore>("fault-kill-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);
  register_store(store, /*exist_ok=*/true);
  // Longest an operation may take while the server is dead: a connect
  // attempt plus a command, plus scheduling slack on a loaded machine.
  const milliseconds bound = options.connect_timeout + options.command_timeout + milliseconds(3000);
  constexpr int failures_wanted = 6;  // per thread, after the kill
  constexpr int writes_after = 25;    // per thread, after the restart

  std::atomic<int> phase{0};  // 0 running, 1 killed, 2 restarted
  std::atomic<int> ok_before{0};
  std::atomic<int> failed_after_kill{0};
  std::atomic<int> finished{0};
  Clock::time_point killed_at;
  std::mutex mutex;
  std::vector<Outcome> outcomes_while_down;
  std::vector<std::string> unexpected;
  std::vector<std::vector<std::pair<Key, std::string>>> written(thread_count);
  std::vector<std::vector<Proxy<std::string>>> proxies(thread_count);

  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      // Phase 0 → 1: run until killed; keep going until enough failures.
      int failures = 0;
      while (failures < failures_wanted) {
        const bool after_kill = phase.load() >= 1;
        const Outcome outcome = attempt([&] { mixed_operation(store, t, i++); });
        std::lock_guard<std::mutex> lock(mutex);
        if (outcome.kind == Outcome::Kind::other_error) {
          unexpected.push_back(outcome.what);
          ++failures;  // never spin forever on a bug
        } else if (after_kill) {
          outcomes_while_down.push_back(outcome);
          ++failures;
          ++failed_after_kill;
        } else if (outcome.kind == Outcome::Kind::ok) {
          ++ok_before;
        }
      }
      // Phase 2: after the restart, every operation succeeds and every
      // value written reads back at the end.
      if (!eventually([&] { return phase.load() == 2; }, milliseconds(60000))) {
        ++finished;
        return;
      }
      for (int w = 0; w < writes_after; ++w) {
        const std::string value = value_of(t, 1000 + w, w % 5 == 0 ? 200000 : 100);
        const Outcome outcome = attempt([&] {
          written[t].emplace_back(store->set(value), value);
          proxies[t].push_back(store->proxy(value));
        });
        if (outcome.kind != Outcome::Kind::ok) {
          std::lock_guard<std::mutex> lock(mutex);
          unexpected.push_back("after restart: " + outcome.what);
        }
      }
      ++finished;
    });
  }

  REQUIRE(eventually([&] { return ok_before.load() >= 40; }, milliseconds(30000)));
  // The phase flips only once the server is dead and reaped, so every
  // operation that sees phase 1 started after the kill and must fail.
  // (Flipping it first let the threads, which fail in microseconds once the
  // port is closed, use up all their failures before killed_at was taken.)
  server.kill(SIGKILL);
  killed_at = Clock::now();
  phase = 1;
  const bool all_failed =
      eventually([&] { return failed_after_kill.load() >= thread_count * failures_wanted; },
                 milliseconds(60000));
  server.restart();
  phase = 2;
  join_or_abort(threads, finished, milliseconds(90000), "SIGKILL test");

  CHECK(all_failed);
  for (const auto& message : unexpected)
    UNSCOPED_INFO(message);
  CHECK(unexpected.empty());
  // Every operation that began after the kill failed, naming the server.
  std::size_t clean = 0;
  for (const Outcome& outcome : outcomes_while_down) {
    CHECK(outcome.started >= killed_at);
    CHECK(outcome.kind != Outcome::Kind::ok);
    if (outcome.kind != Outcome::Kind::ok) {
      CHECK_THAT(outcome.what, Catch::Contains(server.address()));
      ++clean;
    }
    CHECK(outcome.elapsed <= bound);
  }
  CHECK(clean == static_cast<std::size_t>(thread_count * failures_wanted));

  // Everything written after the restart is there: read through a fresh
  // store (no shared connection state) and through the proxies.
  RedisStore reader("fault-kill-reader-" + std::to_string(server.port()), server.host(),
                    server.port(), options);
  std::size_t checked = 0;
  for (int t = 0; t < thread_count; ++t) {
    for (const auto& [key, value] : written[t]) {
      CHECK(reader.get<std::string>(key) == value);
      ++checked;
    }
    for (const auto& proxy : proxies[t])
      CHECK(!deserialize<Proxy<std::string>>(serialize(proxy))->empty());
  }
  CHECK(checked == static_cast<std::size_t>(thread_count * writes_after));
  unregister_store(store->name());
}

TEST_CASE("fault: SIGSTOP makes every in-flight operation time out within its bound",
          "[fault][redis][concurrency]") {
  RedisServer server;
  RedisOptions options = fault_options("fault-stop:");
  options.command_timeout = milliseconds(500);
  auto store = std::make_shared<RedisStore>("fault-stop-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);
  register_store(store, /*exist_ok=*/true);
  // pool_size == threads: no operation waits for another's connection, so
  // each one is bounded by its own connect + command timeouts.
  const milliseconds bound = options.connect_timeout + options.command_timeout + milliseconds(2500);
  constexpr int failures_wanted = 3;

  std::atomic<bool> stopped{false};
  std::atomic<bool> resumed{false};
  std::atomic<int> ok_before{0};
  std::atomic<int> timeouts{0};
  std::atomic<int> ok_after{0};
  std::atomic<int> finished{0};
  std::mutex mutex;
  std::vector<Outcome> while_stopped;
  std::vector<std::string> unexpected;
  Clock::time_point stopped_at;

  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      int i = 0;
      for (int failures = 0; failures < failures_wanted;) {
        const bool during = stopped.load();
        const Outcome outcome = attempt([&] { mixed_operation(store, t, i++); });
        std::lock_guard<std::mutex> lock(mutex);
        if (outcome.kind == Outcome::Kind::other_error) {
          unexpected.push_back(outcome.what);
          ++failures;
        } else if (during) {
          while_stopped.push_back(outcome);
          ++failures;
          if (outcome.kind == Outcome::Kind::timeout_error)
            ++timeouts;
        } else if (outcome.kind == Outcome::Kind::ok) {
          ++ok_before;
        }
      }
      if (eventually([&] { return resumed.load(); }, milliseconds(60000))) {
        for (int k = 0; k < 10; ++k) {
          const Outcome outcome = attempt([&] { mixed_operation(store, t, 5000 + k); });
          if (outcome.kind == Outcome::Kind::ok) {
            ++ok_after;
          } else {
            std::lock_guard<std::mutex> lock(mutex);
            unexpected.push_back("after SIGCONT: " + outcome.what);
          }
        }
      }
      ++finished;
    });
  }

  REQUIRE(eventually([&] { return ok_before.load() >= 40; }, milliseconds(30000)));
  stopped = true;
  server.stop();
  stopped_at = Clock::now();
  const bool all_failed = eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        return while_stopped.size() >= static_cast<std::size_t>(thread_count * failures_wanted);
      },
      milliseconds(60000));
  server.cont();
  resumed = true;
  join_or_abort(threads, finished, milliseconds(90000), "SIGSTOP test");

  CHECK(all_failed);
  for (const auto& message : unexpected)
    UNSCOPED_INFO(message);
  CHECK(unexpected.empty());
  for (const Outcome& outcome : while_stopped) {
    CHECK(outcome.elapsed <= bound);
    if (outcome.started > stopped_at) {
      // Nothing answers a stopped server: only a timeout can end the call.
      CHECK(outcome.kind == Outcome::Kind::timeout_error);
      CHECK(outcome.elapsed >= options.command_timeout - milliseconds(50));
      CHECK_THAT(outcome.what, Catch::Contains(server.address()) && Catch::Contains("500 ms"));
    }
  }
  CHECK(timeouts.load() >= thread_count);
  CHECK(ok_after.load() == thread_count * 10);
  unregister_store(store->name());
}

TEST_CASE("fault: a full server refuses concurrent writers clearly and recovers after eviction",
          "[fault][redis][concurrency]") {
  RedisServer::Options server_options;
  server_options.extra_args = {"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"};
  RedisServer server(server_options);
  const RedisOptions options = fault_options("fault-oom:");
  auto store = std::make_shared<RedisStore>("fault-oom-" + std::to_string(server.port()),
                                            server.host(), server.port(), options);

  std::atomic<int> finished{0};
  std::atomic<int> refused{0};
  std::mutex mutex;
  std::vector<Key> stored;
  std::vector<std::string> unexpected;
  std::vector<std::thread> threads;
  for (int t = 0; t < thread_count; ++t) {
    threads.emplace_back([&, t] {
      // Each thread writes until the server has refused it three times.
      for (int i = 0, refusals = 0; refusals < 3 && i < 400; ++i) {
        try {
          const Key key = store->set(value_of(t, i, 32 * 1024));
          std::lock_guard<std::mutex> lock(mutex);
          stored.push_back(key);
        } catch (const StoreOperationError& e) {
          ++refusals;
          ++refused;
          const std::string message = e.what();
          if (message.find("OOM") == std::string::npos ||
              message.find(server.address()) == std::string::npos) {
            std::lock_guard<std::mutex> lock(mutex);
            unexpected.push_back("unclear OOM message: " + message);
          }
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mutex);
          unexpected.push_back(e.what());
          break;
        }
      }
      ++finished;
    });
  }
  join_or_abort(threads, finished, milliseconds(90000), "maxmemory test");
  for (const auto& message : unexpected)
    UNSCOPED_INFO(message);
  CHECK(unexpected.empty());
  CHECK(refused.load() >= thread_count * 3);
  REQUIRE_FALSE(stored.empty());

  // Everything that was acknowledged is intact; reads work on a full server.
  for (const Key& key : stored)
    CHECK(store->get<std::string>(key).has_value());
  // Eviction makes room, and writes (and proxies) work again.
  for (const Key& key : stored)
    store->evict(key);
  const std::string value = value_of(0, 0, 32 * 1024);
  CHECK(store->get<std::string>(store->set(value)) == value);
  CHECK(*deserialize<Proxy<std::string>>(serialize(store->proxy(value))) == value);
  unregister_store(store->name());
}
