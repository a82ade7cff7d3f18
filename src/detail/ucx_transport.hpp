// SPDX-License-Identifier: Apache-2.0
// The UCX transport under PeerStore, EndpointStore and proxystore-endpoint.
//
// A Node owns a UCP context and worker driven by one progress thread; every
// UCX call happens on that thread (other threads hand it work and wait on a
// condition variable with a deadline). A Node may listen (ucp_listener on
// host:port) and serve an ObjectTable, and it may call other nodes.
//
// Wire protocol (active messages):
//   request  AM id 1: header = RequestHeader followed by the key (key_length
//            bytes); data = the value (put), or entries (batches)
//   reply    AM id 2: header = ReplyHeader; data = the value, the entries
//            of a batch, or an error message
// Values above UCX's rendezvous threshold go by rendezvous and are received
// straight into a buffer of their announced size. Everything a peer sends
// is checked before use: header sizes, key lengths (max_key_length), value
// lengths (the receiver's limits), batch entries (bounds-checked parsing).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::detail::ucx {

/// The wire protocol's active message ids and headers (see the top).
inline constexpr unsigned am_request = 1;
inline constexpr unsigned am_reply = 2;
inline constexpr std::uint32_t request_magic = 0x50535531;  // "PSU1"

/// An AM request's header; the key follows it.
struct RequestHeader {
  std::uint32_t magic = request_magic;
  std::uint16_t op = 0;
  std::uint16_t reserved = 0;
  std::uint64_t id = 0;
  std::uint32_t key_length = 0;
  std::uint32_t count = 0;
  std::int64_t wait_ms = 0;
};

/// An AM reply's header, followed by `head_length` (at most
/// reply_head_size) bytes of the value; the message's data is the rest.
struct ReplyHeader {
  std::uint64_t id = 0;
  std::uint32_t status = 0;
  std::uint32_t head_length = 0;
};

/// Keys longer than this are refused on both sides.
inline constexpr std::size_t max_key_length = 1024;
/// Entries of one batch a node accepts.
inline constexpr std::size_t max_batch_entries = 1U << 20U;

/// Frees a Blob's memory: delete[], or munmap for a large mapping.
struct BlobFree {
  std::size_t mapped = 0;  // bytes mapped at `base`; 0: new[]
  void* base = nullptr;
  void operator()(char* data) const noexcept;
};

/// Values from this size up are held in transparent huge pages (make_blob).
/// A peer reading one by cross-memory attach pins one page per 2 MiB instead
/// of 512 (on the development VM a 1 MiB get took 1.5 x the raw-UCX floor on
/// 4 KiB pages, 1.0 x on a huge page), and filling one takes a page fault
/// per 2 MiB. The price: the last huge page is resident whole, so a value
/// holds up to 2 MiB - 1 byte more memory than its size (a 1 MiB value 2 MiB),
/// which memory limits count (Blob::footprint).
inline constexpr std::size_t huge_page_from = std::size_t{1} << 20U;

/// An immutable value: bytes owned without value-initialising them; from
/// huge_page_from up, mapped with transparent huge pages (madvise).
struct Blob {
  std::unique_ptr<char, BlobFree> data;
  std::size_t size = 0;
  std::string_view view() const noexcept { return {data.get(), size}; }
  /// The memory the value occupies once filled: its size, or its whole
  /// huge pages when mapped (what a memory limit counts).
  std::size_t footprint() const noexcept {
    return data.get_deleter().mapped != 0 ? data.get_deleter().mapped : size;
  }
};
using BlobPtr = std::shared_ptr<const Blob>;

/// A blob of `size` uninitialised bytes (throws std::bad_alloc).
std::shared_ptr<Blob> make_blob(std::size_t size);
/// A blob holding `head` followed by `body`.
BlobPtr make_blob(std::string_view head, std::string_view body);

enum class Op : std::uint16_t {
  ping = 1,
  get = 2,
  exists = 3,
  evict = 4,
  put = 5,
  get_batch = 6,
  put_batch = 7,
  wait_get = 8,
};

enum class Status : std::uint32_t { ok = 0, missing = 1, error = 2 };

/// The objects a listening node serves. Thread-safe.
class ObjectTable {
 public:
  /// `memory_limit` 0: unlimited. With `spill_dir` set, values beyond the
  /// limit go to files there instead of being refused. `label` names the
  /// owner in error messages ("peer store 'x' at host:port").
  ObjectTable(std::size_t memory_limit, std::string spill_dir, std::string label);
  ~ObjectTable();
  ObjectTable(const ObjectTable&) = delete;
  ObjectTable& operator=(const ObjectTable&) = delete;

  /// Stores `value` under `key`, replacing any previous one, and wakes its
  /// waiters. The limit counts the other stored values and the receives
  /// under way (admit_incoming), less `own_incoming`: what the caller's own
  /// receive, which `value` comes from, counts there.
  /// @throws StoreOperationError beyond the memory limit (no spill
  /// directory) or when a spill write fails; the previous value is then
  /// still stored.
  void put(const std::string& key, BlobPtr value, std::size_t own_incoming = 0);
  /// The value under `key`, or null.
  BlobPtr get(const std::string& key) const;
  bool exists(const std::string& key) const;
  void evict(const std::string& key);
  /// Waits up to `timeout` for a value under `key` (woken by put).
  BlobPtr wait_get(const std::string& key, std::chrono::milliseconds timeout);

  /// Calls `waiter` once with the value under `key`: now if there is one,
  /// else from the put that stores it (on the putting thread). Returns a
  /// token for cancel_waiter (0 when called already).
  using Waiter = std::function<void(BlobPtr)>;
  std::uint64_t add_waiter(const std::string& key, Waiter waiter);
  /// Removes a waiter; false if it ran (or runs) already.
  bool cancel_waiter(std::uint64_t token);

  /// The largest value a peer may put (the memory limit, or unlimited).
  std::size_t max_put_size() const noexcept;
  /// Counts `bytes` of a value still being received for a put against the
  /// memory limit: a peer announcing puts it then sends slowly, or never,
  /// must not make the node hold more than the limit. False (nothing
  /// counted) when the stored values and the receives under way leave no
  /// room. Without a limit every receive is admitted; with a spill
  /// directory one receive at a time is admitted however large (it is
  /// spilled once complete), others only within the limit, as without.
  /// A value the put would replace counts: it is kept until the new one
  /// is stored.
  bool admit_incoming(std::size_t bytes);
  /// Ends what admit_incoming counted (the value arrived, or was given up).
  void release_incoming(std::size_t bytes) noexcept;
  /// Bytes admitted by admit_incoming and not released yet.
  std::size_t incoming_bytes() const;
  /// The memory limit (0: none).
  std::size_t memory_limit() const noexcept;
  /// Bytes of memory the values occupy (Blob::footprint) / bytes on disk.
  std::size_t memory_bytes() const;
  std::size_t spilled_bytes() const;

  void set_label(std::string label);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Node;

/// Where a client call goes, and how long it may take.
struct Target {
  std::string host;
  int port = 0;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds command_timeout{30000};
  /// For messages: "peer store 'name'".
  std::string subject;
  /// "host:port" (IPv6 in brackets).
  std::string address() const;
};

/// Bytes of a value a reply carries in its header (the rest is its data):
/// the serialized object's header, so a receiver can size the object
/// before it receives the body (Store::get reads this much first).
inline constexpr std::size_t reply_head_size = 128;

/// The data of a reply still with the sender: a rendezvous the caller
/// receives itself, straight into its own memory. Not received, it is
/// released (the sender is told) when this is destroyed.
class PendingValue {
 public:
  PendingValue(std::shared_ptr<Node> node, void* descriptor, std::size_t size, std::string address,
               std::string subject) noexcept;
  ~PendingValue();
  PendingValue(const PendingValue&) = delete;
  PendingValue& operator=(const PendingValue&) = delete;

  /// Bytes still to receive.
  std::size_t size() const noexcept { return size_; }
  /// Receives size() bytes into `into`, waiting at most `timeout`. Once
  /// only. @throws ConnectionError naming the subject, the address and
  /// `what`; TimeoutError when the value did not arrive in time.
  ///
  /// UCX writes into `into` itself, so this never returns while UCX may
  /// still do so. On a timeout it escalates: the receive is cancelled and
  /// the connection force-closed; if UCX has not let go of the receive
  /// `cancel_grace` later, the node's worker and context are torn down
  /// (which releases every request; the node is then retired() and the
  /// process's next client request makes a new one). The whole call takes
  /// at most `timeout` + `cancel_grace` + the teardown (force-closing the
  /// endpoints, at most 2 s, and destroying the worker: no waits on a peer).
  void receive(char* into, std::chrono::milliseconds timeout, std::string_view what);

  /// How long a cancelled receive may take to be released before the
  /// node is torn down.
  static constexpr std::chrono::milliseconds cancel_grace{1000};

 private:
  std::shared_ptr<Node> node_;
  void* descriptor_;
  std::size_t size_;
  std::string address_;
  std::string subject_;
  bool used_ = false;
};

/// One reply.
struct Reply {
  Status status = Status::ok;
  /// The value (get, wait_get), the entries (get_batch), or the message
  /// (error). Null when the value comes as `head` + `rest`.
  BlobPtr value;
  /// With `receive_later` calls, a value sent by rendezvous: its first
  /// bytes (up to reply_head_size) and the rest, still to receive.
  std::string head;
  std::unique_ptr<PendingValue> rest;
};

/// A UCP context + worker + progress thread, optionally listening.
class Node : public std::enable_shared_from_this<Node> {
 public:
  struct Listen {
    std::string host;
    int port = 0;
    /// How long the data of one request (a put's value sent by
    /// rendezvous) may take to arrive once announced. Past it the receive
    /// is given up: the client's connection is closed, its buffer released
    /// once UCX lets go of it, and one line logged naming the client and
    /// the key. The default is the default client timeouts (connect 5 s +
    /// command 30 s): a client with those gives up no later.
    std::chrono::milliseconds receive_timeout{35000};
  };
  /// Starts the worker and, when `listen` is set, a listener serving
  /// `table` (which must then be non-null). `log` receives one line per
  /// connection error (may be empty).
  /// @throws ConnectionError if UCX cannot start, the listener cannot bind,
  ///         or this process is a forked child of one that used UCX.
  Node(std::optional<Listen> listen, std::shared_ptr<ObjectTable> table,
       std::function<void(const std::string&)> log = {});
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  /// The bound "host:port" of the listener ("" without one).
  std::string address() const;
  /// The bound port (0 without a listener).
  int port() const noexcept;

  /// One request/reply round trip. `parts` are sent without a copy; they
  /// must stay valid until the call returns. `max_reply` bounds the value
  /// accepted in the reply. `extra_wait` lengthens the wait for the reply
  /// (wait_get's own timeout).
  /// @throws ConnectionError (TimeoutError on timeouts) naming the target's
  ///         subject, address and `what` (the key).
  /// With `receive_later`, a value the peer sends by rendezvous is not
  /// received here: the reply holds its head and a PendingValue (which
  /// keeps this node alive; the node must be owned by a shared_ptr).
  Reply call(const Target& target, Op op, std::string_view key,
             const std::vector<std::string_view>& parts, std::size_t max_reply,
             std::string_view what, std::chrono::milliseconds extra_wait = {},
             std::uint32_t count = 0, bool receive_later = false);

  /// Whether this node was created by another process (this one is a
  /// forked child of it): its worker and progress thread are not there.
  bool forked() const noexcept;

  /// Whether this node was (or is being) torn down after a receive UCX
  /// would not release (PendingValue::receive): its calls fail at once;
  /// users replace it (Node::client() does).
  bool retired() const noexcept;

  /// The process-wide client node (no listener), created on first use and
  /// again in a forked child (which throws ConnectionError if the parent
  /// had used UCX: its state does not survive fork).
  static std::shared_ptr<Node> client();

  struct Impl;

 private:
  friend class PendingValue;
  std::unique_ptr<Impl> impl_;
};

/// Fault injection for the tests of the transport's failure paths; never
/// set outside them.
namespace testing {
/// Called on the receiving thread in PendingValue::receive before the
/// receive starts (e.g. to stop the sender); empty: none.
void set_before_direct_receive(std::function<void()> hook);
/// While set, cancelling a direct receive does nothing (neither the
/// cancel nor the force-close), as if UCX did not release it.
void set_ignore_cancel(bool ignore) noexcept;
/// Bytes of memory held by the request data (server) and reply data
/// (Node::call) receives under way in this process.
std::size_t receive_bytes_held() noexcept;
}  // namespace testing

/// Batch entries: [u32 key length][key][u64 value length][value]... for
/// put_batch, [u32 key length][key]... for get_batch requests, and
/// [u8 found][u64 length][value]... for get_batch replies.
void append_u32(std::string& out, std::uint32_t value);
void append_u64(std::string& out, std::uint64_t value);

/// Reads entries with bounds checks; every read throws on truncation.
class EntryReader {
 public:
  explicit EntryReader(std::string_view bytes) noexcept : bytes_(bytes) {}
  std::uint8_t u8();
  std::uint32_t u32();
  std::uint64_t u64();
  std::string_view take(std::uint64_t n);
  bool done() const noexcept { return at_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  std::size_t at_ = 0;
};

}  // namespace proxystore::detail::ucx
