// SPDX-License-Identifier: Apache-2.0
#include "detail/prefault.hpp"

#include <cerrno>
#include <cstdint>
#include <exception>
#include <thread>

#if defined(__linux__)
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>
#include <csignal>

#include <atomic>
#endif

namespace proxystore::detail {

#if defined(__linux__)

namespace {

/// MADV_POPULATE_WRITE (Linux 5.14), defined here for older C libraries.
constexpr int populate_write = 23;

/// Set once the kernel (or a seccomp filter) refused the advice: no
/// thread is started for it again.
std::atomic<bool> refused{false};

void populate(char* begin, char* end) noexcept {
  if (end <= begin)
    return;
  if (::madvise(begin, static_cast<std::size_t>(end - begin), populate_write) != 0 &&
      (errno == EINVAL || errno == EPERM || errno == ENOSYS))
    refused.store(true, std::memory_order_relaxed);
}

/// Whether this thread may run on more than one CPU (a caller bound to one
/// core, as MPI and OpenMP bind ranks, gains nothing from a second thread).
bool has_second_cpu() noexcept {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  return ::sched_getaffinity(0, sizeof cpus, &cpus) != 0 || CPU_COUNT(&cpus) > 1;
}

/// Starts `first_half` with every signal blocked (process-directed signals
/// keep going to the application's own threads) and joins it with
/// cancellation disabled (a cancelled caller must not unwind through here).
void run_beside(char* first, char* second, char* last) noexcept {
  sigset_t all;
  sigset_t previous;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &previous);
  try {
    std::thread first_half([first, second] { populate(first, second); });
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    populate(second, last);
    int cancel_state = 0;
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    first_half.join();
    ::pthread_setcancelstate(cancel_state, nullptr);
  } catch (const std::exception&) {
    // No thread (std::system_error): the caller's first touch faults the
    // pages one at a time, as without this call.
    ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  }
}

}  // namespace

void prefault_pages(void* data, std::size_t size) noexcept {
  if (data == nullptr || size < prefault_from || refused.load(std::memory_order_relaxed) ||
      !has_second_cpu())
    return;
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  constexpr std::uintptr_t huge_page = std::uintptr_t{2} << 20U;
  // Offsets from `data` (whole pages: madvise takes page-aligned ranges).
  auto* const bytes = static_cast<char*>(data);
  const auto address = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t begin = ((address + page - 1) & ~(page - 1)) - address;
  const std::uintptr_t end = ((address + size) & ~(page - 1)) - address;
  // Split on a huge page boundary, so no huge page is faulted by both.
  const std::uintptr_t middle =
      ((address + begin + (end - begin) / 2) & ~(huge_page - 1)) - address;
  run_beside(bytes + begin, bytes + middle, bytes + end);
}

#else

void prefault_pages(void* /*data*/, std::size_t /*size*/) noexcept {}

#endif

}  // namespace proxystore::detail
