// SPDX-License-Identifier: Apache-2.0
// detail::current_pid: the library's fork checks compare it on every
// request, so it must be this process's id in a forked child too.
#include "../../src/detail/current_pid.hpp"

#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

TEST_CASE("current_pid: this process's id, in the parent and in a forked child", "[unit]") {
  using proxystore::detail::current_pid;
  REQUIRE(current_pid() == ::getpid());
  const pid_t parent = current_pid();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Only the answer leaves the child: 0 when the cached id was refreshed.
    ::_exit(current_pid() == ::getpid() && current_pid() != parent ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(current_pid() == parent);
}
