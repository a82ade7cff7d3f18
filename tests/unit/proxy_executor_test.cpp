// SPDX-License-Identifier: Apache-2.0
// ProxyExecutor (executor.hpp): large arguments and results travel through a
// real store (LocalStore, FileStore, RedisStore) and nothing stays stored
// once the tasks are done.
#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ConformanceBackends;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::store_type_t;
using proxystore::test::unique_name;

namespace executor_test {

/// A real backend that remembers every key written to it, so a test can
/// ask the backend itself which of them still exist.
template <class Backend>
class LiveKeys final : public Backend {
 public:
  using Backend::Backend;

  /// Keys written so far that the backend still holds.
  std::size_t live() {
    std::set<Key> written;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      written = written_;
    }
    std::size_t count = 0;
    for (const Key& key : written)
      count += Backend::do_exists(key) ? 1 : 0;
    return count;
  }

  /// Keys ever written.
  std::size_t written() {
    std::lock_guard<std::mutex> lock(mutex_);
    return written_.size();
  }

 protected:
  void do_put(const Key& key, std::string_view bytes) override {
    remember(key);
    Backend::do_put(key, bytes);
  }
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override {
    remember(key);
    Backend::do_put_parts(key, head, body);
  }

 private:
  void remember(const Key& key) {
    std::lock_guard<std::mutex> lock(mutex_);
    written_.insert(key);
  }
  std::mutex mutex_;
  std::set<Key> written_;
};

ExecutorOptions small_threshold() {
  ExecutorOptions options;
  options.proxy_arguments = proxy_if_larger_than(1000);
  options.proxy_results = proxy_if_larger_than(1000);
  options.threads = 2;
  return options;
}

std::vector<double> ramp(std::size_t n) {
  std::vector<double> values(n);
  std::iota(values.begin(), values.end(), 1.0);
  return values;
}

}  // namespace executor_test

using executor_test::LiveKeys;
using executor_test::ramp;
using executor_test::small_threshold;

TEMPLATE_LIST_TEST_CASE(
    "ProxyExecutor passes large arguments and results through the store and "
    "leaves nothing stored",
    "[executor][store]", ConformanceBackends) {
  TestType traits;
  const ScopedStoreName name(unique_name("exec"));
  auto store = traits.template make<LiveKeys<store_type_t<TestType>>>(name);
  std::atomic<std::size_t> live_during_task{0};
  {
    ProxyExecutor exec(store, small_threshold());
    // A large vector (proxied), a small int (not): the task sees both as values.
    std::future<std::vector<double>> scaled = exec.submit(
        [&](const std::vector<double>& values, int factor) {
          live_during_task = store->live();
          std::vector<double> out(values);
          for (double& v : out)
            v *= factor;
          return out;
        },
        ramp(5000), 3);
    const std::vector<double> result = scaled.get();
    REQUIRE(result.size() == 5000);
    CHECK(result.front() == 3.0);
    CHECK(result.back() == 15000.0);
    CHECK(live_during_task == 1);  // the argument was in the store while the task ran

    // A small result comes back by value.
    std::future<double> sum = exec.submit(
        [](std::vector<double> values) {
          return std::accumulate(values.begin(), values.end(), 0.0);
        },
        ramp(5000));
    CHECK(sum.get() == 5000.0 * 5001.0 / 2);

    const ExecutorStats stats = exec.stats();
    CHECK(stats.submitted == 2);
    CHECK(stats.completed == 2);
    CHECK(stats.proxied_arguments == 2);
    CHECK(stats.proxied_results == 1);
    CHECK(store->written() == 3);
    CHECK(store->live() == 0);  // inputs evicted before get() returned; the result after it
  }
  CHECK(store->live() == 0);
  if constexpr (std::is_same_v<TestType, proxystore::test::RedisStoreTraits>)
    CHECK(traits.server.keys("*").empty());
}

TEMPLATE_LIST_TEST_CASE(
    "ProxyExecutor: a task's exception reaches the future and its inputs "
    "are still evicted",
    "[executor][store]", ConformanceBackends) {
  TestType traits;
  const ScopedStoreName name(unique_name("exec-throw"));
  auto store = traits.template make<LiveKeys<store_type_t<TestType>>>(name);
  ProxyExecutor exec(store, small_threshold());
  std::future<std::vector<double>> failed = exec.submit(
      [](const std::vector<double>& values) -> std::vector<double> {
        throw std::runtime_error("task failed on " + std::to_string(values.size()) + " values");
      },
      ramp(2000));
  CHECK_THROWS_MATCHES(failed.get(), std::runtime_error, MessageContains("on 2000 values"));
  std::future<void> failed_void = exec.submit(
      [](std::string text) {
        throw std::invalid_argument("bad text of " + std::to_string(text.size()));
      },
      std::string(4000, 'x'));
  CHECK_THROWS_MATCHES(failed_void.get(), std::invalid_argument, MessageContains("of 4000"));
  CHECK(store->written() == 2);
  CHECK(store->live() == 0);
}

TEST_CASE("ProxyExecutor runs on a user's executor; a dropped task breaks its promise and evicts",
          "[executor]") {
  const ScopedStoreName name(unique_name("exec-user"));
  auto store = std::make_shared<LiveKeys<LocalStore>>(name.get());
  std::vector<std::function<void()>> queue;  // the user's executor: runs when told to
  {
    ProxyExecutor exec(
        store, [&queue](std::function<void()> task) { queue.push_back(std::move(task)); },
        small_threshold());
    auto kept = exec.submit([](const std::string& s) { return s.size(); }, std::string(5000, 'a'));
    auto dropped =
        exec.submit([](const std::string& s) { return s.size(); }, std::string(6000, 'b'));
    REQUIRE(queue.size() == 2);
    CHECK(store->live() == 2);  // both inputs stored at submit
    queue[0]();
    CHECK(kept.get() == 5000);
    CHECK(store->live() == 1);
    queue.clear();  // the executor drops the second task without running it
    CHECK_THROWS_AS(dropped.get(), std::future_error);
    CHECK(store->live() == 0);
  }  // nothing in flight: the destructor returns at once
}

TEST_CASE("ProxyExecutor: predicates by type, no proxying, pass-through of other arguments",
          "[executor]") {
  const ScopedStoreName name(unique_name("exec-pred"));
  auto store = std::make_shared<LiveKeys<LocalStore>>(name.get());

  SECTION("by type: small strings are proxied, vectors are not") {
    ExecutorOptions options;
    options.proxy_arguments = proxy_if_type<std::string>();
    options.proxy_results = nullptr;  // plain, pollable futures
    ProxyExecutor exec(store, options);
    auto f = exec.submit([](std::string s, std::vector<int> v) { return s.size() + v.size(); },
                         std::string("abc"), std::vector<int>(10000, 1));
    CHECK(f.wait_for(std::chrono::seconds(30)) == std::future_status::ready);
    CHECK(f.get() == 10003);
    CHECK(exec.stats().proxied_arguments == 1);
    CHECK(exec.stats().proxied_results == 0);
  }
  SECTION("move-only and non-serializable arguments pass by value; T&& callables") {
    ProxyExecutor exec(store, small_threshold());
    auto f = exec.submit([](std::unique_ptr<int> p,
                            std::vector<char>&& big) { return *p + static_cast<int>(big.size()); },
                         std::make_unique<int>(7), std::vector<char>(3000, 'z'));
    CHECK(f.get() == 3007);
    CHECK(exec.stats().proxied_arguments == 1);
  }
  SECTION("a Proxy argument is passed as it is, never proxied again") {
    ProxyExecutor exec(store, small_threshold());
    Proxy<std::vector<double>> p = store->proxy(ramp(4000));
    auto f = exec.submit([](const Proxy<std::vector<double>>& q) { return q->size(); }, p);
    CHECK(f.get() == 4000);
    CHECK(exec.stats().proxied_arguments == 0);
    store->evict(get_factory(p).target<StoreFactory<std::vector<double>>>()->key());
  }
  CHECK(store->live() == 0);
}

TEST_CASE("ProxyExecutor: a result future dropped without get() evicts the stored result",
          "[executor]") {
  const ScopedStoreName name(unique_name("exec-drop"));
  auto store = std::make_shared<LiveKeys<LocalStore>>(name.get());
  ProxyExecutor exec(store, small_threshold());
  {
    auto f = exec.submit([] { return std::string(10000, 'r'); });
    exec.wait();
    CHECK(store->live() == 1);  // stored by the worker, not yet read
  }
  CHECK(store->live() == 0);
  CHECK(exec.stats().proxied_results == 1);
  CHECK_THROWS_AS(ProxyExecutor(nullptr), Error);
}

TEST_CASE("ProxyExecutor: concurrent submitters share one executor and store",
          "[executor][concurrency]") {
  const ScopedStoreName name(unique_name("exec-conc"));
  auto store = std::make_shared<LiveKeys<LocalStore>>(name.get());
  ThreadPool pool(3);
  constexpr int kThreads = 4;
  constexpr int kTasks = 25;
  std::atomic<int> wrong{0};
  {
    ProxyExecutor exec(
        store, [&pool](std::function<void()> task) { pool.post(std::move(task)); },
        small_threshold());
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t) {
      submitters.emplace_back([&, t] {
        std::vector<std::future<std::vector<double>>> futures;
        for (int i = 0; i < kTasks; ++i) {
          futures.push_back(exec.submit(
              [](std::vector<double> v, double add) {
                for (double& x : v)
                  x += add;
                return v;
              },
              ramp(500 + static_cast<std::size_t>(i)), static_cast<double>(t)));
        }
        for (int i = 0; i < kTasks; ++i) {
          const std::vector<double> v = futures[static_cast<std::size_t>(i)].get();
          if (v.size() != 500 + static_cast<std::size_t>(i) || v.front() != 1.0 + t)
            ++wrong;
        }
      });
    }
    for (std::thread& s : submitters)
      s.join();
    CHECK(exec.stats().completed == kThreads * kTasks);
    CHECK(exec.stats().proxied_arguments == kThreads * kTasks);
    CHECK(exec.stats().proxied_results == kThreads * kTasks);
  }
  CHECK(wrong == 0);
  CHECK(store->live() == 0);
}
