// SPDX-License-Identifier: Apache-2.0
// proxystore::mpi: the byte-moving half of mpi.hpp (library proxystore_mpi).
#include <proxystore/mpi.hpp>
#include <proxystore/security.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>

namespace proxystore::mpi::detail {
namespace {

/// "MPI_Send to rank 3 (tag 7) failed: <MPI's error string>".
[[noreturn]] void fail(int code, const std::string& what) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  if (MPI_Error_string(code, text, &length) != MPI_SUCCESS)
    length = 0;
  throw MpiError(fmt::format("{} failed: {} (MPI error {})", what,
                             std::string(text, static_cast<std::size_t>(length)), code));
}

void check(int code, const std::string& what) {
  if (code != MPI_SUCCESS)
    fail(code, what);
}

std::string peer(int rank) {
  return rank == MPI_ANY_SOURCE ? std::string("any rank") : fmt::format("rank {}", rank);
}

std::string tag_text(int tag) {
  return tag == MPI_ANY_TAG ? std::string("any tag") : fmt::format("tag {}", tag);
}

std::size_t limit_of(const ReceiveOptions& options) {
  return options.max_size != 0 ? options.max_size : store_policy().max_message_size;
}

}  // namespace

void send_bytes(std::string_view bytes, int dest, int tag, MPI_Comm comm) {
  if (bytes.size() > static_cast<std::size_t>(INT_MAX)) {
    throw MpiError(fmt::format("mpi send to rank {} (tag {}): {} bytes exceed MPI's int count",
                               dest, tag, bytes.size()));
  }
  check(MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, dest, tag, comm),
        fmt::format("mpi send of {} bytes to rank {} (tag {}): MPI_Send", bytes.size(), dest, tag));
}

std::string receive_bytes(int source, int tag, MPI_Comm comm, const ReceiveOptions& options,
                          MPI_Status* status) {
  const std::string where = fmt::format("mpi receive from {} ({})", peer(source), tag_text(tag));
  MPI_Status probed{};
  if (options.timeout.count() > 0) {
    const auto deadline = std::chrono::steady_clock::now() + options.timeout;
    std::chrono::microseconds pause(10);
    for (;;) {
      int flag = 0;
      check(MPI_Iprobe(source, tag, comm, &flag, &probed), where + ": MPI_Iprobe");
      if (flag != 0)
        break;
      if (std::chrono::steady_clock::now() >= deadline) {
        throw TimeoutError(
            fmt::format("{}: no message within {} ms", where, options.timeout.count()));
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  } else {
    check(MPI_Probe(source, tag, comm, &probed), where + ": MPI_Probe");
  }
  int count = 0;
  check(MPI_Get_count(&probed, MPI_BYTE, &count), where + ": MPI_Get_count");
  const std::size_t limit = limit_of(options);
  if (count == MPI_UNDEFINED || count < 0) {
    throw SerializationError(fmt::format("{}: the message from rank {} (tag {}) has no byte count",
                                         where, probed.MPI_SOURCE, probed.MPI_TAG));
  }
  if (static_cast<std::size_t>(count) > limit) {
    throw SerializationError(fmt::format(
        "{}: refusing a {}-byte message from rank {} (tag {}): above the limit of {} bytes "
        "(ReceiveOptions::max_size / StorePolicy::max_message_size); it was left unreceived",
        where, count, probed.MPI_SOURCE, probed.MPI_TAG, limit));
  }
  std::string bytes(static_cast<std::size_t>(count), '\0');
  MPI_Status received{};
  check(MPI_Recv(bytes.data(), count, MPI_BYTE, probed.MPI_SOURCE, probed.MPI_TAG, comm, &received),
        fmt::format("{}: MPI_Recv of {} bytes from rank {}", where, count, probed.MPI_SOURCE));
  if (status != nullptr)
    *status = received;
  return bytes;
}

std::string broadcast_bytes(std::string bytes, bool root_failed, int root, MPI_Comm comm,
                            const ReceiveOptions& options) {
  constexpr std::uint64_t root_failed_marker = std::numeric_limits<std::uint64_t>::max();
  int rank = 0;
  check(MPI_Comm_rank(comm, &rank), "mpi broadcast: MPI_Comm_rank");
  const std::string where = fmt::format("mpi broadcast from rank {} (this is rank {})", root, rank);
  std::uint64_t size = 0;
  if (rank == root)
    size = root_failed ? root_failed_marker : bytes.size();
  check(MPI_Bcast(&size, 1, MPI_UINT64_T, root, comm), where + ": MPI_Bcast of the size");
  if (size == root_failed_marker) {
    if (rank == root)
      return {};  // the caller rethrows its own failure
    throw Error(fmt::format("{}: the root could not serialize its proxy", where));
  }
  const std::size_t limit = limit_of(options);
  int accepted = size <= limit && size <= static_cast<std::uint64_t>(INT_MAX) ? 1 : 0;
  // Every rank learns whether any rank refused, so all throw or none does.
  check(MPI_Allreduce(MPI_IN_PLACE, &accepted, 1, MPI_INT, MPI_MIN, comm),
        where + ": MPI_Allreduce of the size check");
  if (accepted == 0) {
    throw SerializationError(fmt::format(
        "{}: a {}-byte message was refused: above the limit of {} bytes on this or another rank "
        "(ReceiveOptions::max_size / StorePolicy::max_message_size)",
        where, size, limit));
  }
  if (rank != root)
    bytes.assign(static_cast<std::size_t>(size), '\0');
  check(MPI_Bcast(bytes.data(), static_cast<int>(size), MPI_BYTE, root, comm),
        fmt::format("{}: MPI_Bcast of {} bytes", where, size));
  return bytes;
}

}  // namespace proxystore::mpi::detail
