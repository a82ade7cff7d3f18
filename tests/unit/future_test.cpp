// SPDX-License-Identifier: Apache-2.0
// Futures (future.hpp) on every backend: a proxy handed out before its
// object exists, resolved once set_result is called, or timing out.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::ConformanceBackends;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::unique_name;

namespace {
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
}  // namespace

TEMPLATE_LIST_TEST_CASE("A future's proxy waits for set_result", "[future][concurrency]",
                        ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("future-") + TestType::type));
  auto store = backend.make(name);

  FutureOptions options;
  options.timeout = milliseconds(20000);
  Future<std::vector<int>> future = store->template future<std::vector<int>>(options);
  CHECK_FALSE(future.done());
  // Sent at once: serialized before the object exists.
  const std::string serialized = serialize(future.proxy());
  std::atomic<bool> resolved{false};
  std::vector<int> got;
  std::thread consumer([&] {
    auto proxy = deserialize<Proxy<std::vector<int>>>(serialized);
    got = *proxy;
    resolved = true;
  });
  std::this_thread::sleep_for(milliseconds(50));  // let the consumer start waiting
  CHECK_FALSE(resolved.load());
  future.set_result({1, 2, 3});
  consumer.join();
  CHECK(got == std::vector<int>{1, 2, 3});
  CHECK(future.done());
  CHECK(*future.proxy() == std::vector<int>{1, 2, 3});  // set already: no wait
}

TEMPLATE_LIST_TEST_CASE("A future that is never set times out", "[future]", ConformanceBackends) {
  INFO("backend: " << TestType::type);
  TestType backend;
  const ScopedStoreName name(unique_name(std::string("future-timeout-") + TestType::type));
  auto store = backend.make(name);

  FutureOptions options;
  options.timeout = milliseconds(200);
  Future<std::string> future = make_future<std::string>(*store, options);
  const Proxy<std::string> proxy = future.proxy();
  const auto started = Clock::now();
  CHECK_THROWS_MATCHES(resolve(proxy), FutureTimeoutError,
                       MessageContains({name.get(), future.key().id, "200 ms", "string"}));
  const auto waited = Clock::now() - started;
  CHECK(waited >= milliseconds(190));
  CHECK(waited < milliseconds(5000));
  CHECK_FALSE(is_resolved(proxy));
  future.set_result("late");
  CHECK(*proxy == "late");  // a failed resolution is retried
}

TEST_CASE("A future's factory has kind \"future\" and loads without registration", "[future]") {
  const ScopedStoreName name(unique_name("future-kind"));
  auto store = std::make_shared<LocalStore>(name.get());
  FutureOptions options;
  options.timeout = milliseconds(1234);
  options.evict = true;
  Future<int> future = store->future<int>(options);
  const Proxy<int> proxy = future.proxy();
  CHECK(get_factory(proxy).kind() == "future");
  const auto copy = deserialize<Proxy<int>>(serialize(proxy));
  const auto* factory = get_factory(copy).target<FutureFactory<int>>();
  REQUIRE(factory != nullptr);
  CHECK(factory->key() == future.key());
  CHECK(factory->timeout() == milliseconds(1234));
  CHECK(factory->config().name == name.get());
  future.set_result(5);
  CHECK(*copy == 5);
  CHECK_FALSE(store->exists(future.key()));  // evict: removed after the first resolution
}

TEST_CASE("A future's result of the wrong type is a SerializationError", "[future]") {
  const ScopedStoreName name(unique_name("future-type"));
  auto store = std::make_shared<LocalStore>(name.get());
  Future<int> future = store->future<int>();
  // Read back as a proxy of another type: refused by the wire header ...
  CHECK_THROWS_AS(deserialize<Proxy<std::string>>(serialize(future.proxy())), SerializationError);
  // ... and by the decoder, for a future factory of the wrong type.
  const Proxy<std::string> wrong(Factory<std::string>(
      FutureFactory<std::string>(store->config(), future.key(), FutureOptions{})));
  future.set_result(1);
  CHECK_THROWS_AS(resolve(wrong), SerializationError);
}
