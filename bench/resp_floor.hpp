// SPDX-License-Identifier: Apache-2.0
// Benchmark baseline: the smallest RESP client that can move a value — "the
// floor". No library, no hiredis: one non-blocking loopback socket, SET as a
// single writev(header, value, CRLF) with no copy of the value, GET parsing
// `$<len>\r\n` and receiving the payload straight into a fresh buffer of that
// length. What this costs is what the machine (kernel + redis-server) costs.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace proxystore::bench {

/// An uninitialised buffer of known size (what the floor GET returns).
struct FloorBuffer {
  std::unique_ptr<char[]> data;
  std::size_t size = 0;
};

/// One connection to a Redis server on loopback. Throws std::runtime_error
/// on any failure; there is no recovery (it is a benchmark baseline).
class FloorClient {
 public:
  FloorClient(const std::string& host, int port);
  FloorClient(const FloorClient&) = delete;
  FloorClient& operator=(const FloorClient&) = delete;
  ~FloorClient();

  /// SET key value: one writev of the RESP header, the value and CRLF;
  /// then reads the `+OK` status line.
  void set(std::string_view key, const void* value, std::size_t size);

  /// GET key into a fresh buffer (throws if the key holds nothing).
  FloorBuffer get(std::string_view key);

  /// DEL key (cleanup between iterations).
  void del(std::string_view key);

 private:
  /// Sends the two-word command `verb key`; returns the first line of the
  /// reply (a bulk reply's payload follows in the socket).
  std::string command(std::string_view verb, std::string_view key);
  /// Sends every byte of the iovecs (partial writes resume after poll()).
  void send_all(iovec* iov, int count);
  /// Receives at least one and at most `size` bytes into `into`, waiting
  /// for the socket as needed; returns how many.
  std::size_t receive_some(char* into, std::size_t size);
  /// Receives exactly `size` bytes into `into` (may span several calls).
  void receive_exact(char* into, std::size_t size);
  /// Receives one reply line ("+OK", ":1", "$5", ...) without its CRLF,
  /// leaving any following bytes in `pending_`.
  std::string receive_line();
  /// Waits until the socket is readable (or writable).
  void wait(short events);

  int fd_ = -1;
  // Bytes received past the last parsed line; never more than the small
  // first read of a reply, so a large payload is not staged here.
  char pending_[512];
  std::size_t pending_begin_ = 0;
  std::size_t pending_end_ = 0;
};

}  // namespace proxystore::bench
