// SPDX-License-Identifier: Apache-2.0
// Test harness: a UCX peer that speaks the library's active-message wire
// protocol byte by byte, for the tests where a hostile or broken peer is the
// point. As a server it listens on 127.0.0.1 and answers each request with
// whatever a script returns (any bytes, or nothing); as a client it sends
// any request bytes to a real listener and records the replies.
#pragma once

#if PROXYSTORE_HAS_UCX

#include "../../src/detail/ucx_transport.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace proxystore::test {

class RawUcxPeer {
 public:
  /// A request as it arrived.
  struct Request {
    detail::ucx::RequestHeader header;  ///< zeroed if the header was short
    std::string key;                    ///< the bytes after the header
    std::size_t data_length = 0;        ///< bytes of data announced
  };
  /// What to send back: raw AM header bytes and data. With `fake_size` set,
  /// the data are that many bytes of never-touched, never-committed memory
  /// (an absurd announced size costs nothing to announce).
  struct Answer {
    std::string header;
    std::string data;
    std::size_t fake_size = 0;
    /// Set: the answer is sent again and again on the connection for this
    /// long (a flood keeping the other side's worker busy; at most 256 sends
    /// in flight at a time).
    std::chrono::milliseconds flood_for{0};
    /// Set: once the answer is sent, the worker is progressed only once per
    /// this interval (set_progress_interval): a value sent by rendezvous
    /// then trickles, or stalls for a long interval.
    std::chrono::milliseconds then_progress_every{0};
    /// The harness's own: the fake value's memory, once mapped.
    const void* mapped = nullptr;
  };
  /// Returns the answer to a request, or nullopt to stay silent (the
  /// connection stays open). Pings are answered before the script sees them.
  using Script = std::function<std::optional<Answer>(const Request&)>;

  /// A server on 127.0.0.1 (an ephemeral port), answering by `script`.
  explicit RawUcxPeer(Script script);
  /// A client only (connect() and send()).
  RawUcxPeer();
  RawUcxPeer(const RawUcxPeer&) = delete;
  RawUcxPeer& operator=(const RawUcxPeer&) = delete;
  ~RawUcxPeer();

  int port() const noexcept { return port_; }
  /// "127.0.0.1:<port>".
  std::string address() const;
  /// Requests seen so far (pings excluded).
  std::size_t requests() const noexcept { return requests_.load(); }

  /// A well-formed reply header with `head` (any length: it is not checked).
  static std::string reply_header(std::uint64_t id, std::uint32_t status, std::string_view head,
                                  std::uint32_t head_length);
  /// A request header for `op` with `key` appended.
  static std::string request_header(std::uint16_t op, std::uint64_t id, std::string_view key);

  /// Client: connects to 127.0.0.1:`port` (returns a connection number).
  int connect(int port);
  /// Client: sends one request (AM id 1) of raw `header` bytes and `data`
  /// on connection `connection`; waits for the send to complete (bounded).
  void send(int connection, const std::string& header, const std::string& data = {});
  /// Client: sends one request of raw `header` bytes whose data are
  /// `fake_size` bytes of never-touched memory (by rendezvous when large),
  /// and returns without waiting for the send to complete. Then, with
  /// `then_progress_every` set, as Answer::then_progress_every.
  void start_send(int connection, const std::string& header, std::size_t fake_size,
                  std::chrono::milliseconds then_progress_every = {});
  /// Client: sends the request `header` (no data) again and again on
  /// connection `connection` for `duration` (at most 256 in flight), as
  /// Answer::flood_for: a peer keeping the other side's worker busy.
  void flood_requests(int connection, const std::string& header,
                      std::chrono::milliseconds duration);
  /// The worker is progressed once per `interval` (0: continuously, the
  /// default): every transfer of this peer moves only then.
  void set_progress_interval(std::chrono::milliseconds interval);
  /// Messages sent by floods so far.
  std::size_t flooded() const noexcept;
  /// Client: the reply headers received so far, in order.
  std::vector<std::string> replies() const;
  /// Client: waits up to `timeout` until `count` replies arrived.
  bool wait_replies(std::size_t count, std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
  std::atomic<std::size_t> requests_{0};
};

}  // namespace proxystore::test

#endif  // PROXYSTORE_HAS_UCX
