// SPDX-License-Identifier: Apache-2.0
// fork() with a PeerStore and an EndpointStore in the process: their UCX
// workers, progress threads and sockets belong to the parent, and UCX's
// process-wide state does not survive fork. The child gets clear errors
// from both, leaves the parent's connections alone even when it exits
// through the static destructors, and the parent keeps serving.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/child_process.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

using proxystore::EndpointStore;
using proxystore::PeerOptions;
using proxystore::PeerStore;
using proxystore::test::unique_name;

namespace {

PeerOptions fork_options() {
  PeerOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(10000);
  options.store.cache_size = 0;
  return options;
}

/// The child's checks; returns its exit code (0: all good).
int child_checks(PeerStore& owner, EndpointStore& client, const proxystore::Key& small) {
  // The parent's PeerStore: its objects and listener stay with the parent.
  try {
    (void)owner.set(std::string("from the child"));
    std::fprintf(stderr, "child: a put on the parent's PeerStore did not throw\n");
    return 1;
  } catch (const proxystore::StoreOperationError& e) {
    const std::string message = e.what();
    if (message.find("forked child") == std::string::npos ||
        message.find(owner.address()) == std::string::npos) {
      std::fprintf(stderr, "child: unclear message: %s\n", e.what());
      return 2;
    }
  }
  // The parent's client: UCX cannot start again in this child.
  try {
    (void)client.get<std::string>(small);
    std::fprintf(stderr, "child: a get through the parent's client did not throw\n");
    return 3;
  } catch (const proxystore::ConnectionError& e) {
    if (std::string(e.what()).find("forked child") == std::string::npos) {
      std::fprintf(stderr, "child: unclear message: %s\n", e.what());
      return 4;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("PeerStore: a forked child gets clear errors and the parent keeps serving",
          "[peer][fork]") {
  auto owner = std::make_shared<PeerStore>(unique_name("peer-fork"), fork_options());
  auto client = std::make_shared<EndpointStore>(owner->name() + "-client", "127.0.0.1",
                                                owner->port(), fork_options());
  const std::string small_value(300, 's');
  const std::string large_value(std::size_t{3} << 20U, 'l');
  const auto proxy = owner->proxy(small_value);  // registers the store
  const proxystore::Key small = owner->set(small_value);
  const proxystore::Key large = owner->set(large_value);
  // The parent's client is connected and its progress thread runs.
  REQUIRE(client->get<std::string>(large) == large_value);

  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int code = child_checks(*owner, *client, small);
    // exit(), not _exit(): the registry's PeerStore is destroyed in the
    // child, which must leave the parent's worker and sockets alone.
    std::exit(code);  // NOLINT(concurrency-mt-unsafe)
  }
  // Meanwhile the parent serves and fetches.
  int parent_errors = 0;
  for (int i = 0; i < 20; ++i) {
    if (client->get<std::string>(small) != small_value)
      ++parent_errors;
  }
  const int status = proxystore::test::wait_or_kill(pid, std::chrono::seconds(60));
  INFO("child status " << status
                       << " (-1: hung and killed; 1, 3: no error in the child; 2, 4: an unclear "
                          "one, on stderr)");
  REQUIRE(status != -1);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(parent_errors == 0);
  // The parent still serves, on its old connection and on a new one.
  CHECK(client->get<std::string>(large) == large_value);
  auto fresh = std::make_shared<EndpointStore>(owner->name() + "-fresh", "127.0.0.1", owner->port(),
                                               fork_options());
  CHECK(fresh->get<std::string>(large) == large_value);
  CHECK(*proxy == small_value);
  CHECK_FALSE(owner->set(std::string("after the fork")).id.empty());
}

#endif  // PROXYSTORE_HAS_UCX
