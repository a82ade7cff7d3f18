// SPDX-License-Identifier: Apache-2.0
// proxystore::mpi under mpiexec (2 or more ranks): send / receive / broadcast
// of proxies over a real FileStore, and what a receiver refuses.
#include "support/temp_dir.hpp"

#include <proxystore/mpi.hpp>
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

int rank = 0;
int size = 1;
int failures = 0;

#define MPI_CHECK(condition)                                                               \
  do {                                                                                     \
    if (!(condition)) {                                                                    \
      std::fprintf(stderr, "rank %d: %s:%d: CHECK failed: %s\n", rank, __FILE__, __LINE__, \
                   #condition);                                                            \
      ++failures;                                                                          \
    }                                                                                      \
  } while (false)

/// Runs `body`, expecting it to throw E with `part` in its message.
template <class E, class Body>
void expect_throw(const char* what, const std::string& part, Body&& body) {
  try {
    body();
    std::fprintf(stderr, "rank %d: %s: no exception\n", rank, what);
    ++failures;
  } catch (const E& e) {
    if (std::string(e.what()).find(part) == std::string::npos) {
      std::fprintf(stderr, "rank %d: %s: message '%s' lacks '%s'\n", rank, what, e.what(),
                   part.c_str());
      ++failures;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d: %s: unexpected exception: %s\n", rank, what, e.what());
    ++failures;
  }
}

std::vector<double> dataset(std::size_t n) {
  std::vector<double> values(n);
  std::iota(values.begin(), values.end(), 0.0);
  return values;
}

double expected_sum(std::size_t n) {
  return static_cast<double>(n) * static_cast<double>(n - 1) / 2;
}

using Vec = std::vector<double>;
constexpr std::size_t kValues = 131072;  // 1 MiB of doubles

// Rank 0 sends one proxy to every other rank; each resolves it from the store.
void send_receive(ps::Store* store) {
  if (rank == 0) {
    ps::Proxy<Vec> proxy = store->proxy(dataset(kValues));
    MPI_CHECK(ps::serialize(proxy).size() < 512);  // the proxy, not the megabyte
    for (int to = 1; to < size; ++to)
      ps::mpi::send(proxy, to, 1, MPI_COMM_WORLD);
  } else {
    MPI_Status status{};
    ps::Proxy<Vec> proxy = ps::mpi::receive<Vec>(0, 1, MPI_COMM_WORLD, {}, &status);
    MPI_CHECK(status.MPI_SOURCE == 0);
    MPI_CHECK(!ps::is_resolved(proxy));
    MPI_CHECK(proxy->size() == kValues);
    MPI_CHECK(std::accumulate(proxy->begin(), proxy->end(), 0.0) == expected_sum(kValues));
  }
}

// A broadcast reaches every rank; only even ranks use it (and resolve it).
void broadcast(ps::Store* store) {
  std::optional<ps::Proxy<Vec>> mine;
  if (rank == 0)
    mine = store->proxy(dataset(kValues));
  ps::Proxy<Vec> proxy =
      ps::mpi::broadcast(rank == 0 ? *mine : ps::Proxy<Vec>(), 0, MPI_COMM_WORLD);
  if (rank % 2 == 0) {
    MPI_CHECK(proxy->size() == kValues);
    MPI_CHECK(proxy->back() == static_cast<double>(kValues - 1));
  } else {
    MPI_CHECK(!ps::is_resolved(proxy));
  }
}

// A message above the limit is refused before anything is allocated, and
// left in MPI's queue; garbage below it fails to decode.
void hostile_receive() {
  if (rank == 1) {
    const std::string big(2U << 20U, 'x');
    MPI_Send(big.data(), static_cast<int>(big.size()), MPI_BYTE, 0, 2, MPI_COMM_WORLD);
    const std::string junk = "not a proxy at all";
    MPI_Send(junk.data(), static_cast<int>(junk.size()), MPI_BYTE, 0, 3, MPI_COMM_WORLD);
  } else if (rank == 0) {
    expect_throw<ps::SerializationError>("oversized message",
                                         "refusing a 2097152-byte message from rank 1",
                                         [] { (void)ps::mpi::receive<Vec>(1, 2, MPI_COMM_WORLD); });
    ps::mpi::ReceiveOptions tight;
    tight.max_size = 1000;
    expect_throw<ps::SerializationError>("explicit limit", "limit of 1000 bytes", [&] {
      (void)ps::mpi::receive<Vec>(MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, tight);
    });
    // Still queued: drain it the MPI way.
    std::string drain(2U << 20U, '\0');
    MPI_Recv(drain.data(), static_cast<int>(drain.size()), MPI_BYTE, 1, 2, MPI_COMM_WORLD,
             MPI_STATUS_IGNORE);
    expect_throw<ps::SerializationError>("garbage", "",
                                         [] { (void)ps::mpi::receive<Vec>(1, 3, MPI_COMM_WORLD); });
    ps::mpi::ReceiveOptions soon;
    soon.timeout = std::chrono::milliseconds(100);
    expect_throw<ps::TimeoutError>("silence", "no message within 100 ms", [&] {
      (void)ps::mpi::receive<Vec>(1, 99, MPI_COMM_WORLD, soon);
    });
  }
}

// A broadcast refused by one rank is refused by every rank (nobody hangs);
// a root that cannot serialize tells the others.
void hostile_broadcast(ps::Store* store) {
  ps::Proxy<Vec> proxy;
  if (rank == 0)
    proxy = store->proxy(dataset(16));
  ps::mpi::ReceiveOptions options;
  if (rank == size - 1)
    options.max_size = 10;
  expect_throw<ps::SerializationError>("broadcast over a limit", "above the limit", [&] {
    (void)ps::mpi::broadcast(proxy, 0, MPI_COMM_WORLD, options);
  });
  ps::Proxy<Vec> lambda(ps::LambdaFactory<Vec>([] { return Vec{1.0}; }));
  if (rank == 0) {
    expect_throw<ps::NotSerializableError>(
        "root cannot serialize", "", [&] { (void)ps::mpi::broadcast(lambda, 0, MPI_COMM_WORLD); });
  } else {
    expect_throw<ps::Error>("root failed", "the root could not serialize",
                            [&] { (void)ps::mpi::broadcast(lambda, 0, MPI_COMM_WORLD); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (size < 2) {
    std::fprintf(stderr, "proxystore_mpi_tests needs at least 2 ranks\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  {
    // Rank 0 owns the store's directory; the others rebuild the store from
    // the proxies' config (the default policy admits any directory).
    std::optional<ps::test::TempDir> dir;
    std::shared_ptr<ps::Store> store;
    if (rank == 0) {
      dir.emplace("proxystore-mpi-test");
      store = std::make_shared<ps::FileStore>("mpi-test", dir->path() / "objects");
    }
    try {
      send_receive(store.get());  // null off rank 0: only rank 0 stores
      MPI_Barrier(MPI_COMM_WORLD);
      broadcast(store.get());
      MPI_Barrier(MPI_COMM_WORLD);
      hostile_receive();
      MPI_Barrier(MPI_COMM_WORLD);
      hostile_broadcast(store.get());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "rank %d: unexpected exception: %s\n", rank, e.what());
      ++failures;
    }
    MPI_Barrier(MPI_COMM_WORLD);  // every rank is done with the files
  }
  int total = 0;
  MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0)
    std::printf("proxystore_mpi_tests: %d ranks, %d failure(s)\n", size, total);
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
