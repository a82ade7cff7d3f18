// SPDX-License-Identifier: Apache-2.0
// <proxystore/consumer.hpp> alone is enough to receive a proxy made in
// another process and resolve it: the store is rebuilt from the proxy's
// config by the builder the library registers for its type. (This file
// includes no other proxystore header on purpose.)
#include <proxystore/consumer.hpp>

#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

// The consumer header keeps fmt/ranges.h out (see proxy.hpp): a consumer
// that never formats a range does not compile it.
#ifdef FMT_RANGES_H_
#error "<proxystore/consumer.hpp> must not include <fmt/ranges.h>"
#endif

namespace ps = proxystore;

TEST_CASE("consumer.hpp alone resolves a proxy through a built-in store builder",
          "[consumer][proxy]") {
  ps::test::TempDir dir("proxystore-consumer-header");
  const ps::StoreConfig config{
      "file", "consumer-header-test", {{"directory", dir.path().string()}}};

  // The producer's side, without any store header: the "file" builder.
  std::shared_ptr<ps::Store> producer = ps::get_or_create_store(config);
  const std::vector<double> values{1.5, 2.5, 3.0};
  const std::string wire = ps::serialize(producer->proxy(values));
  ps::unregister_store(config.name);
  producer.reset();

  // The consumer's side: a process with no store of that name.
  REQUIRE(ps::get_store(config.name) == nullptr);
  auto proxy = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);
  CHECK_FALSE(ps::is_resolved(proxy));
  const std::vector<double>& received = proxy;
  CHECK(received == values);
  CHECK(std::accumulate(proxy.begin(), proxy.end(), 0.0) == 7.0);
  CHECK(proxy->size() == 3);
  CHECK(ps::get_store(config.name) != nullptr);  // rebuilt and registered
  ps::unregister_store(config.name);
}

TEST_CASE("consumer.hpp alone resolves a future's proxy", "[consumer][future]") {
  ps::test::TempDir dir("proxystore-consumer-future");
  const ps::StoreConfig config{
      "file", "consumer-future-test", {{"directory", dir.path().string()}}};
  std::shared_ptr<ps::Store> store = ps::get_or_create_store(config);
  ps::FutureOptions options;
  options.timeout = std::chrono::milliseconds(5000);
  ps::Future<std::map<std::string, int>> future =
      store->future<std::map<std::string, int>>(options);
  const std::string wire = ps::serialize(future.proxy());
  future.set_result({{"a", 1}, {"b", 2}});

  auto proxy = ps::deserialize<ps::Proxy<std::map<std::string, int>>>(wire);
  CHECK(proxy->at("b") == 2);
  const auto* factory =
      ps::get_factory(proxy).target<ps::FutureFactory<std::map<std::string, int>>>();
  REQUIRE(factory != nullptr);
  CHECK(factory->timeout() == std::chrono::milliseconds(5000));
  CHECK(factory->key() == future.key());
  ps::unregister_store(config.name);
}
