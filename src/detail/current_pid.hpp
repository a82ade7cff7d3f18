// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sys/types.h>

namespace proxystore::detail {

/// This process's id, without a system call. The library compares it on
/// every request (a forked child must not use its parent's connections or
/// UCX worker), and getpid() is a system call since glibc 2.25: about 1 µs
/// on a virtual machine, several per peer get. The cache lives in a
/// MADV_WIPEONFORK page, which the kernel zeroes in the child of every
/// fork or clone that does not share memory, so a child never sees its
/// parent's id, whatever runs first in it (atfork handlers, _Fork(), raw
/// clone()). Without that page (Linux before 4.14) every call asks getpid().
pid_t current_pid() noexcept;

}  // namespace proxystore::detail
