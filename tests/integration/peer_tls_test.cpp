// SPDX-License-Identifier: Apache-2.0
// UCX_TLS naming shared memory alone: UCX 1.13 cannot establish a
// client/server connection without a network transport. The store must say
// so (naming UCX_TLS and what to add), within the timeouts, never hang.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include <proxystore/stores/peer.hpp>

#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>

using proxystore::test::ProcessResult;
using proxystore::test::run_process;

TEST_CASE("UCX_TLS=sm alone: a clear error naming UCX_TLS, not a hang", "[peer]") {
  // In a fresh process: the client worker is created once per process, with
  // the UCX_TLS of that moment. The peer_owner helper's own store is made
  // under UCX_TLS=sm and a client of it fetches.
  const ProcessResult result = run_process(PROXYSTORE_HELPER_PEER_OWNER, {"--tls-check"}, "",
                                           {"UCX_TLS=sm"}, std::chrono::milliseconds(30000));
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  CHECK(result.exit_code == 0);
  CHECK_THAT(result.out, Catch::Contains("UCX_TLS='sm'"));
  CHECK_THAT(result.out, Catch::Contains("add tcp"));
}

#endif  // PROXYSTORE_HAS_UCX
