// SPDX-License-Identifier: Apache-2.0
/// \file
/// Send, receive and broadcast a Proxy<T> over an MPI communicator (target proxystore::mpi).
#pragma once

// MPI stays MPI. These helpers move a proxy's serialized bytes (its factory:
// about a hundred bytes, whatever the size of the target) with plain
// point-to-point and collective calls on the caller's communicator; the
// target itself moves store -> consumer when (and only where) the proxy is
// resolved. Nothing here initializes MPI, creates communicators, or
// changes error handlers.
//
//   // rank 0                                  // rank 1
//   auto p = store->proxy(big);                auto p = ps::mpi::receive<Big>(0, 7,
//   MPI_COMM_WORLD); ps::mpi::send(p, 1, 7, MPI_COMM_WORLD);    use(*p);  // fetched here, from the
//   store
//
// Whatever arrives is hostile: receive() probes the message's size first and
// refuses (SerializationError, nothing allocated) one larger than
// StorePolicy::max_message_size (security.hpp; 1 MiB by default) or the
// limit given; broadcast() agrees on the size across the communicator
// before any rank allocates, so either every rank gets the proxy or every
// rank throws — no rank is left waiting in a collective. A received proxy
// is decoded like any other (bounded, signed when a signing key is set),
// and resolving it is subject to the store policy as usual.
//
// Link proxystore::mpi (built when CMake finds MPI; option
// PROXYSTORE_WITH_MPI). Calls are as thread-safe as the MPI library's
// thread level allows.

#include <proxystore/errors.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/serialize.hpp>

#include <mpi.h>

#include <chrono>
#include <cstddef>
#include <exception>
#include <string>
#include <string_view>

namespace proxystore {
/// Send, receive and broadcast proxies over MPI communicators (target
/// proxystore::mpi).
namespace mpi {

/// An MPI call failed; the message names the call, the peer rank and tag,
/// and MPI's own error string.
class MpiError : public Error {
 public:
  using Error::Error;
};

/// Bounds on what a receive accepts.
struct ReceiveOptions {
  /// The largest message accepted, in bytes; 0: the policy's
  /// StorePolicy::max_message_size.
  std::size_t max_size = 0;
  /// How long receive() waits for a message to arrive before throwing
  /// TimeoutError; zero or negative: wait as long as MPI does (forever).
  std::chrono::milliseconds timeout{0};
};

namespace detail {

/// Sends `bytes` to `dest` with `tag` (MPI_Send of MPI_BYTE).
/// @throws MpiError if MPI fails or the message exceeds INT_MAX bytes.
void send_bytes(std::string_view bytes, int dest, int tag, MPI_Comm comm);

/// Receives one message from `source` (or MPI_ANY_SOURCE) with `tag` (or
/// MPI_ANY_TAG): probes its size, refuses it above the limit, then
/// receives exactly that many bytes. `status` (if not null) gets the
/// MPI_Status of the receive.
/// @throws SerializationError above the limit (the message is left
///         unreceived), TimeoutError after options.timeout, MpiError.
std::string receive_bytes(int source, int tag, MPI_Comm comm, const ReceiveOptions& options,
                          MPI_Status* status);

/// Broadcasts `bytes` (significant at `root` only) to every rank of
/// `comm`; returns them on every rank. The size is broadcast and checked
/// against each rank's limit first; if any rank refuses it, every rank
/// throws SerializationError. `root_failed` (significant at root): the
/// root could not produce its bytes; the other ranks throw Error saying
/// so (the root rethrows its own failure).
/// @throws SerializationError, Error, MpiError.
std::string broadcast_bytes(std::string bytes, bool root_failed, int root, MPI_Comm comm,
                            const ReceiveOptions& options);

}  // namespace detail

/// Sends `proxy` (its serialized factory, never the target) to rank `dest`.
/// @throws NotSerializableError if the proxy's factory cannot be serialized
///         (e.g. a LambdaFactory); MpiError if MPI fails.
template <class T>
void send(const Proxy<T>& proxy, int dest, int tag, MPI_Comm comm) {
  detail::send_bytes(serialize(proxy), dest, tag, comm);
}

/// Receives a proxy sent by send() from `source` (or MPI_ANY_SOURCE) with
/// `tag` (or MPI_ANY_TAG). The proxy is not resolved.
/// @throws SerializationError if the message is larger than the limit or
///         is not a serialized Proxy<T>; TimeoutError; MpiError.
template <class T>
Proxy<T> receive(int source, int tag, MPI_Comm comm, const ReceiveOptions& options = {},
                 MPI_Status* status = nullptr) {
  const std::string bytes = detail::receive_bytes(source, tag, comm, options, status);
  return deserialize<Proxy<T>>(bytes);
}

/// Broadcasts the proxy of rank `root` to every rank of `comm` (a
/// collective: every rank calls it; `proxy` is ignored except at root).
/// Returns the root's proxy on every rank, unresolved except at root.
/// @throws SerializationError (on every rank) if the message exceeds any
///         rank's limit, or does not decode as a Proxy<T>; MpiError.
template <class T>
Proxy<T> broadcast(const Proxy<T>& proxy, int root, MPI_Comm comm,
                   const ReceiveOptions& options = {}) {
  int rank = 0;
  if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
    throw MpiError("mpi broadcast: MPI_Comm_rank failed");
  std::string bytes;
  std::exception_ptr failure;
  if (rank == root) {
    try {
      bytes = serialize(proxy);
    } catch (const Error&) {
      failure = std::current_exception();  // rethrown after the others were told
    }
  }
  bytes = detail::broadcast_bytes(std::move(bytes), failure != nullptr, root, comm, options);
  if (failure)
    std::rethrow_exception(failure);
  if (rank == root)
    return proxy;
  return deserialize<Proxy<T>>(bytes);
}

}  // namespace mpi
}  // namespace proxystore
