// SPDX-License-Identifier: Apache-2.0
// PeerStore and EndpointStore over real UCX on loopback, with real
// processes: the proxy_consumer helper resolves this process's objects, and
// the peer_owner helper serves objects this process resolves (and kills).
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/peer_values.hpp"
#include "support/redis_server.hpp"
#include "support/scoped_env.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

using proxystore::ConnectionError;
using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::Proxy;
using proxystore::test::BackgroundChild;
using proxystore::test::from_hex;
using proxystore::test::message_of;
using proxystore::test::pattern;
using proxystore::test::ProcessResult;
using proxystore::test::run_process;
using proxystore::test::ScopedEnv;

namespace {

std::atomic<int> store_counter{0};

/// A store name no other test (or earlier run in this process) uses.
std::string unique_name(const std::string& stem) {
  return stem + "-" + std::to_string(::getpid()) + "-" + std::to_string(store_counter++);
}

/// The key a store proxy resolves.
const proxystore::Key& key_of(const Proxy<std::string>& proxy) {
  const auto* factory =
      proxystore::get_factory(proxy).target<proxystore::StoreFactory<std::string>>();
  REQUIRE(factory != nullptr);
  return factory->key();
}

PeerOptions quick_options() {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(10000);
  return options;
}

/// Resolves `serialized` (a Proxy<std::string>) in a proxy_consumer process.
ProcessResult consume_digest(const std::string& serialized,
                             const std::vector<std::string>& environment = {}) {
  return run_process(PROXYSTORE_HELPER_PROXY_CONSUMER, {"string_digest"}, serialized, environment,
                     std::chrono::milliseconds(60000));
}

}  // namespace

TEST_CASE("PeerStore: put, get, exists, evict and batches in the owning process", "[peer]") {
  auto store = std::make_shared<PeerStore>(unique_name("peer-local"), quick_options());
  CHECK(store->address().rfind("127.0.0.1:", 0) == 0);
  CHECK(store->port() > 0);
  const proxystore::StoreConfig config = store->config();
  CHECK(config.type == "peer");
  CHECK(config.options.at("host") == "127.0.0.1");
  CHECK(config.options.at("port") == std::to_string(store->port()));

  const proxystore::Key key = store->set(std::string("hello"));
  CHECK(store->exists(key));
  CHECK(store->get<std::string>(key) == std::string("hello"));
  store->evict(key);
  CHECK_FALSE(store->exists(key));
  CHECK_FALSE(store->get<std::string>(key).has_value());

  const std::vector<proxystore::Key> keys = store->set_batch(std::vector<int>{1, 2, 3});
  const std::vector<std::optional<int>> values = store->get_batch<int>(keys);
  REQUIRE(values.size() == 3);
  CHECK(*values[0] == 1);
  CHECK(*values[2] == 3);
}

TEST_CASE("EndpointStore: a client fetches, batches and evicts on a PeerStore", "[peer]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-owner"), quick_options());
  PeerOptions client_options = quick_options();
  client_options.store.cache_size = 0;
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), client_options);
  CHECK(client->config().type == "peer");

  const proxystore::Key key = owner->set(std::string("served"));
  CHECK(client->exists(key));
  CHECK(client->get<std::string>(key) == std::string("served"));

  const proxystore::Key put_key = client->set(std::vector<double>{1.5, 2.5});
  CHECK(owner->get<std::vector<double>>(put_key) == std::vector<double>{1.5, 2.5});

  const std::vector<proxystore::Key> keys = client->set_batch(std::vector<std::string>{"a", "bb"});
  std::vector<proxystore::Key> wanted = keys;
  wanted.push_back(proxystore::Key{"no-such-key"});
  const auto values = client->get_batch<std::string>(wanted);
  REQUIRE(values.size() == 3);
  CHECK(*values[0] == "a");
  CHECK(*values[1] == "bb");
  CHECK_FALSE(values[2].has_value());

  client->evict(key);
  CHECK_FALSE(owner->exists(key));
  CHECK_FALSE(client->get<std::string>(key).has_value());
}

TEST_CASE("PeerStore: a memory limit refuses puts beyond it", "[peer]") {
  PeerOptions options = quick_options();
  options.memory_limit = 4096;
  auto store = std::make_shared<PeerStore>(unique_name("peer-limit"), options);
  store->set(std::string(1000, 'a'));
  const std::string local =
      message_of<proxystore::StoreOperationError>([&] { store->set(std::string(5000, 'b')); });
  CHECK_THAT(local, Catch::Contains("memory limit of 4096 bytes"));
  CHECK_THAT(local, Catch::Contains(store->address()));

  auto client = std::make_shared<EndpointStore>(store->name() + "-client", "127.0.0.1",
                                                store->port(), quick_options());
  const std::string remote =
      message_of<proxystore::StoreOperationError>([&] { client->set(std::string(5000, 'c')); });
  CHECK_THAT(remote, Catch::Contains("4096"));
  CHECK(store->memory_bytes() < 4096);
}

TEST_CASE("PeerStore: objects from 100 B to 256 MB resolve in another process", "[peer]") {
  const char* transport = GENERATE("tcp", "default");
  INFO("UCX_TLS=" << transport);
  std::unique_ptr<ScopedEnv> tls;
  if (std::string(transport) != "default")
    tls = std::make_unique<ScopedEnv>("UCX_TLS", transport);
  auto store = std::make_shared<PeerStore>(unique_name("peer-xproc"), quick_options());
  for (const std::size_t size :
       {std::size_t{100}, std::size_t{1} << 20U, std::size_t{256} << 20U}) {
    if (size > (std::size_t{1} << 20U) && std::string(transport) == "tcp")
      continue;  // the largest object once, on the default transports
    INFO("size " << size);
    std::uint64_t sum = 0;
    const std::string value = pattern(size, &sum);
    const std::string serialized = proxystore::serialize(store->proxy(value));
    const ProcessResult result = consume_digest(serialized);
    INFO("stdout: " << result.out << "\nstderr: " << result.err);
    REQUIRE(result.exit_code == 0);
    CHECK(result.out == "size=" + std::to_string(size) + " sum=" + std::to_string(sum));
  }
}

TEST_CASE("PeerStore: a missing object is ProxyResolveMissingKeyError in the consumer", "[peer]") {
  auto store = std::make_shared<PeerStore>(unique_name("peer-missing"), quick_options());
  auto proxy = store->proxy(std::string("gone soon"));
  const std::string serialized = proxystore::serialize(proxy);
  store->evict(key_of(proxy));
  const ProcessResult result = consume_digest(serialized);
  INFO(result.out << result.err);
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.out, Catch::Contains("ProxyResolveMissingKeyError"));
}

TEST_CASE("PeerStore: the owner killed -> ConnectionError naming address and key", "[peer]") {
  BackgroundChild owner(PROXYSTORE_HELPER_PEER_OWNER, {unique_name("peer-killed"), "3", "1000"});
  const std::string address_line = owner.read_line();
  REQUIRE(address_line.rfind("address ", 0) == 0);
  const std::string address = address_line.substr(8);
  std::vector<Proxy<std::string>> proxies;
  for (int i = 0; i < 3; ++i)
    proxies.push_back(proxystore::deserialize<Proxy<std::string>>(from_hex(owner.read_line())));

  // Resolved here: the rebuilt client fetches from the owner process.
  CHECK(proxies[0]->size() == 1000);
  CHECK(*proxies[0] == pattern(1000));

  owner.kill(SIGKILL);
  const auto started = std::chrono::steady_clock::now();
  const std::string message = message_of<ConnectionError>([&] { (void)proxies[1]->size(); });
  const auto elapsed = std::chrono::steady_clock::now() - started;
  CHECK_THAT(message, Catch::Contains(address));
  CHECK_THAT(message, Catch::Contains(key_of(proxies[1]).id));
  CHECK(elapsed < std::chrono::milliseconds(5000 + 1000));  // the config's connect_timeout

  // A fresh process: refused at connect.
  const ProcessResult result = consume_digest(proxystore::serialize(proxies[2]));
  INFO(result.out << result.err);
  CHECK(result.exit_code == 3);
  CHECK_THAT(result.out, Catch::Contains("ConnectionError"));
  CHECK_THAT(result.out, Catch::Contains(address));
}

TEST_CASE("PeerStore: a forged proxy naming a non-allowed address is refused", "[peer]") {
  proxystore::StoreConfig forged{
      "peer", unique_name("peer-forged"), {{"host", "10.11.12.13"}, {"port", "4444"}}};
  const std::string message =
      message_of<proxystore::ForbiddenStoreError>([&] { proxystore::get_or_create_store(forged); });
  CHECK_THAT(message, Catch::Contains("10.11.12.13"));
  CHECK(proxystore::get_store(forged.name) == nullptr);
}

TEST_CASE("EndpointStore: a listener that never speaks UCX is a ConnectionError, not a hang",
          "[peer]") {
  // A plain TCP socket that accepts (the kernel does) and never answers.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  const int port = ntohs(address.sin_port);

  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(500);
  options.command_timeout = std::chrono::milliseconds(500);
  auto client =
      std::make_shared<EndpointStore>(unique_name("peer-silent"), "127.0.0.1", port, options);
  const auto started = std::chrono::steady_clock::now();
  const std::string message =
      message_of<ConnectionError>([&] { client->get<std::string>(proxystore::Key{"k1"}); });
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  CHECK_THAT(message, Catch::Contains("127.0.0.1:" + std::to_string(port)));
  CHECK_THAT(message, Catch::Contains("k1"));
  ::close(fd);
}

TEST_CASE("PeerStore: 8 threads put, get, exist and evict at once", "[peer][concurrency]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-threads"), quick_options());
  PeerOptions client_options = quick_options();
  client_options.store.cache_size = 0;
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), client_options);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string value = std::to_string(t) + ":" + std::to_string(i);
        proxystore::Store& writer = (i % 2 == 0) ? static_cast<proxystore::Store&>(*owner)
                                                 : static_cast<proxystore::Store&>(*client);
        const proxystore::Key key = writer.set(value);
        if (client->get<std::string>(key) != value || !owner->exists(key))
          ++failures;
        client->evict(key);
        if (client->exists(key))
          ++failures;
      }
    });
  }
  for (auto& thread : threads)
    thread.join();
  CHECK(failures.load() == 0);
  CHECK(owner->memory_bytes() == 0);
}

TEST_CASE("EndpointStore: a future's waiter is woken by the owner's put", "[peer]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-future"), quick_options());
  auto future = owner->future<std::string>();
  const std::string serialized = proxystore::serialize(future.proxy());
  std::thread setter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    future.set_result(std::string("later"));
  });
  const ProcessResult result = consume_digest(serialized);
  setter.join();
  INFO(result.out << result.err);
  CHECK(result.exit_code == 0);
  CHECK(result.out == "size=5 sum=" + std::to_string('l' + 'a' + 't' + 'e' + 'r'));
}

#endif  // PROXYSTORE_HAS_UCX
