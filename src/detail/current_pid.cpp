// SPDX-License-Identifier: Apache-2.0
#include "detail/current_pid.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <new>

namespace proxystore::detail {

namespace {

#if defined(__linux__) && defined(MADV_WIPEONFORK)
/// A page of its own holding the cached id, marked MADV_WIPEONFORK (Linux
/// 4.14): the kernel hands the child of any fork or clone without
/// CLONE_VM (fork(), _Fork(), clone(), whatever the order of atfork
/// handlers) a zeroed copy, and 0 means "ask getpid() again". Null when
/// the page or the advice is not available: then every call asks getpid().
std::atomic<pid_t>* wipe_on_fork_slot() noexcept {
  const auto page_size = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  void* page =
      ::mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED)  // NOLINT(cppcoreguidelines-pro-type-cstyle-cast)
    return nullptr;
  if (::madvise(page, page_size, MADV_WIPEONFORK) != 0) {
    ::munmap(page, page_size);
    return nullptr;
  }
  return new (page) std::atomic<pid_t>(0);
}
#else
std::atomic<pid_t>* wipe_on_fork_slot() noexcept {
  return nullptr;
}
#endif

// Set up when the library is loaded (static initialisation), not on first
// use: a guard of a function-local static held by one thread while
// another forks would block the child's first call for ever. A call made
// by another static initialiser before this one ran sees null and asks
// getpid().
std::atomic<pid_t>* const slot = wipe_on_fork_slot();

}  // namespace

pid_t current_pid() noexcept {
  if (slot == nullptr)
    return ::getpid();
  pid_t pid = slot->load(std::memory_order_relaxed);
  if (pid == 0) {
    pid = ::getpid();
    slot->store(pid, std::memory_order_relaxed);
  }
  return pid;
}

}  // namespace proxystore::detail
