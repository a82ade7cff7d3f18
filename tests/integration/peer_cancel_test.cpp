// SPDX-License-Identifier: Apache-2.0
// A rendezvous value received straight into the caller's object, with the
// owner process stopped (SIGSTOP) after it announced the value and before
// it sent it: the get fails within its command timeout plus a bounded grace
// with a TimeoutError naming the address and the key, this process carries
// on, and the next get (the owner resumed) returns the value. Over real UCX
// (TCP, so the owner's progress moves the data) with a real owner process.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "../../src/detail/ucx_transport.hpp"
#include "support/child_process.hpp"
#include "support/matchers.hpp"
#include "support/peer_values.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::Proxy;
using proxystore::TimeoutError;
using proxystore::test::BackgroundChild;
using proxystore::test::from_hex;
using proxystore::test::message_of;
using proxystore::test::pattern;
using proxystore::test::unique_name;
namespace ucx = proxystore::detail::ucx;

namespace {

/// The state letter of process `pid` ('T' once stopped).
char process_state(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

/// Stops `pid` and waits until the kernel says it is stopped.
void stop(int pid) {
  ::kill(pid, SIGSTOP);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (process_state(pid) != 'T' && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

/// Clears the fault-injection hooks, also when a check throws.
struct HookGuard {
  HookGuard() = default;
  HookGuard(const HookGuard&) = delete;
  HookGuard& operator=(const HookGuard&) = delete;
  ~HookGuard() {
    ucx::testing::set_before_direct_receive({});
    ucx::testing::set_ignore_cancel(false);
  }
};

}  // namespace

TEST_CASE("EndpointStore: an owner stopped mid-rendezvous gives TimeoutError and then works",
          "[peer]") {
  const bool release_fails = GENERATE(false, true);
  INFO((release_fails ? "UCX keeps the cancelled receive: the client is torn down"
                      : "the cancel releases the receive"));
  constexpr std::size_t size = std::size_t{64} << 20U;
  proxystore::test::ChildOptions child;
  child.env = {"UCX_TLS=tcp"};  // the data moves only when the owner progresses
  BackgroundChild owner(PROXYSTORE_HELPER_PEER_OWNER,
                        {unique_name("peer-stalled"), "1", std::to_string(size)}, child);
  const std::string address_line = owner.read_line();
  REQUIRE(address_line.rfind("address ", 0) == 0);
  const std::string address = address_line.substr(8);
  const auto proxy = proxystore::deserialize<Proxy<std::string>>(from_hex(owner.read_line()));
  const auto* factory =
      proxystore::get_factory(proxy).target<proxystore::StoreFactory<std::string>>();
  REQUIRE(factory != nullptr);
  const proxystore::Key key = factory->key();

  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(5000);
  options.command_timeout = std::chrono::milliseconds(1000);
  options.store.cache_size = 0;
  const int port = std::stoi(address.substr(address.rfind(':') + 1));
  auto client = std::make_shared<EndpointStore>(unique_name("peer-stalled-client"), "127.0.0.1",
                                                port, options);
  REQUIRE(client->exists(key));  // connected, the owner answers

  // Another store on this process's client: it must work after a teardown.
  auto bystander = std::make_shared<PeerStore>(unique_name("peer-bystander"));
  auto bystander_client = std::make_shared<EndpointStore>(bystander->name() + "-client",
                                                          "127.0.0.1", bystander->port(), options);
  const proxystore::Key other = bystander->set(std::string("still here"));
  REQUIRE(bystander_client->get<std::string>(other) == std::string("still here"));

  HookGuard guard;
  const int pid = owner.pid();
  ucx::testing::set_before_direct_receive([pid] { stop(pid); });
  ucx::testing::set_ignore_cancel(release_fails);
  const auto started = std::chrono::steady_clock::now();
  const std::clock_t cpu_started = std::clock();  // this process, all threads
  const std::string message =
      message_of<TimeoutError>([&] { (void)client->get<std::string>(key); });
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_started) / CLOCKS_PER_SEC;
  ucx::testing::set_before_direct_receive({});
  ucx::testing::set_ignore_cancel(false);
  INFO(message);
  CHECK(process_state(pid) == 'T');  // it really was stopped throughout
  CHECK_THAT(message, Catch::Contains(address));
  CHECK_THAT(message, Catch::Contains(key.id));
  CHECK_THAT(message, Catch::Contains("command timeout of 1000 ms"));
  CHECK_THAT(message, Catch::Contains(release_fails ? "torn down" : "cancelled"));
  // The command timeout, the cancel grace, then (torn down) at most 2 s of
  // force-closing and the worker's destruction; 3 s of slack for a busy CI.
  CHECK(elapsed < options.command_timeout + ucx::PendingValue::cancel_grace +
                      std::chrono::seconds(release_fails ? 5 : 3));
  // A transfer stalled by its peer must not make this process spin a core
  // while it waits (the progress thread polls once a millisecond instead).
  const double elapsed_seconds = std::chrono::duration<double>(elapsed).count();
  INFO("CPU " << cpu_seconds << " s over " << elapsed_seconds << " s");
  CHECK(cpu_seconds < 0.1 * elapsed_seconds);

  // The owner resumes: the store works again (a new connection, or a new
  // client worker after a teardown), and so does every other store.
  ::kill(pid, SIGCONT);
  CHECK(client->get<std::string>(key) == pattern(size));
  CHECK(bystander_client->get<std::string>(other) == std::string("still here"));
  owner.close_stdin();
  CHECK(owner.wait(std::chrono::seconds(10)) == 0);
}

#endif  // PROXYSTORE_HAS_UCX
