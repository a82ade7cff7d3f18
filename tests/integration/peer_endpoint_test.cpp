// SPDX-License-Identifier: Apache-2.0
// The proxystore-endpoint executable and EndpointStore, with the endpoint
// a real child process on loopback.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::test::BackgroundChild;
using proxystore::test::message_of;
using proxystore::test::ProcessResult;
using proxystore::test::run_process;

namespace {

std::atomic<int> endpoint_counter{0};

std::string endpoint_store_name() {
  return "endpoint-" + std::to_string(::getpid()) + "-" + std::to_string(endpoint_counter++);
}

/// A running proxystore-endpoint and the port it reported.
struct Endpoint {
  std::unique_ptr<BackgroundChild> process;
  int port = 0;

  explicit Endpoint(std::vector<std::string> args) {
    process = std::make_unique<BackgroundChild>(PROXYSTORE_TEST_ENDPOINT, args);
    // UCX prints its own log lines on stdout too: skip them.
    std::string line = process->read_line(std::chrono::seconds(20));
    for (int skipped = 0; skipped < 20 && line.rfind("listening on ", 0) != 0; ++skipped)
      line = process->read_line(std::chrono::seconds(20));
    INFO(line);
    REQUIRE(line.rfind("listening on 127.0.0.1:", 0) == 0);
    port = std::stoi(line.substr(line.rfind(':') + 1));
  }
};

PeerOptions client_options() {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(10000);
  options.store.cache_size = 0;
  return options;
}

}  // namespace

TEST_CASE("proxystore-endpoint: holds objects for processes, SIGTERM exits 0", "[peer][endpoint]") {
  Endpoint endpoint({"--listen", "127.0.0.1:0"});
  auto store = std::make_shared<EndpointStore>(endpoint_store_name(), "127.0.0.1", endpoint.port,
                                               client_options());
  CHECK(store->address() == "127.0.0.1:" + std::to_string(endpoint.port));
  const std::string value(3 << 20, 'x');
  auto proxy = store->proxy(value);
  const std::string serialized = proxystore::serialize(proxy);
  // The producer's store is gone; the endpoint still holds the object.
  store.reset();
  proxystore::unregister_store(proxystore::get_factory(proxy)
                                   .target<proxystore::StoreFactory<std::string>>()
                                   ->config()
                                   .name);
  const ProcessResult result = run_process(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string_digest"},
                                           serialized, {}, std::chrono::milliseconds(30000));
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "size=" + std::to_string(value.size()) +
                          " sum=" + std::to_string(value.size() * static_cast<unsigned>('x')));

  endpoint.process->kill(SIGTERM);
  CHECK(endpoint.process->wait(std::chrono::seconds(10)) == 0);
}

TEST_CASE("proxystore-endpoint: exits 2 when it cannot listen", "[peer][endpoint]") {
  Endpoint first({"--listen", "127.0.0.1:0"});
  const ProcessResult second =
      run_process(PROXYSTORE_TEST_ENDPOINT, {"--listen", "127.0.0.1:" + std::to_string(first.port)},
                  "", {}, std::chrono::milliseconds(20000));
  INFO(second.out << second.err);
  CHECK(second.exit_code == 2);
  CHECK_THAT(second.err, Catch::Contains(std::to_string(first.port)));
  const ProcessResult bad = run_process(PROXYSTORE_TEST_ENDPOINT, {"--memory-limit", "12Q"}, "", {},
                                        std::chrono::milliseconds(20000));
  CHECK(bad.exit_code == 1);
}

TEST_CASE("proxystore-endpoint: restarted -> a clear error, then it works", "[peer][endpoint]") {
  auto endpoint = std::make_unique<Endpoint>(std::vector<std::string>{"--listen", "127.0.0.1:0"});
  const int port = endpoint->port;
  auto store =
      std::make_shared<EndpointStore>(endpoint_store_name(), "127.0.0.1", port, client_options());
  const proxystore::Key before = store->set(std::string("before"));
  CHECK(store->get<std::string>(before) == std::string("before"));

  endpoint->process->kill(SIGTERM);
  CHECK(endpoint->process->wait(std::chrono::seconds(10)) == 0);
  const std::string message =
      message_of<proxystore::ConnectionError>([&] { store->get<std::string>(before); });
  CHECK_THAT(message, Catch::Contains("127.0.0.1:" + std::to_string(port)));
  CHECK_THAT(message, Catch::Contains(before.id));

  endpoint = std::make_unique<Endpoint>(
      std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port)});
  CHECK_FALSE(store->get<std::string>(before).has_value());  // a restart starts empty
  const proxystore::Key after = store->set(std::string("after"));
  CHECK(store->get<std::string>(after) == std::string("after"));
}

TEST_CASE("proxystore-endpoint: a memory limit refuses, a spill directory takes the rest",
          "[peer][endpoint]") {
  SECTION("no spill directory: StoreOperationError") {
    Endpoint endpoint({"--listen", "127.0.0.1:0", "--memory-limit", "4K"});
    auto store = std::make_shared<EndpointStore>(endpoint_store_name(), "127.0.0.1", endpoint.port,
                                                 client_options());
    store->set(std::string(1000, 'a'));
    const std::string message =
        message_of<proxystore::StoreOperationError>([&] { store->set(std::string(8000, 'b')); });
    CHECK_THAT(message, Catch::Contains("4096"));
  }
  SECTION("spill directory: beyond the limit, objects go to files") {
    proxystore::test::TempDir spill("endpoint-spill");
    Endpoint endpoint(
        {"--listen", "127.0.0.1:0", "--memory-limit", "4K", "--spill-dir", spill.path().string()});
    auto store = std::make_shared<EndpointStore>(endpoint_store_name(), "127.0.0.1", endpoint.port,
                                                 client_options());
    const proxystore::Key small = store->set(std::string(1000, 'a'));
    const proxystore::Key large = store->set(std::string(100000, 'b'));
    CHECK(std::distance(std::filesystem::directory_iterator(spill.path()),
                        std::filesystem::directory_iterator()) == 1);
    CHECK(store->get<std::string>(small) == std::string(1000, 'a'));
    CHECK(store->get<std::string>(large) == std::string(100000, 'b'));
    store->evict(large);
    CHECK_FALSE(store->exists(large));
    CHECK(std::filesystem::is_empty(spill.path()));
  }
}

#endif  // PROXYSTORE_HAS_UCX
