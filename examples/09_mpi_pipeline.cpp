// SPDX-License-Identifier: Apache-2.0
// 09 — An MPI pipeline: large objects pass through ranks that only forward
// them, as proxies; only the last rank fetches them.
//
//   rank 0 ──proxy──▶ rank 1 ──proxy──▶ ... ──proxy──▶ rank N-1
//   (produces)        (forwards)                       (uses)
//      └───────────── object, via the store ──────────────┘
//
// Rank 0 stores each object and sends its proxy (about a hundred bytes) down
// the chain with proxystore::mpi::send; the forwarders receive and re-send
// the proxy without resolving it (they never even build the store); the
// last rank resolves it — the only fetch — and checks it. The proxies are
// made with `evict`, so each object leaves the store once used. Every rank
// reports the bytes it received over MPI and from the store; rank 0 checks
// that the forwarders moved only proxies and that the store ends empty.
//
// Store: a FileStore in a temporary directory that every rank can read
// (one host; on a cluster use a shared file system or a RedisStore).
//
// Run: mpirun -n 4 build/examples/09_mpi_pipeline   (exits non-zero on any mismatch)
//      (Open MPI on a small machine: add --oversubscribe)
#include <proxystore/mpi.hpp>
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <mpi.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

constexpr const char* kStoreName = "mpi-pipeline";
constexpr int kObjects = 6;
constexpr std::size_t kValues = 1U << 20U;  // 8 MB of doubles per object
constexpr int kDataTag = 1;
constexpr int kEndTag = 2;

using Vec = std::vector<double>;

/// What one rank saw; gathered on rank 0.
struct Counters {
  std::uint64_t mpi_bytes = 0;    // bytes this rank received over MPI
  std::uint64_t store_bytes = 0;  // bytes it fetched from the store
  std::uint64_t resolved = 0;     // proxies it resolved
  std::uint64_t built_store = 0;  // 1 if it ever created/connected the store
  std::uint64_t bad = 0;          // objects that did not check out
};

std::string human(std::uint64_t bytes) {
  if (bytes >= 1'000'000)
    return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  return fmt::format("{} B", bytes);
}

/// The bytes of one received message, for the counters (probe only).
std::uint64_t pending_size(int source, int tag) {
  MPI_Status status{};
  MPI_Probe(source, tag, MPI_COMM_WORLD, &status);
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  return static_cast<std::uint64_t>(count);
}

/// Receives a proxy or the end marker from `source`; false at the end.
bool next(int source, ps::Proxy<Vec>& proxy, Counters& counters) {
  MPI_Status status{};
  MPI_Probe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
  if (status.MPI_TAG == kEndTag) {
    MPI_Recv(nullptr, 0, MPI_BYTE, source, kEndTag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    return false;
  }
  counters.mpi_bytes += pending_size(source, kDataTag);
  proxy = ps::mpi::receive<Vec>(source, kDataTag, MPI_COMM_WORLD);
  return true;
}

int run(int rank, int size) {
  Counters counters;
  const int last = size - 1;
  namespace fs = std::filesystem;
  fs::path scratch;
  std::shared_ptr<ps::Store> store;
  std::uint64_t object_bytes = 0;

  if (rank == 0) {
    scratch = fs::temp_directory_path() / ("proxystore-mpi-" + ps::random_key().id);
    store = std::make_shared<ps::FileStore>(kStoreName, scratch);
    std::printf("== rank 0: store %s \"%s\"; %d objects of %s through %d forwarding rank(s)\n",
                store->config().type.c_str(), kStoreName, kObjects,
                human(kValues * sizeof(double)).c_str(), size - 2);
    ps::ProxyOptions options;
    options.evict = true;  // one consumer: gone from the store once it has it
    for (int i = 0; i < kObjects; ++i) {
      Vec object(kValues);
      std::iota(object.begin(), object.end(), static_cast<double>(i));
      object_bytes = ps::serialize(object).size();
      ps::mpi::send(store->proxy(std::move(object), options), 1, kDataTag, MPI_COMM_WORLD);
    }
    MPI_Send(nullptr, 0, MPI_BYTE, 1, kEndTag, MPI_COMM_WORLD);
  } else if (rank < last) {
    //! [forward]
    ps::Proxy<Vec> proxy;
    while (next(rank - 1, proxy, counters)) {  // ps::mpi::receive<Vec>(rank - 1, ...)
      counters.resolved += ps::is_resolved(proxy) ? 1 : 0;
      ps::mpi::send(proxy, rank + 1, kDataTag, MPI_COMM_WORLD);  // the proxy, as it came
    }
    //! [forward]
    MPI_Send(nullptr, 0, MPI_BYTE, rank + 1, kEndTag, MPI_COMM_WORLD);
  } else {
    ps::Proxy<Vec> proxy;
    for (int i = 0; next(rank - 1, proxy, counters); ++i) {
      const Vec& data = proxy;  // resolves: the only fetch of this object
      counters.store_bytes += ps::serialize(data).size();
      ++counters.resolved;
      const double n = static_cast<double>(kValues);
      const double expected = n * static_cast<double>(i) + n * (n - 1) / 2;
      if (data.size() != kValues || std::accumulate(data.begin(), data.end(), 0.0) != expected)
        ++counters.bad;
    }
  }
  counters.built_store = rank != 0 && ps::get_store(kStoreName) != nullptr ? 1 : 0;

  // Everyone reports to rank 0.
  std::array<std::uint64_t, 5> mine = {counters.mpi_bytes, counters.store_bytes, counters.resolved,
                                       counters.built_store, counters.bad};
  std::vector<std::uint64_t> all(rank == 0 ? 5 * static_cast<std::size_t>(size) : 0);
  MPI_Gather(mine.data(), 5, MPI_UINT64_T, all.data(), 5, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  if (rank != 0)
    return 0;

  int failures = 0;
  std::printf("== bytes received per rank\n  %-6s %-10s %12s %12s %9s\n", "rank", "role",
              "over MPI", "from store", "resolved");
  for (int r = 0; r < size; ++r) {
    const std::uint64_t* c = &all[5 * static_cast<std::size_t>(r)];
    const char* role = r == 0 ? "producer" : (r == last ? "consumer" : "forwarder");
    std::printf("  %-6d %-10s %12s %12s %9llu\n", r, role, human(c[0]).c_str(), human(c[1]).c_str(),
                static_cast<unsigned long long>(c[2]));
    if (r != 0 && r != last && (c[1] != 0 || c[2] != 0 || c[3] != 0 || c[0] > 1000 * kObjects)) {
      std::printf("  MISMATCH: forwarder %d touched the store or received more than proxies\n", r);
      ++failures;
    }
    if (r == last && (c[4] != 0 || c[2] != kObjects || c[1] != kObjects * object_bytes)) {
      std::printf("  MISMATCH: the consumer saw %llu bad object(s), resolved %llu\n",
                  static_cast<unsigned long long>(c[4]), static_cast<unsigned long long>(c[2]));
      ++failures;
    }
  }
  std::printf("  plain MPI forwarding would have moved %s into every forwarder\n",
              human(kObjects * object_bytes).c_str());

  // `evict`: each object left the store when the consumer resolved it.
  std::size_t left = 0;
  for ([[maybe_unused]] const auto& entry : fs::recursive_directory_iterator(scratch))
    left += entry.is_regular_file() ? 1 : 0;
  if (left != 0) {
    std::printf("  MISMATCH: %zu object file(s) left in the store\n", left);
    ++failures;
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  std::printf(failures == 0 ? "== 09_mpi_pipeline: OK (%d ranks; forwarders moved only proxies)\n"
                            : "== 09_mpi_pipeline: FAILED (%d ranks)\n",
              size);
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0;
  int size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  int status = 0;
  if (size < 3) {
    if (rank == 0)
      std::printf("09_mpi_pipeline: needs at least 3 ranks (producer, forwarder, consumer)\n");
    status = 2;
  } else {
    try {
      status = run(rank, size);
    } catch (const std::exception& e) {
      std::printf("09_mpi_pipeline (rank %d): error: %s\n", rank, e.what());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
  }
  MPI_Finalize();
  return status;
}
