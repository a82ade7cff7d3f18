// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

namespace proxystore::detail {

/// This process's id, without a system call. The library compares it on
/// every request (a forked child must not use its parent's connections or
/// UCX worker), and getpid() is a system call since glibc 2.25: about 1 µs
/// on a virtual machine, several per peer get. The value is refreshed in
/// the child of every fork() (pthread_atfork), which is what those checks
/// guard against.
pid_t current_pid() noexcept;

}  // namespace proxystore::detail
