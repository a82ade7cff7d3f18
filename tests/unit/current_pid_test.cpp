// SPDX-License-Identifier: Apache-2.0
// detail::current_pid: the library's fork checks compare it on every
// request, so it must be this process's id in a forked child too.
#include "../../src/detail/current_pid.hpp"

#include <catch2/catch.hpp>

#include <sys/syscall.h>
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

#if defined(SYS_fork)
TEST_CASE("current_pid: a child made without fork()'s handlers sees its own id", "[unit]") {
  // A raw fork system call runs no atfork handler (as _Fork() and clone()
  // do not): the cache must not hand the child its parent's id.
  using proxystore::detail::current_pid;
  const pid_t parent = current_pid();
  const auto child = static_cast<pid_t>(::syscall(SYS_fork));
  REQUIRE(child >= 0);
  if (child == 0) {
    const auto own = static_cast<pid_t>(::syscall(SYS_getpid));
    ::_exit(current_pid() == own && current_pid() != parent ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}
#endif  // SYS_fork
