// SPDX-License-Identifier: Apache-2.0
#include "detail/ucx_transport.hpp"

#include "detail/current_pid.hpp"
#include "detail/machine_memory.hpp"
#include "detail/sha256.hpp"

#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ucp/api/ucp.h>
#include <ucs/debug/log_def.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <new>
#include <set>
#include <system_error>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace proxystore::detail::ucx {
namespace {

/// UCX 1.13 builds a UCP_ERR_HANDLING_MODE_PEER endpoint only from
/// transports that can report a peer's failure and, for rendezvous,
/// invalidate registered memory: on one host that rules out shared memory
/// (sysv, posix) and cross-memory attach (cma), so every byte went through
/// loopback TCP (8x the floor at 1 MB). With mode NONE UCX picks the same
/// transports as a plain endpoint (sysv for messages, cma for rendezvous:
/// one process_vm_readv into the destination) and still calls the error
/// handler installed on the endpoint: the connection manager's socket
/// reports a peer that exits or is killed (UCS_ERR_CONNECTION_RESET), and
/// every wait stays bounded by the connect and command timeouts.
constexpr ucp_err_handling_mode_t endpoint_err_mode = UCP_ERR_HANDLING_MODE_NONE;

/// A caller waiting for its reply progresses the worker itself until this
/// long passes without any event, then sleeps (bounded: never a busy wait
/// on an idle node).
constexpr std::chrono::microseconds caller_spin_idle{200};
/// ... yielding the processor between polls after this long.
constexpr std::chrono::microseconds caller_spin_polite{20};
/// While callers progress the worker, the progress thread checks this often.
constexpr std::chrono::milliseconds rest_interval{1};
/// For this long after a caller got its reply by spinning, the progress
/// thread of a node without a listener rests instead of arming the worker
/// (the next caller is likely to drive it too).
constexpr std::chrono::microseconds caller_recent{2000};
/// A spinning caller that has not progressed the worker for this long (it
/// was preempted) does not keep the progress thread resting.
constexpr std::chrono::microseconds spinner_stale{200};
/// The progress thread keeps progressing this long after its last event
/// before it sleeps in poll().
constexpr std::chrono::microseconds thread_spin_idle{50};
/// While a transfer is in flight the progress thread keeps progressing
/// without sleeping, but only this long after the transfer's last event;
/// past it the thread polls every millisecond until the transfer moves
/// again or its caller gives up. Long enough for a 1 MB reply over tcp to
/// go out without a wake-up; short enough that a server does not spin a
/// core while its client prepares 100 MB to read a reply into (a 100 MB
/// get cost the server 15-25 ms of CPU with 100 ms here, 2.2-2.5 ms with
/// 2 ms, at the same speed), nor while a peer stalls mid-transfer.
constexpr std::chrono::milliseconds flight_spin_idle{2};

/// A pause between two polls of a spinning progress thread: the processor's
/// spin-wait hint, so the loop leaves the core's (or its hyperthread
/// sibling's) resources to the threads doing the work: on a virtual machine
/// the other vCPU may be that sibling, copying the transfer the loop waits
/// for.
/// Eight hints: a few hundred cycles at most (a pause takes up to ~140
/// cycles on recent Intel cores), well below a pause-loop exit's window.
inline void relax_cpu() noexcept {
  for (int i = 0; i < 8; ++i) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("isb" ::: "memory");
#elif defined(__powerpc64__)
    asm volatile("or 27,27,27" ::: "memory");
#endif
  }
}

/// Drops UCX's "error during flush" lines: closing an endpoint whose peer is
/// gone flushes lanes that fail, which UCX logs at ERROR level for an
/// endpoint without peer error handling (at TRACE level with it). The
/// failure itself reaches the endpoint's error handler.
ucs_log_func_rc_t quiet_flush_errors(const char* /*file*/, unsigned /*line*/, const char* function,
                                     ucs_log_level_t level,
                                     const ucs_log_component_config_t* /*component*/,
                                     const char* /*message*/, va_list /*arguments*/) {
  if (level == UCS_LOG_LEVEL_ERROR && function != nullptr &&
      std::strcmp(function, "ucp_ep_flush_error") == 0)
    return UCS_LOG_FUNC_RC_STOP;
  return UCS_LOG_FUNC_RC_CONTINUE;
}

/// UCX_TLS names no transport a client/server connection can be made over
/// (UCX 1.13 needs one with a socket connection manager: tcp, or the RDMA
/// ones), e.g. "sm" or "posix,cma" alone.
bool tls_cannot_connect() {
  const char* tls = std::getenv("UCX_TLS");  // NOLINT(concurrency-mt-unsafe)
  if (tls == nullptr || *tls == '\0' || *tls == '^')
    return false;
  const std::string list = tls;
  for (const char* usable : {"all", "tcp", "rc", "ud", "dc", "ib"}) {
    if (list.find(usable) != std::string::npos)
      return false;
  }
  return true;
}

/// UCX's text for `status`, with what to do when UCX_TLS is the cause.
std::string status_text(ucs_status_t status) {
  std::string text = ucs_status_string(status);
  if (tls_cannot_connect()) {
    text += fmt::format(
        "; UCX_TLS='{}' has no transport UCX can establish a connection over (shared memory "
        "alone cannot: add tcp, e.g. UCX_TLS=sm,tcp, to move the data by shared memory on one "
        "host)",
        printable(std::getenv("UCX_TLS")));  // NOLINT(concurrency-mt-unsafe)
  }
  return text;
}

/// `host`:`port`, with brackets around an IPv6 literal.
std::string join_address(const std::string& host, int port) {
  if (host.find(':') != std::string::npos)
    return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

/// Resolves host:port (numeric service). Throws ConnectionError.
sockaddr_storage resolve(const std::string& host, int port, bool passive, socklen_t& length,
                         const std::string& subject) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']')
    bare = bare.substr(1, bare.size() - 2);
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(bare.c_str(), service.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw ConnectionError(fmt::format("{} at {}: cannot resolve the host: {}", subject,
                                      join_address(printable(host), port), ::gai_strerror(rc)));
  }
  sockaddr_storage address{};
  std::memcpy(&address, found->ai_addr, found->ai_addrlen);
  length = found->ai_addrlen;
  ::freeaddrinfo(found);
  return address;
}

std::string describe_sockaddr(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  int port = 0;
  if (address.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  } else {
    return "?";
  }
  return join_address(text, port);
}

/// The address of the peer at the other end of `ep`.
std::string remote_address(ucp_ep_h ep) {
  ucp_ep_attr_t attr{};
  attr.field_mask = UCP_EP_ATTR_FIELD_REMOTE_SOCKADDR;
  if (ucp_ep_query(ep, &attr) != UCS_OK)
    return "an unknown address";
  return describe_sockaddr(attr.remote_sockaddr);
}

std::string hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(digits[byte >> 4U]);
    out.push_back(digits[byte & 15U]);
  }
  return out;
}

}  // namespace

// --- blobs and entries -------------------------------------------------------

void BlobFree::operator()(char* data) const noexcept {
  if (mapped != 0)
    ::munmap(base, mapped);
  else
    delete[] data;
}

std::shared_ptr<Blob> make_blob(std::size_t size) {
  constexpr std::size_t huge_page = std::size_t{2} << 20U;
  auto blob = std::make_shared<Blob>();
  blob->size = size;
  if (size >= huge_page_from && size < (std::size_t{1} << 48U)) {
    // Whole, aligned 2 MiB pages (a huge page covers nothing less), and one
    // more page of address space to find the first 2 MiB boundary in.
    const std::size_t rounded = (size + huge_page - 1) & ~(huge_page - 1);
    const std::size_t mapped = rounded + huge_page;
    void* base =
        ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED)  // NOLINT(cppcoreguidelines-pro-type-cstyle-cast)
      throw std::bad_alloc();
    const auto address = reinterpret_cast<std::uintptr_t>(base);
    const std::size_t skip = ((address + huge_page - 1) & ~(huge_page - 1)) - address;
    char* aligned = static_cast<char*>(base) + skip;
    // Unmap the slack on both sides: one mapping (VMA) per value, not three
    // (a table of many values would run into vm.max_map_count).
    if (skip != 0)
      ::munmap(base, skip);
    if (mapped - skip - rounded != 0)
      ::munmap(aligned + rounded, mapped - skip - rounded);
    ::madvise(aligned, rounded, MADV_HUGEPAGE);
    blob->data = std::unique_ptr<char, BlobFree>(aligned, BlobFree{rounded, aligned});
    return blob;
  }
  blob->data = std::unique_ptr<char, BlobFree>(new char[size == 0 ? 1 : size], BlobFree{});
  return blob;
}

BlobPtr make_blob(std::string_view head, std::string_view body) {
  std::shared_ptr<Blob> blob = make_blob(head.size() + body.size());
  if (!head.empty())
    std::memcpy(blob->data.get(), head.data(), head.size());
  if (!body.empty())
    std::memcpy(blob->data.get() + head.size(), body.data(), body.size());
  return blob;
}

void append_u32(std::string& out, std::uint32_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void append_u64(std::string& out, std::uint64_t value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

std::string_view EntryReader::take(std::uint64_t n) {
  if (n > bytes_.size() - at_) {
    throw StoreOperationError(fmt::format(
        "malformed batch message: an entry of {} bytes at offset {} overruns its {} bytes", n, at_,
        bytes_.size()));
  }
  const std::string_view out = bytes_.substr(at_, static_cast<std::size_t>(n));
  at_ += static_cast<std::size_t>(n);
  return out;
}

std::uint8_t EntryReader::u8() {
  return static_cast<std::uint8_t>(take(1)[0]);
}

std::uint32_t EntryReader::u32() {
  std::uint32_t value = 0;
  std::memcpy(&value, take(sizeof value).data(), sizeof value);
  return value;
}

std::uint64_t EntryReader::u64() {
  std::uint64_t value = 0;
  std::memcpy(&value, take(sizeof value).data(), sizeof value);
  return value;
}

std::string Target::address() const {
  return join_address(host, port);
}

// --- ObjectTable ---------------------------------------------------------------

struct ObjectTable::Impl {
  std::size_t limit = 0;
  std::string spill_dir;
  mutable std::mutex mutex;
  std::condition_variable stored;
  std::string label;
  std::unordered_map<std::string, BlobPtr> memory;
  std::unordered_map<std::string, std::size_t> spilled;  // key -> size on disk
  std::size_t used = 0;
  std::size_t incoming = 0;  // admit_incoming
  std::size_t spilled_total = 0;
  std::uint64_t next_token = 1;
  std::unordered_multimap<std::string, std::pair<std::uint64_t, Waiter>> waiters;
  std::unordered_map<std::uint64_t, std::string> waiter_keys;

  std::filesystem::path spill_path(const std::string& key) const {
    // Named by the key's SHA-256: a file name fits any key up to
    // max_key_length (a key's hex of 126 bytes and more would not).
    const Sha256Digest digest = sha256(key);
    const std::string_view bytes(reinterpret_cast<const char*>(digest.data()), digest.size());
    return std::filesystem::path(spill_dir) / (hex(bytes) + ".obj");
  }

  /// The memory the value under `key` occupies (0: none, or spilled).
  std::size_t memory_footprint_locked(const std::string& key) const {
    const auto it = memory.find(key);
    return it == memory.end() ? 0 : it->second->footprint();
  }

  /// Removes `key` from memory and disk (lock held).
  void remove_locked(const std::string& key) {
    if (auto it = memory.find(key); it != memory.end()) {
      used -= it->second->footprint();
      memory.erase(it);
    }
    if (auto it = spilled.find(key); it != spilled.end()) {
      spilled_total -= it->second;
      spilled.erase(it);
      std::error_code ignored;
      std::filesystem::remove(spill_path(key), ignored);
    }
  }

  BlobPtr load_spilled(const std::string& key, std::size_t size) const {
    std::ifstream in(spill_path(key), std::ios::binary);
    std::shared_ptr<Blob> blob = make_blob(size);
    if (!in.read(blob->data.get(), static_cast<std::streamsize>(size))) {
      throw StoreOperationError(fmt::format("{} key '{}': cannot read the spilled object {}", label,
                                            printable(key), spill_path(key).string()));
    }
    return blob;
  }
};

ObjectTable::ObjectTable(std::size_t memory_limit, std::string spill_dir, std::string label)
    : impl_(std::make_unique<Impl>()) {
  impl_->limit = memory_limit;
  impl_->spill_dir = std::move(spill_dir);
  impl_->label = std::move(label);
}

ObjectTable::~ObjectTable() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (const auto& entry : impl_->spilled) {
    std::error_code ignored;
    std::filesystem::remove(impl_->spill_path(entry.first), ignored);
  }
}

void ObjectTable::set_label(std::string label) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->label = std::move(label);
}

std::size_t ObjectTable::max_put_size() const noexcept {
  if (impl_->limit == 0 || !impl_->spill_dir.empty())
    return static_cast<std::size_t>(-1);
  return impl_->limit;
}

bool ObjectTable::admit_incoming(std::size_t bytes) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  const std::size_t limit = impl_->limit;
  // A value the put would replace counts too: it stays until the new one
  // has arrived (the put may still fail), so the node holds both meanwhile.
  // Written so that no sum can overflow.
  const bool fits = bytes <= limit && impl_->incoming <= limit - bytes &&
                    impl_->used <= limit - bytes - impl_->incoming;
  const bool admitted = limit == 0 || fits || (!impl_->spill_dir.empty() && impl_->incoming == 0);
  if (admitted)
    impl_->incoming += bytes;
  return admitted;
}

void ObjectTable::release_incoming(std::size_t bytes) noexcept {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->incoming -= std::min(bytes, impl_->incoming);
}

std::size_t ObjectTable::incoming_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->incoming;
}

std::size_t ObjectTable::memory_limit() const noexcept {
  return impl_->limit;
}

std::size_t ObjectTable::memory_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->used;
}

std::size_t ObjectTable::spilled_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->spilled_total;
}

void ObjectTable::put(const std::string& key, BlobPtr value, std::size_t own_incoming) {
  std::vector<Waiter> woken;
  {
    std::unique_lock<std::mutex> lock(impl_->mutex);
    const std::size_t size = value->size;
    const std::size_t footprint = value->footprint();
    // The values (but the one this replaces) and the receives under way
    // (but the caller's own). The replaced value stays until the new one is
    // stored: a refused put changes nothing.
    const std::size_t replaced = impl_->memory_footprint_locked(key);
    const std::size_t receiving = impl_->incoming - std::min(own_incoming, impl_->incoming);
    const std::size_t others = impl_->used - replaced;
    const std::size_t held = others > std::numeric_limits<std::size_t>::max() - receiving
                                 ? std::numeric_limits<std::size_t>::max()
                                 : others + receiving;
    if (impl_->limit != 0 && footprint > impl_->limit - std::min(impl_->limit, held)) {
      if (impl_->spill_dir.empty()) {
        throw StoreOperationError(fmt::format(
            "{} key '{}': storing {} bytes (occupying {} in memory) would exceed the memory "
            "limit of {} bytes ({} in use by other values, {} being received)",
            impl_->label, printable(key), size, footprint, impl_->limit, others, receiving));
      }
      // Written beside, then renamed over any previous spill of the key;
      // the entry is made first, so nothing can fail once the file is in
      // place.
      const std::filesystem::path path = impl_->spill_path(key);
      std::filesystem::path part = path;
      part += ".part";
      const auto fail = [&] {
        std::error_code ignored;
        std::filesystem::remove(part, ignored);
        return StoreOperationError(fmt::format("{} key '{}': cannot spill {} bytes to {}",
                                               impl_->label, printable(key), size, path.string()));
      };
      std::ofstream out(part, std::ios::binary | std::ios::trunc);
      out.write(value->data.get(), static_cast<std::streamsize>(size));
      out.close();
      if (!out)
        throw fail();
      std::unordered_map<std::string, std::size_t>::iterator entry;
      bool fresh = false;
      try {
        std::tie(entry, fresh) = impl_->spilled.try_emplace(key, 0);
      } catch (const std::bad_alloc&) {
        throw fail();
      }
      std::error_code renamed;
      std::filesystem::rename(part, path, renamed);
      if (renamed) {
        if (fresh)
          impl_->spilled.erase(entry);
        throw fail();
      }
      if (auto in_memory = impl_->memory.find(key); in_memory != impl_->memory.end()) {
        impl_->used -= in_memory->second->footprint();
        impl_->memory.erase(in_memory);
      }
      impl_->spilled_total = impl_->spilled_total - entry->second + size;  // the new file's
      entry->second = size;
    } else {
      impl_->remove_locked(key);
      impl_->used += footprint;
      impl_->memory.insert_or_assign(key, value);
    }
    auto [first, last] = impl_->waiters.equal_range(key);
    for (auto it = first; it != last; ++it) {
      impl_->waiter_keys.erase(it->second.first);
      woken.push_back(std::move(it->second.second));
    }
    impl_->waiters.erase(first, last);
  }
  impl_->stored.notify_all();
  for (auto& waiter : woken)
    waiter(value);
}

BlobPtr ObjectTable::get(const std::string& key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (auto it = impl_->memory.find(key); it != impl_->memory.end())
    return it->second;
  if (auto it = impl_->spilled.find(key); it != impl_->spilled.end())
    return impl_->load_spilled(key, it->second);
  return nullptr;
}

bool ObjectTable::exists(const std::string& key) const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->memory.count(key) != 0 || impl_->spilled.count(key) != 0;
}

void ObjectTable::evict(const std::string& key) {
  BlobPtr released;  // freed after the lock
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (auto it = impl_->memory.find(key); it != impl_->memory.end())
    released = it->second;
  impl_->remove_locked(key);
}

BlobPtr ObjectTable::wait_get(const std::string& key, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  impl_->stored.wait_for(lock, timeout, [&] {
    return impl_->memory.count(key) != 0 || impl_->spilled.count(key) != 0;
  });
  if (auto it = impl_->memory.find(key); it != impl_->memory.end())
    return it->second;
  if (auto it = impl_->spilled.find(key); it != impl_->spilled.end())
    return impl_->load_spilled(key, it->second);
  return nullptr;
}

std::uint64_t ObjectTable::add_waiter(const std::string& key, Waiter waiter) {
  BlobPtr now = get(key);
  if (now) {
    waiter(now);
    return 0;
  }
  std::unique_lock<std::mutex> lock(impl_->mutex);
  // Stored meanwhile? (get and this lock are not one step.)
  if (impl_->memory.count(key) != 0 || impl_->spilled.count(key) != 0) {
    lock.unlock();
    waiter(get(key));
    return 0;
  }
  const std::uint64_t token = impl_->next_token++;
  impl_->waiters.emplace(key, std::make_pair(token, std::move(waiter)));
  impl_->waiter_keys.emplace(token, key);
  return token;
}

bool ObjectTable::cancel_waiter(std::uint64_t token) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  auto it = impl_->waiter_keys.find(token);
  if (it == impl_->waiter_keys.end())
    return false;
  auto [first, last] = impl_->waiters.equal_range(it->second);
  for (auto w = first; w != last; ++w) {
    if (w->second.first == token) {
      impl_->waiters.erase(w);
      break;
    }
  }
  impl_->waiter_keys.erase(it);
  return true;
}

// --- Node ----------------------------------------------------------------------

namespace {

struct Hooks {
  std::mutex mutex;
  std::function<void()> before_direct_receive;
  std::atomic<bool> ignore_cancel{false};
};

Hooks& hooks() {
  static auto* instance = new Hooks;  // never destroyed (used at exit)
  return *instance;
}

/// Bytes of memory the request and reply receives under way hold
/// (testing::receive_bytes_held()): the tests' proof that a receive given
/// up releases its memory.
std::atomic<std::size_t> receive_bytes{0};

/// A receive's buffer, counted in receive_bytes until released.
class ReceiveBuffer {
 public:
  explicit ReceiveBuffer(std::shared_ptr<Blob> blob) noexcept : blob_(std::move(blob)) {
    receive_bytes += blob_->size;
  }
  ~ReceiveBuffer() { uncount(); }
  ReceiveBuffer(const ReceiveBuffer&) = delete;
  ReceiveBuffer& operator=(const ReceiveBuffer&) = delete;
  ReceiveBuffer(ReceiveBuffer&&) = delete;
  ReceiveBuffer& operator=(ReceiveBuffer&&) = delete;

  const std::shared_ptr<Blob>& blob() const noexcept { return blob_; }

  /// A receive given up that UCX has not released (UCX 1.13 frees an
  /// active-message receive only when it completes or its worker is
  /// destroyed; closing a connection without peer error handling does
  /// not): the buffer must stay mapped, as UCX may still write into it, but
  /// its pages go back to the system (madvise: a late write lands in a
  /// fresh zero page). Only mapped blobs (make_blob: huge_page_from and more) can;
  /// a smaller one stays held until UCX lets go of it.
  /// Returns whether the pages went back (a mapped blob).
  bool release_pages() noexcept {
    const BlobFree& mapping = blob_->data.get_deleter();
    if (mapping.mapped == 0)
      return false;
    ::madvise(mapping.base, mapping.mapped, MADV_DONTNEED);
    uncount();
    return true;
  }

 private:
  void uncount() noexcept {
    if (counted_)
      receive_bytes -= blob_->size;
    counted_ = false;
  }
  std::shared_ptr<Blob> blob_;
  bool counted_ = true;
};

/// UCX operations started and not yet completed (progress thread only):
/// while there are any, the progress thread spins instead of sleeping on
/// the worker's event descriptor (not every transport wakes it for the
/// steps of a rendezvous transfer).
struct InFlight {
  std::size_t count = 0;
};

/// Counts a caller among a node's sleepers (callers waiting for a reply
/// without driving the worker) for as long as it lives.
class SleepingCaller {
 public:
  explicit SleepingCaller(std::atomic<int>* sleepers) noexcept : sleepers_(sleepers) {
    if (sleepers_ != nullptr)
      sleepers_->fetch_add(1);
  }
  SleepingCaller(SleepingCaller&& other) noexcept : sleepers_(other.sleepers_) {
    other.sleepers_ = nullptr;
  }
  SleepingCaller& operator=(SleepingCaller&& other) noexcept {
    std::swap(sleepers_, other.sleepers_);
    return *this;
  }
  SleepingCaller(const SleepingCaller&) = delete;
  SleepingCaller& operator=(const SleepingCaller&) = delete;
  ~SleepingCaller() {
    if (sleepers_ != nullptr)
      sleepers_->fetch_sub(1);
  }

 private:
  std::atomic<int>* sleepers_;
};

/// One client round trip, shared by the calling thread and the progress thread.
struct Call {
  InFlight* flight = nullptr;
  std::uint64_t id = 0;
  std::string address;  // the peer's "host:port"
  Target target;
  std::string header;  // RequestHeader + key
  std::vector<ucp_dt_iov_t> iov;
  std::size_t max_reply = 0;
  bool receive_later = false;  // a rendezvous value goes to the caller as a PendingValue
  /// progress_mutex: the buffer its reply's data is being received into
  /// (ReplyReceive; null: none), and whether the caller gave that up.
  std::shared_ptr<ReceiveBuffer> receiving;
  bool receive_abandoned = false;

  std::mutex mutex;
  std::condition_variable changed;
  bool done = false;
  bool send_done = false;
  bool confirmed = false;  // the peer has answered on this connection
  std::string error;       // set: the call failed (ConnectionError)
  Reply reply;
};

struct Peer {
  ucp_ep_h ep = nullptr;
  bool confirmed = false;
  /// Calls held back until the peer answers the connection's ping: a
  /// request is handed to UCX only on a connection known to work, so a
  /// peer that never answers holds none of the callers' buffers (an
  /// endpoint without UCP_ERR_HANDLING_MODE_PEER cannot be force-closed).
  std::vector<std::shared_ptr<Call>> waiting;
};

/// A rendezvous value received straight into the caller's memory
/// (PendingValue::receive), shared by the caller and the progress thread.
struct DirectReceive {
  InFlight* flight = nullptr;
  std::size_t size = 0;
  void* request = nullptr;  // progress thread only: the UCX receive in flight
  std::mutex mutex;
  std::condition_variable changed;
  bool done = false;
  std::string error;
};

}  // namespace

namespace testing {

void set_before_direct_receive(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(hooks().mutex);
  hooks().before_direct_receive = std::move(hook);
}

void set_ignore_cancel(bool ignore) noexcept {
  hooks().ignore_cancel.store(ignore);
}

std::size_t receive_bytes_held() noexcept {
  return receive_bytes.load();
}

}  // namespace testing

namespace {

/// A server-side wait_get that has not been answered yet.
struct RemoteWait {
  ucp_ep_h ep;
  std::uint64_t id;
  std::chrono::steady_clock::time_point deadline;
};

}  // namespace

struct Node::Impl {
  pid_t owner = current_pid();  // a forked child must not touch this node's UCX state
  Node* node = nullptr;
  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  ucp_listener_h listener = nullptr;
  int event_fd = -1;
  std::string bound_address;
  int bound_port = 0;
  std::shared_ptr<ObjectTable> table;
  std::function<void(const std::string&)> log;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> next_id{1};

  std::mutex tasks_mutex;
  std::vector<std::function<void()>> tasks;
  bool retired = false;  // under tasks_mutex: the worker is (being) destroyed
  std::atomic<bool> retire_requested{false};

  // Direct receives under way (PendingValue::receive), so a teardown can
  // complete them once UCX is gone.
  std::mutex directs_mutex;
  std::set<std::shared_ptr<DirectReceive>> directs;
  bool torn_down = false;         // under directs_mutex
  std::atomic<bool> gone{false};  // teardown() finished: UCX holds no buffer

  /// Held by whichever thread drives the worker: the progress thread, or a
  /// caller progressing it itself while it waits for its own reply (no
  /// hand-off to the progress thread and back). Never held while sleeping.
  std::mutex progress_mutex;
  /// The node whose progress_mutex this thread holds (null: none).
  static inline thread_local const Impl* holding = nullptr;
  /// Callers progressing the worker now: the progress thread rests meanwhile.
  std::atomic<int> spinners{0};
  /// When a caller last got its reply by spinning (steady clock ticks).
  std::atomic<std::chrono::steady_clock::rep> last_satisfied_spin{0};
  /// When a spinning caller last progressed the worker (steady clock
  /// ticks): a spinner preempted for longer drives nothing, so the
  /// progress thread does not rest on its account.
  std::atomic<std::chrono::steady_clock::rep> last_spinner_pump{0};
  /// Callers waiting for a reply without spinning (after a spin that ended
  /// without it): the last spinner to leave wakes the progress thread for them.
  std::atomic<int> sleepers{0};
  /// Bumped (under rest_mutex) by every wake_rest(): a rest ends when it
  /// changes, so a wake-up sent between the thread's checks and its wait is
  /// not lost.
  std::atomic<std::uint64_t> rest_epoch{0};
  /// The progress thread sleeps here while callers spin (for at most
  /// rest_interval, or until the last spinner leaves without its reply).
  std::mutex rest_mutex;
  std::condition_variable rest;

  /// Marks the current thread as holding `impl`'s progress_mutex.
  class Hold {
   public:
    explicit Hold(const Impl* impl) noexcept : previous_(holding) { holding = impl; }
    ~Hold() { holding = previous_; }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    const Impl* previous_;
  };

  // Guarded by progress_mutex:
  std::unordered_map<std::uint64_t, std::shared_ptr<Call>> pending;
  std::map<std::string, Peer> peers;
  std::set<ucp_ep_h> server_eps;
  /// Requests whose data is being received by rendezvous (on_request),
  /// given up at their deadline (expire_receives).
  struct RequestReceive;
  std::set<RequestReceive*> receiving;
  std::chrono::milliseconds receive_timeout{0};  // Listen::receive_timeout
  std::vector<std::function<void()>> deferred;
  std::map<std::uint64_t, RemoteWait> remote_waits;  // table waiter token ->
  InFlight flight;

  /// Whether the calling thread may drive this node's worker itself: it
  /// holds no node's progress_mutex (a callback running under one queues
  /// its work instead), this process owns the node (not a forked child)
  /// and the node is neither shutting down nor being torn down.
  bool can_drive() const {
    return holding == nullptr && owner == current_pid() && !stopping.load();
  }

  /// Whether teardown() has begun (progress_mutex or tasks_mutex held).
  bool is_retired() {
    std::lock_guard<std::mutex> lock(tasks_mutex);
    return retired;
  }

  /// Runs `task` under progress_mutex: at once on the calling thread when
  /// it can drive the worker (then progresses it once), else hands it to
  /// the progress thread. False (and dropped) once the node is retired;
  /// the signal is sent under the lock, so it never reaches a worker a
  /// teardown destroyed. `caller_spins`: the caller drives the worker next
  /// (spin_until), so the progress thread may go on resting; otherwise it
  /// is woken to finish what the task started.
  bool submit(std::function<void()> task, bool caller_spins = false) {
    if (can_drive()) {
      {
        std::lock_guard<std::mutex> lock(progress_mutex);
        if (is_retired())
          return false;
        const Hold hold(this);
        run_tasks();  // queued earlier: first
        task();
        pump();
      }
      if (!caller_spins)
        wake_rest();
      return true;
    }
    std::lock_guard<std::mutex> lock(tasks_mutex);
    if (retired)
      return false;
    tasks.push_back(std::move(task));
    ucp_worker_signal(worker);
    wake_rest();
    return true;
  }

  /// Asks the progress thread to tear the node down (teardown()).
  void request_retire() {
    std::lock_guard<std::mutex> lock(tasks_mutex);
    if (retired || retire_requested.load())
      return;
    retire_requested.store(true);
    stopping.store(true);
    ucp_worker_signal(worker);
    wake_rest();
  }

  /// Registers a direct receive; false once the node is torn down.
  bool track(const std::shared_ptr<DirectReceive>& op) {
    std::lock_guard<std::mutex> lock(directs_mutex);
    if (torn_down)
      return false;
    directs.insert(op);
    return true;
  }

  void untrack(const std::shared_ptr<DirectReceive>& op) {
    std::lock_guard<std::mutex> lock(directs_mutex);
    directs.erase(op);
  }

  /// Runs the queued tasks (progress_mutex held). Returns whether there were any.
  bool run_tasks() {
    std::vector<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(tasks_mutex);
      batch.swap(tasks);
    }
    for (auto& task : batch)
      task();
    return !batch.empty();
  }

  /// Progresses the worker until it is idle, or for at most
  /// max_progress_calls calls: a peer that keeps sending (a value trickled
  /// in small pieces, a flood of messages) must not keep the caller from
  /// the rest of pump(), the deadlines above all. Returns whether anything
  /// happened.
  bool progress_worker() {
    constexpr int max_progress_calls = 64;
    int calls = 0;
    while (calls < max_progress_calls && ucp_worker_progress(worker) != 0)
      ++calls;
    return calls != 0;
  }

  /// One round of work (progress_mutex held): queued tasks, the worker's
  /// events, the work callbacks deferred, expired remote waits. Returns
  /// whether anything happened.
  bool pump() {
    bool active = run_tasks();
    active = progress_worker() || active;
    // One batch of deferred work a round: requests that keep arriving (a
    // flood of pings) must not keep the caller from the deadlines below; a
    // round that leaves work behind reports activity, so the caller comes
    // straight back.
    if (!deferred.empty()) {
      active = true;
      std::vector<std::function<void()>> now;
      now.swap(deferred);
      for (auto& task : now)
        task();
      progress_worker();
    }
    if (!remote_waits.empty())
      expire_remote_waits();
    if (!receiving.empty())
      expire_receives();
    return active || !deferred.empty();
  }

  /// A caller waiting for `done()` (which must lock what it reads) drives
  /// the worker itself until it is true, until nothing has happened for
  /// caller_spin_idle, or until `deadline`, whichever is first; then the
  /// caller sleeps on its condition variable as before and the progress
  /// thread takes over. A reply that arrives while the caller spins is
  /// handled on the caller's thread: no wake-up of the progress thread from
  /// poll() and no condition-variable hand-off back to the caller.
  ///
  /// Returns a guard the caller keeps while it then waits without spinning
  /// (it counts the caller among the sleepers until destroyed).
  template <class Done>
  [[nodiscard]] SleepingCaller spin_until(const Done& done,
                                          std::chrono::steady_clock::time_point deadline) {
    if (!can_drive())
      return SleepingCaller(&sleepers);
    // Leaves the spinners on every exit (also by an exception from a task
    // pump() ran): the progress thread rests while spinners remain.
    class Spinning {
     public:
      Spinning(Impl& impl, const bool& satisfied) : impl_(impl), satisfied_(satisfied) {
        impl_.spinners.fetch_add(1);
      }
      Spinning(const Spinning&) = delete;
      Spinning& operator=(const Spinning&) = delete;
      ~Spinning() {
        const bool last = impl_.spinners.fetch_sub(1) == 1;
        // A caller that goes to sleep now needs the progress thread at
        // once, and so do sleepers when the last spinner leaves; a caller
        // that has its reply lets it rest.
        if (!satisfied_ || (last && impl_.sleepers.load() != 0))
          impl_.wake_rest();
      }

     private:
      Impl& impl_;
      const bool& satisfied_;
    };
    bool satisfied = false;
    SleepingCaller sleeping(nullptr);
    const Spinning spinning(*this, satisfied);
    auto last_activity = std::chrono::steady_clock::now();
    while (!(satisfied = done()) && !stopping.load()) {
      bool active = false;
      {
        std::unique_lock<std::mutex> lock(progress_mutex, std::try_to_lock);
        if (lock.owns_lock()) {
          if (worker == nullptr)
            break;  // torn down (teardown() completes what waits)
          const Hold hold(this);
          active = pump();
        }
      }
      const auto now = std::chrono::steady_clock::now();
      last_spinner_pump.store(now.time_since_epoch().count());
      // The deadline first: events of other transfers (or a peer trickling
      // bytes) must not keep a caller past its own timeout.
      if (now >= deadline)
        break;
      if (active) {
        last_activity = now;
      } else if (now - last_activity >= caller_spin_idle) {
        break;
      } else if (now - last_activity >= caller_spin_polite) {
        // On a busy machine the peer may need this core to answer.
        std::this_thread::yield();
      }
    }
    if (satisfied)
      last_satisfied_spin.store(std::chrono::steady_clock::now().time_since_epoch().count());
    else
      sleeping = SleepingCaller(&sleepers);  // before `spinning` leaves
    return sleeping;
  }

  /// Whether no reply, connection or transfer is outstanding
  /// (progress_mutex held).
  bool awaits_nothing() const {
    if (flight.count != 0 || !pending.empty() || !remote_waits.empty())
      return false;
    return std::all_of(peers.begin(), peers.end(),
                       [](const auto& peer) { return peer.second.waiting.empty(); });
  }

  /// Ends the progress thread's rest at once.
  void wake_rest() {
    std::lock_guard<std::mutex> lock(rest_mutex);
    rest_epoch.fetch_add(1);
    rest.notify_one();
  }

  /// Rests the progress thread until `until`, a wake_rest() after it read
  /// `seen`, stopping, or `also()`.
  template <class Also>
  void rest_until(std::chrono::steady_clock::time_point until, std::uint64_t seen,
                  const Also& also) {
    std::unique_lock<std::mutex> resting(rest_mutex);
    rest.wait_until(resting, until,
                    [&] { return rest_epoch.load() != seen || stopping.load() || also(); });
  }

  /// Whether a caller spins and progressed the worker within
  /// spinner_stale: one that is not running (preempted) drives nothing.
  bool spinner_drives(std::chrono::steady_clock::time_point now) const {
    if (spinners.load() == 0)
      return false;
    const std::chrono::steady_clock::time_point pumped{
        std::chrono::steady_clock::duration{last_spinner_pump.load()}};
    return now - pumped < spinner_stale;
  }

  /// Whether a caller got its reply by spinning less than caller_recent ago.
  bool callers_recent(std::chrono::steady_clock::time_point now) const {
    const std::chrono::steady_clock::time_point last{
        std::chrono::steady_clock::duration{last_satisfied_spin.load()}};
    return now - last < caller_recent;
  }

  void say(const std::string& line) const {
    if (log)
      log(line);
  }

  // --- completing client calls ---------------------------------------------

  static void finish(const std::shared_ptr<Call>& call, std::string error, Reply reply = {}) {
    {
      std::lock_guard<std::mutex> lock(call->mutex);
      if (call->done)
        return;
      call->done = true;
      call->error = std::move(error);
      call->reply = std::move(reply);
    }
    call->changed.notify_all();
  }

  static void mark_sent(const std::shared_ptr<Call>& call) {
    {
      std::lock_guard<std::mutex> lock(call->mutex);
      call->send_done = true;
    }
    call->changed.notify_all();
  }

  /// Drops the connection to `address`: closes the endpoint (cancelling its
  /// sends) and fails every call waiting on it with `why`.
  void drop_peer(const std::string& address, const std::string& why) {
    auto it = peers.find(address);
    if (it == peers.end())
      return;
    ucp_ep_h ep = it->second.ep;
    std::vector<std::shared_ptr<Call>> held = std::move(it->second.waiting);
    peers.erase(it);
    for (const auto& call : held) {
      finish(call, why);
      mark_sent(call);  // never handed to UCX
    }
    for (auto call = pending.begin(); call != pending.end();) {
      if (call->second->address == address) {
        finish(call->second, why);
        call = pending.erase(call);
      } else {
        ++call;
      }
    }
    close_ep(ep);
  }

  void close_ep(ucp_ep_h ep) {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    // UCX refuses a forced close of an endpoint without peer error
    // handling: flush it (a failed endpoint's lanes are discarded already).
    param.flags = endpoint_err_mode == UCP_ERR_HANDLING_MODE_PEER
                      ? static_cast<std::uint32_t>(UCP_EP_CLOSE_FLAG_FORCE)
                      : 0U;
    ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
    if (request != nullptr && !UCS_PTR_IS_ERR(request))
      ucp_request_free(request);
  }

  static void on_client_ep_error(void* arg, ucp_ep_h ep, ucs_status_t status) {
    auto* self = static_cast<Impl*>(arg);
    for (auto& [address, peer] : self->peers) {
      if (peer.ep == ep) {
        const std::string where = address;
        self->say(fmt::format("connection to {} failed: {}", where, status_text(status)));
        // Not from inside UCX's callback: after this progress call.
        self->deferred.emplace_back([self, where, status] {
          self->drop_peer(where, fmt::format("the connection failed ({})", status_text(status)));
        });
        return;
      }
    }
  }

  Peer* connect(const std::shared_ptr<Call>& call) {
    auto it = peers.find(call->address);
    if (it != peers.end())
      return &it->second;
    socklen_t length = 0;
    sockaddr_storage address =
        resolve(call->target.host, call->target.port, false, length, call->target.subject);
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                        UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    params.sockaddr.addrlen = length;
    params.err_mode = endpoint_err_mode;
    params.err_handler.cb = &Impl::on_client_ep_error;
    params.err_handler.arg = this;
    ucp_ep_h ep = nullptr;
    const ucs_status_t status = ucp_ep_create(worker, &params, &ep);
    if (status != UCS_OK)
      throw ConnectionError(fmt::format("cannot create an endpoint: {}", status_text(status)));
    Peer& peer = peers[call->address];
    peer.ep = ep;
    // A ping first: its reply confirms the connection for every call
    // waiting on it (their connect timeout ends there).
    auto ping = std::make_shared<Call>();
    ping->id = next_id.fetch_add(1);
    ping->address = call->address;
    ping->target = call->target;
    RequestHeader header{};
    header.op = static_cast<std::uint16_t>(Op::ping);
    header.id = ping->id;
    ping->header.assign(reinterpret_cast<const char*>(&header), sizeof header);
    send_request(peer, ping);
    return &peer;
  }

  static void on_request_sent(void* request, ucs_status_t status, void* user_data) {
    auto* holder = static_cast<std::shared_ptr<Call>*>(user_data);
    std::shared_ptr<Call> call = std::move(*holder);
    delete holder;
    --call->flight->count;
    if (status != UCS_OK)
      finish(call, fmt::format("sending the request failed ({})", status_text(status)));
    mark_sent(call);
    ucp_request_free(request);
  }

  void start(const std::shared_ptr<Call>& call) {
    Peer* peer = nullptr;
    try {
      peer = connect(call);
    } catch (const Error& e) {
      finish(call, e.what());
      mark_sent(call);
      return;
    }
    if (!peer->confirmed) {
      peer->waiting.push_back(call);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(call->mutex);
      call->confirmed = true;
    }
    send_request(*peer, call);
  }

  /// The peer at `address` answered its ping: sends the calls held back.
  void send_held(const std::string& address) {
    auto it = peers.find(address);
    if (it == peers.end())
      return;
    std::vector<std::shared_ptr<Call>> held = std::move(it->second.waiting);
    for (const auto& call : held) {
      {
        std::lock_guard<std::mutex> lock(call->mutex);
        call->confirmed = true;
      }
      call->changed.notify_all();
      send_request(it->second, call);
    }
  }

  void send_request(Peer& peer, const std::shared_ptr<Call>& call) {
    call->flight = &flight;
    pending.emplace(call->id, call);
    auto* holder = new std::shared_ptr<Call>(call);
    ucp_request_param_t param{};
    param.op_attr_mask =
        UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
    param.cb.send = &Impl::on_request_sent;
    param.user_data = holder;
    param.flags = UCP_AM_SEND_FLAG_REPLY;
    const void* data = nullptr;
    std::size_t count = 0;
    if (call->iov.size() == 1) {
      data = call->iov[0].buffer;
      count = call->iov[0].length;
    } else if (!call->iov.empty()) {
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_DATATYPE;
      param.datatype = ucp_dt_make_iov();
      data = call->iov.data();
      count = call->iov.size();
    }
    ucs_status_ptr_t request = ucp_am_send_nbx(peer.ep, am_request, call->header.data(),
                                               call->header.size(), data, count, &param);
    if (request == nullptr || UCS_PTR_IS_ERR(request)) {
      delete holder;
      if (UCS_PTR_IS_ERR(request)) {
        pending.erase(call->id);
        finish(call, fmt::format("sending the request failed ({})",
                                 status_text(UCS_PTR_STATUS(request))));
      }
      mark_sent(call);
    } else {
      ++flight.count;
    }
  }

  /// The caller gave up on `call` (timeout): forget it; if its send is still
  /// in flight (or the peer never answered), drop the connection so UCX
  /// releases the caller's buffers. So too while its reply's data is being
  /// received (a peer stalling or trickling it): the receive's buffer
  /// returns its pages at once (ReceiveBuffer::release_pages) and is freed
  /// when UCX completes the receive (on_reply_data), never while UCX may
  /// still write into it.
  void abandon(const std::shared_ptr<Call>& call, bool drop) {
    pending.erase(call->id);
    if (auto peer = peers.find(call->address); peer != peers.end()) {
      auto& held = peer->second.waiting;
      if (auto it = std::find(held.begin(), held.end(), call); it != held.end()) {
        held.erase(it);
        mark_sent(call);  // never handed to UCX
      }
    }
    bool sent = false;
    {
      std::lock_guard<std::mutex> lock(call->mutex);
      sent = call->send_done;
    }
    if (call->receiving && !call->receive_abandoned) {
      // UCX keeps the receive until it completes, which closing the
      // connection below does not make it do in UCX 1.13: it no longer
      // counts as in flight (the progress thread must not poll for it).
      call->receive_abandoned = true;
      --flight.count;
      call->receiving->release_pages();
    }
    if (drop || !sent || call->receiving)
      drop_peer(call->address, "the connection was dropped after a timeout");
  }

  struct ReplyReceive {
    InFlight* flight;
    std::shared_ptr<Call> call;
    std::shared_ptr<ReceiveBuffer> buffer;  // also the call's `receiving`
    Status status;
    std::size_t head_length = 0;  // bytes of the buffer that came in the header
  };

  static void on_reply_data(void* request, ucs_status_t status, std::size_t length,
                            void* user_data) {
    auto* receive = static_cast<ReplyReceive*>(user_data);
    if (!receive->call->receive_abandoned)
      --receive->flight->count;  // else when it was abandoned
    receive->call->receiving.reset();
    const std::size_t expected = receive->buffer->blob()->size - receive->head_length;
    if (status != UCS_OK || length != expected) {
      finish(receive->call, fmt::format("receiving the reply failed ({}, {} of {} bytes)",
                                        status_text(status), length, expected));
    } else {
      finish(receive->call, {}, Reply{receive->status, receive->buffer->blob(), {}, nullptr});
    }
    delete receive;
    ucp_request_free(request);
  }

  static ucs_status_t on_reply(void* arg, const void* header, std::size_t header_length, void* data,
                               std::size_t length, const ucp_am_recv_param_t* param) {
    auto* self = static_cast<Impl*>(arg);
    if (header_length < sizeof(ReplyHeader)) {
      self->say(fmt::format("dropped a reply with a {}-byte header", header_length));
      return UCS_OK;
    }
    ReplyHeader reply{};
    std::memcpy(&reply, header, sizeof reply);
    auto found = self->pending.find(reply.id);
    if (found == self->pending.end())
      return UCS_OK;  // abandoned: a rendezvous value is dropped unread
    std::shared_ptr<Call> call = std::move(found->second);
    self->pending.erase(found);
    if (reply.head_length > reply_head_size ||
        header_length != sizeof(ReplyHeader) + reply.head_length) {
      finish(call, fmt::format("the peer sent a malformed reply header ({} bytes, head of {})",
                               header_length, reply.head_length));
      return UCS_OK;
    }
    const std::string_view head(static_cast<const char*>(header) + sizeof(ReplyHeader),
                                reply.head_length);
    if (auto peer = self->peers.find(call->address);
        peer != self->peers.end() && !peer->second.confirmed) {
      peer->second.confirmed = true;
      for (auto& [id, waiting] : self->pending) {
        if (waiting->address != call->address)
          continue;
        {
          std::lock_guard<std::mutex> lock(waiting->mutex);
          waiting->confirmed = true;
        }
        waiting->changed.notify_all();
      }
      // Not from inside UCX's callback: after this progress call.
      self->deferred.emplace_back([self, address = call->address] { self->send_held(address); });
    }
    if (reply.status > static_cast<std::uint32_t>(Status::error)) {
      finish(call, fmt::format("the peer sent an unknown status {}", reply.status));
      return UCS_OK;
    }
    const auto status = static_cast<Status>(reply.status);
    if (length > call->max_reply || head.size() > call->max_reply - length) {
      finish(call, fmt::format("the peer announced a {}-byte reply, above the limit of {} bytes",
                               head.size() + length, call->max_reply));
      return UCS_OK;
    }
    // The limit may be unlimited (the default max_object_size): a size no
    // memory could hold is refused before the caller sizes an object for it.
    if (exceeds_machine_memory(head.size() + length)) {
      finish(call, fmt::format("the peer announced a {}-byte reply, more than this machine's "
                               "memory (RAM and swap: {} bytes)",
                               head.size() + length, machine_memory_bytes()));
      return UCS_OK;
    }
    const bool rendezvous = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
    std::shared_ptr<Node> owner;
    if (rendezvous && call->receive_later && status == Status::ok)
      owner = self->node->weak_from_this().lock();
    if (owner) {
      // The caller receives the data itself, straight into the object it
      // becomes (PendingValue::receive); UCX keeps the descriptor until then.
      Reply later{status, nullptr, std::string(head), nullptr};
      later.rest = std::make_unique<PendingValue>(std::move(owner), data, length, call->address,
                                                  call->target.subject);
      finish(call, {}, std::move(later));
      return UCS_INPROGRESS;
    }
    std::shared_ptr<Blob> blob;
    try {
      blob = make_blob(head.size() + length);
    } catch (const std::bad_alloc&) {
      finish(call, fmt::format("out of memory receiving a {}-byte reply", head.size() + length));
      return UCS_OK;
    }
    if (!head.empty())
      std::memcpy(blob->data.get(), head.data(), head.size());
    if (!rendezvous) {
      if (length != 0)
        std::memcpy(blob->data.get() + head.size(), data, length);
      finish(call, {}, Reply{status, std::move(blob), {}, nullptr});
      return UCS_OK;
    }
    auto* receive = new ReplyReceive{&self->flight, call, std::make_shared<ReceiveBuffer>(blob),
                                     status, head.size()};
    ucp_request_param_t recv{};
    recv.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    recv.cb.recv_am = &Impl::on_reply_data;
    recv.user_data = receive;
    ucs_status_ptr_t request =
        ucp_am_recv_data_nbx(self->worker, data, blob->data.get() + head.size(), length, &recv);
    if (request == nullptr) {
      delete receive;
      finish(call, {}, Reply{status, std::move(blob), {}, nullptr});
    } else if (UCS_PTR_IS_ERR(request)) {
      delete receive;
      finish(call,
             fmt::format("receiving the reply failed ({})", status_text(UCS_PTR_STATUS(request))));
    } else {
      ++self->flight.count;
      call->receiving = receive->buffer;
    }
    return UCS_OK;
  }

  // --- receiving a value into the caller's memory ------------------------------

  static void complete(const std::shared_ptr<DirectReceive>& op, std::string error) {
    {
      std::lock_guard<std::mutex> lock(op->mutex);
      if (op->done)
        return;
      op->done = true;
      op->error = std::move(error);
    }
    op->changed.notify_all();
  }

  static void on_direct_data(void* request, ucs_status_t status, std::size_t length,
                             void* user_data) {
    auto* holder = static_cast<std::shared_ptr<DirectReceive>*>(user_data);
    std::shared_ptr<DirectReceive> op = std::move(*holder);
    delete holder;
    --op->flight->count;
    op->request = nullptr;
    if (status != UCS_OK || length != op->size) {
      complete(op, fmt::format("receiving the value failed ({}, {} of {} bytes)",
                               status_text(status), length, op->size));
    } else {
      complete(op, {});
    }
    ucp_request_free(request);
  }

  void start_direct(const std::shared_ptr<DirectReceive>& op, void* descriptor, char* into) {
    op->flight = &flight;
    auto* holder = new std::shared_ptr<DirectReceive>(op);
    ucp_request_param_t recv{};
    recv.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    recv.cb.recv_am = &Impl::on_direct_data;
    recv.user_data = holder;
    ucs_status_ptr_t request = ucp_am_recv_data_nbx(worker, descriptor, into, op->size, &recv);
    if (request == nullptr) {
      delete holder;
      complete(op, {});
    } else if (UCS_PTR_IS_ERR(request)) {
      delete holder;
      complete(
          op, fmt::format("receiving the value failed ({})", status_text(UCS_PTR_STATUS(request))));
    } else {
      op->request = request;
      ++flight.count;
    }
  }

  /// The caller gave up on a direct receive: cancel it and force-close the
  /// connection, so UCX lets go of the caller's memory (it completes the
  /// receive with an error).
  void cancel_direct(const std::shared_ptr<DirectReceive>& op, const std::string& address) {
    if (hooks().ignore_cancel.load())
      return;  // fault injection: as if UCX kept the receive
    if (op->request != nullptr)
      ucp_request_cancel(worker, op->request);
    drop_peer(address, "the connection was dropped after a timeout");
  }

  // --- serving -----------------------------------------------------------------

  struct ReplySend {
    InFlight* flight;
    BlobPtr value;
    /// ReplyHeader + the value's first bytes (valid until the send completes).
    char header[sizeof(ReplyHeader) + reply_head_size];
  };

  static void on_reply_sent(void* request, ucs_status_t /*status*/, void* user_data) {
    auto* send = static_cast<ReplySend*>(user_data);
    --send->flight->count;
    delete send;
    ucp_request_free(request);
  }

  void send_reply(ucp_ep_h ep, std::uint64_t id, Status status, BlobPtr value) {
    if (server_eps.count(ep) == 0)
      return;  // the client is gone
    auto* send = new ReplySend{&flight, std::move(value), {}};
    const char* data = send->value ? send->value->data.get() : nullptr;
    std::size_t size = send->value ? send->value->size : 0;
    const std::size_t head = std::min(size, reply_head_size);
    const ReplyHeader header{id, static_cast<std::uint32_t>(status),
                             static_cast<std::uint32_t>(head)};
    std::memcpy(send->header, &header, sizeof header);
    if (head != 0)
      std::memcpy(send->header + sizeof header, data, head);
    data = size == head ? nullptr : data + head;
    size -= head;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.cb.send = &Impl::on_reply_sent;
    param.user_data = send;
    ucs_status_ptr_t request =
        ucp_am_send_nbx(ep, am_reply, send->header, sizeof header + head, data, size, &param);
    if (request == nullptr || UCS_PTR_IS_ERR(request))
      delete send;
    else
      ++flight.count;
  }

  void send_error(ucp_ep_h ep, std::uint64_t id, const std::string& message) {
    send_reply(ep, id, Status::error, make_blob(message, {}));
  }

  /// Runs one request (progress thread). `value` is the request's data;
  /// `admitted`, what ObjectTable::admit_incoming counts of it (not
  /// counted again against the values stored from it).
  void serve(ucp_ep_h ep, const RequestHeader& request, const std::string& key,
             const BlobPtr& value, std::size_t admitted = 0) {
    try {
      switch (static_cast<Op>(request.op)) {
        case Op::ping:
          send_reply(ep, request.id, Status::ok, nullptr);
          return;
        case Op::get: {
          BlobPtr found = table->get(key);
          send_reply(ep, request.id, found ? Status::ok : Status::missing, found);
          return;
        }
        case Op::exists:
          send_reply(ep, request.id, table->exists(key) ? Status::ok : Status::missing, nullptr);
          return;
        case Op::evict:
          table->evict(key);
          send_reply(ep, request.id, Status::ok, nullptr);
          return;
        case Op::put:
          table->put(key, value, admitted);
          send_reply(ep, request.id, Status::ok, nullptr);
          return;
        case Op::get_batch: {
          EntryReader entries(value->view());
          std::vector<BlobPtr> found;
          found.reserve(std::min<std::size_t>(request.count, value->size / 4 + 1));
          std::size_t total = 0;
          for (std::uint32_t i = 0; i < request.count; ++i) {
            const std::uint32_t length = entries.u32();
            if (length > max_key_length)
              throw StoreOperationError(fmt::format("a batch key of {} bytes", length));
            found.push_back(table->get(std::string(entries.take(length))));
            total += 9 + (found.back() ? found.back()->size : 0);
          }
          std::shared_ptr<Blob> out = make_blob(total);
          char* at = out->data.get();
          for (const BlobPtr& item : found) {
            const std::uint8_t flag = item ? 1 : 0;
            const std::uint64_t size = item ? item->size : 0;
            std::memcpy(at, &flag, 1);
            std::memcpy(at + 1, &size, 8);
            at += 9;
            if (item && size != 0) {
              std::memcpy(at, item->data.get(), item->size);
              at += item->size;
            }
          }
          send_reply(ep, request.id, Status::ok, out);
          return;
        }
        case Op::put_batch: {
          EntryReader entries(value->view());
          for (std::uint32_t i = 0; i < request.count; ++i) {
            const std::uint32_t length = entries.u32();
            if (length > max_key_length)
              throw StoreOperationError(fmt::format("a batch key of {} bytes", length));
            std::string entry_key(entries.take(length));
            const std::uint64_t size = entries.u64();
            table->put(entry_key, make_blob(entries.take(size), {}), admitted);
          }
          send_reply(ep, request.id, Status::ok, nullptr);
          return;
        }
        case Op::wait_get: {
          const std::uint64_t id = request.id;
          const auto deadline =
              std::chrono::steady_clock::now() +
              std::chrono::milliseconds(std::clamp<std::int64_t>(request.wait_ms, 0, 86400000));
          const std::uint64_t token = table->add_waiter(key, [this, ep, id](const BlobPtr& found) {
            submit([this, ep, id, found] { send_reply(ep, id, Status::ok, found); });
          });
          if (token != 0)
            remote_waits.emplace(token, RemoteWait{ep, id, deadline});
          return;
        }
      }
      send_error(ep, request.id, fmt::format("unknown operation {}", request.op));
    } catch (const std::bad_alloc&) {
      send_error(ep, request.id, "out of memory");
    } catch (const std::exception& e) {
      send_error(ep, request.id, e.what());
    }
  }

  struct RequestReceive {
    RequestReceive(Impl* owner, ucp_ep_h from, const RequestHeader& request, std::string name)
        : self(owner), ep(from), header(request), key(std::move(name)) {}

    Impl* self;
    ucp_ep_h ep;
    RequestHeader header;
    std::string key;
    std::shared_ptr<Blob> value;
    std::chrono::steady_clock::time_point deadline{};
    bool abandoned = false;  // given up: the value is dropped when UCX lets go of it
    std::unique_ptr<ReceiveBuffer> buffer{};  // `value`, while received by rendezvous
    /// Counted by ObjectTable::admit_incoming until the request has been
    /// served (the value stored), the receive failed, or its pages went
    /// back (given up).
    std::size_t admitted = 0;

    RequestReceive(const RequestReceive&) = delete;
    RequestReceive& operator=(const RequestReceive&) = delete;
    RequestReceive(RequestReceive&&) = delete;
    RequestReceive& operator=(RequestReceive&&) = delete;
    ~RequestReceive() { end_admission(); }

    /// Ends the count of admit_incoming (once).
    void end_admission() noexcept {
      self->table->release_incoming(admitted);
      admitted = 0;
    }
  };

  static void on_request_data(void* request, ucs_status_t status, std::size_t length,
                              void* user_data) {
    auto* receive = static_cast<RequestReceive*>(user_data);
    Impl* self = receive->self;
    self->receiving.erase(receive);
    if (!receive->abandoned)
      --self->flight.count;  // else when it was abandoned
    if (receive->abandoned) {
      // Given up and logged by expire_receives(): UCX writes into the
      // buffer no more, so only now is it freed.
      delete receive;
    } else if (status == UCS_OK && length == receive->value->size) {
      self->deferred.emplace_back([self, receive = std::shared_ptr<RequestReceive>(receive)] {
        self->serve(receive->ep, receive->header, receive->key, receive->value, receive->admitted);
      });
    } else {
      self->say(fmt::format("receiving a request's {} bytes failed: {}", receive->value->size,
                            status_text(status)));
      delete receive;
    }
    ucp_request_free(request);
  }

  static ucs_status_t on_request(void* arg, const void* header, std::size_t header_length,
                                 void* data, std::size_t length, const ucp_am_recv_param_t* param) {
    auto* self = static_cast<Impl*>(arg);
    if ((param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) == 0 || !self->table) {
      self->say("dropped a request without a reply endpoint");
      return UCS_OK;
    }
    ucp_ep_h ep = param->reply_ep;
    if (header_length < sizeof(RequestHeader)) {
      self->say(fmt::format("dropped a request with a {}-byte header", header_length));
      return UCS_OK;
    }
    RequestHeader request{};
    std::memcpy(&request, header, sizeof request);
    const std::size_t key_length = header_length - sizeof request;
    if (request.magic != request_magic || request.key_length != key_length ||
        key_length > max_key_length) {
      self->say(fmt::format("dropped a malformed request (magic {:#x}, key of {} bytes)",
                            request.magic, key_length));
      return UCS_OK;
    }
    std::string key(static_cast<const char*>(header) + sizeof request, key_length);
    const bool carries_value = request.op == static_cast<std::uint16_t>(Op::put) ||
                               request.op == static_cast<std::uint16_t>(Op::put_batch) ||
                               request.op == static_cast<std::uint16_t>(Op::get_batch);
    if (!carries_value && length != 0) {
      self->deferred.emplace_back([self, ep, id = request.id] {
        self->send_error(ep, id, "unexpected data with the request");
      });
      return UCS_OK;
    }
    const std::size_t limit = request.op == static_cast<std::uint16_t>(Op::get_batch)
                                  ? max_batch_entries * (max_key_length + 4)
                                  : self->table->max_put_size();
    if (length > limit) {
      self->deferred.emplace_back([self, ep, id = request.id, length, limit] {
        self->send_error(
            ep, id,
            fmt::format("a value of {} bytes exceeds the limit of {} bytes", length, limit));
      });
      return UCS_OK;
    }
    auto* receive = new RequestReceive(self, ep, request, std::move(key));
    try {
      receive->value = make_blob(length);
    } catch (const std::bad_alloc&) {
      self->deferred.emplace_back([self, ep, id = request.id, length] {
        self->send_error(ep, id, fmt::format("out of memory for a {}-byte value", length));
      });
      delete receive;
      return UCS_OK;
    }
    if ((param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) == 0) {
      if (length != 0)
        std::memcpy(receive->value->data.get(), data, length);
      self->deferred.emplace_back([self, receive = std::shared_ptr<RequestReceive>(receive)] {
        self->serve(receive->ep, receive->header, receive->key, receive->value, receive->admitted);
      });
      return UCS_OK;
    }
    // Values to store count against the memory limit from here (only what
    // has not arrived yet: a value sent in the message itself, above, is
    // here already). A get_batch's key list is not stored.
    const bool put = request.op == static_cast<std::uint16_t>(Op::put);
    const bool stores_value = put || request.op == static_cast<std::uint16_t>(Op::put_batch);
    const std::size_t footprint = receive->value->footprint();
    if (stores_value && !self->table->admit_incoming(footprint)) {
      std::string refusal = fmt::format(
          "a {} of {} bytes{} was refused: it does not fit the memory limit of {} bytes beside "
          "the stored values ({} bytes) and the puts being received ({} bytes); try again later",
          put ? "put" : "put_batch", length,
          receive->key.empty() ? std::string()
                               : fmt::format(" for key '{}'", printable(receive->key)),
          self->table->memory_limit(), self->table->memory_bytes(), self->table->incoming_bytes());
      self->deferred.emplace_back([self, ep, id = request.id, refusal = std::move(refusal)] {
        self->send_error(ep, id, refusal);
      });
      delete receive;
      return UCS_OK;
    }
    if (stores_value)
      receive->admitted = footprint;
    ucp_request_param_t recv{};
    recv.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    recv.cb.recv_am = &Impl::on_request_data;
    recv.user_data = receive;
    ucs_status_ptr_t pending_recv =
        ucp_am_recv_data_nbx(self->worker, data, receive->value->data.get(), length, &recv);
    if (pending_recv == nullptr) {
      self->deferred.emplace_back([self, receive = std::shared_ptr<RequestReceive>(receive)] {
        self->serve(receive->ep, receive->header, receive->key, receive->value, receive->admitted);
      });
    } else if (UCS_PTR_IS_ERR(pending_recv)) {
      self->say(fmt::format("receiving a request's {} bytes failed: {}", length,
                            status_text(UCS_PTR_STATUS(pending_recv))));
      delete receive;
    } else {
      ++self->flight.count;
      receive->deadline = std::chrono::steady_clock::now() + self->receive_timeout;
      receive->buffer = std::make_unique<ReceiveBuffer>(receive->value);
      self->receiving.insert(receive);
    }
    return UCS_OK;
  }

  /// Gives up the request receives past their deadline (a client that
  /// announced a value and then stalls, or trickles it, must not hold the
  /// buffer and the receive for ever): logs one line, returns the buffer's
  /// pages (ReceiveBuffer::release_pages) and closes the client's
  /// connection. UCX 1.13 neither cancels an active-message receive
  /// (ucp_request_cancel ignores it) nor fails it when a connection without
  /// peer error handling is closed, so the buffer itself is freed in
  /// on_request_data if UCX ever completes the receive, else when the node
  /// stops (~Node, after the worker is destroyed): never while UCX may
  /// still write into it.
  void expire_receives() {
    const auto now = std::chrono::steady_clock::now();
    while (true) {
      // One at a time: closing an endpoint may complete (and delete) other
      // receives on it.
      auto expired = std::find_if(receiving.begin(), receiving.end(), [&](RequestReceive* r) {
        return !r->abandoned && r->deadline <= now;
      });
      if (expired == receiving.end())
        return;
      RequestReceive* receive = *expired;
      ucp_ep_h ep = receive->ep;
      const auto op = static_cast<Op>(receive->header.op);
      // Logged once the memory is released: a reader of the log (a test)
      // sees the release done.
      const std::string line = fmt::format(
          "gave up receiving a {} of {} bytes{} from {} on {}: not complete within the receive "
          "timeout of {} ms; closed the connection",
          op == Op::put ? "put" : (op == Op::put_batch ? "put_batch" : "get_batch"),
          receive->value->size,
          receive->key.empty() ? std::string()
                               : fmt::format(" for key '{}'", printable(receive->key)),
          // An endpoint closed already (failed) must not be queried.
          server_eps.count(ep) != 0 ? remote_address(ep) : std::string("a closed connection"),
          bound_address, receive_timeout.count());
      for (RequestReceive* other : receiving) {
        if (other->ep == ep && !other->abandoned) {  // this one, and others on its connection
          other->abandoned = true;
          --flight.count;
          // A buffer whose pages cannot go back (not mapped: below
          // huge_page_from) stays counted until UCX lets go of it.
          if (other->buffer->release_pages())
            other->end_admission();
        }
      }
      say(line);
      if (server_eps.erase(ep) != 0)
        close_ep(ep);
    }
  }

  static void on_server_ep_error(void* arg, ucp_ep_h ep, ucs_status_t status) {
    auto* self = static_cast<Impl*>(arg);
    if (self->server_eps.erase(ep) == 0)
      return;
    if (status != UCS_ERR_CONNECTION_RESET && status != UCS_ERR_ENDPOINT_TIMEOUT &&
        status != UCS_ERR_NOT_CONNECTED) {
      self->say(
          fmt::format("connection error on {}: {}", self->bound_address, status_text(status)));
    }
    self->deferred.emplace_back([self, ep] { self->close_ep(ep); });
  }

  static void on_connection(ucp_conn_request_h request, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLER |
                        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.conn_request = request;
    params.err_mode = endpoint_err_mode;
    params.err_handler.cb = &Impl::on_server_ep_error;
    params.err_handler.arg = self;
    ucp_ep_h ep = nullptr;
    const ucs_status_t status = ucp_ep_create(self->worker, &params, &ep);
    if (status != UCS_OK) {
      ucp_conn_request_attr_t attr{};
      attr.field_mask = UCP_CONN_REQUEST_ATTR_FIELD_CLIENT_ADDR;
      std::string from = "?";
      if (ucp_conn_request_query(request, &attr) == UCS_OK)
        from = describe_sockaddr(attr.client_address);
      self->say(fmt::format("connection from {} to {} refused: {}", from, self->bound_address,
                            status_text(status)));
      return;
    }
    self->server_eps.insert(ep);
  }

  void expire_remote_waits() {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = remote_waits.begin(); it != remote_waits.end();) {
      if (it->second.deadline <= now) {
        if (table->cancel_waiter(it->first))
          send_reply(it->second.ep, it->second.id, Status::missing, nullptr);
        it = remote_waits.erase(it);
      } else {
        ++it;
      }
    }
  }

  // --- the progress thread -------------------------------------------------------

  void run() {
    auto last_activity = std::chrono::steady_clock::now();
    auto last_event = last_activity;  // only real events move it (not a poll)
    const auto no_spinners = [this] {
      return spinners.load() == 0;
    };
    while (true) {
      const std::uint64_t seen = rest_epoch.load();
      if (!stopping.load() && spinner_drives(std::chrono::steady_clock::now())) {
        // A caller drives the worker, and with it every transfer on it:
        // stay off it rather than contend for progress_mutex (woken from
        // poll() by one of the caller's events, for instance).
        rest_until(std::chrono::steady_clock::now() + rest_interval, seen, no_spinners);
        continue;
      }
      std::unique_lock<std::mutex> lock(progress_mutex);
      int timeout_ms = 0;
      {
        const Hold hold(this);
        const bool active = pump();
        if (stopping.load()) {
          if (retire_requested.load())
            teardown();
          else
            shutdown();
          return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (active) {
          last_activity = now;
          last_event = now;
          continue;
        }
        if (flight.count != 0 && now - last_event < flight_spin_idle) {
          // A transfer is under way (not every transport wakes the event
          // descriptor for the steps of a rendezvous): keep progressing.
          lock.unlock();
          relax_cpu();
          continue;
        }
        if (spinner_drives(now)) {
          // A caller drives the worker: rest briefly instead of waking on
          // every event it handles.
          lock.unlock();
          rest_until(now + rest_interval, seen, no_spinners);
          continue;
        }
        // Right after some work, another request or reply is likely: a
        // short bounded spin saves the wake-up from poll() (an idle node
        // sleeps: this ends thread_spin_idle after the last event).
        if (now - last_activity < thread_spin_idle) {
          lock.unlock();
          relax_cpu();
          continue;
        }
        {
          std::lock_guard<std::mutex> tasks_lock(tasks_mutex);
          if (!tasks.empty())
            continue;
        }
        if (listener == nullptr && callers_recent(now) && awaits_nothing()) {
          // A client node whose callers come one after another and drive
          // the worker themselves: armed, the worker would wake this thread
          // for each of their replies, taking a core from them and from the
          // peer. Nothing arrives unasked at a node without a listener that
          // awaits no reply. Every call starts with a submit() whose caller
          // then spins; a caller that stops spinning without its reply, any
          // other submit(), a retirement and the destructor end this rest.
          lock.unlock();
          const std::chrono::steady_clock::time_point last{
              std::chrono::steady_clock::duration{last_satisfied_spin.load()}};
          rest_until(last + caller_recent, seen, [] { return false; });
          continue;
        }
        const ucs_status_t armed = ucp_worker_arm(worker);
        if (armed == UCS_ERR_BUSY)
          continue;
        timeout_ms = armed != UCS_OK || flight.count != 0 ? 1 : (remote_waits.empty() ? 200 : 10);
      }
      lock.unlock();
      pollfd fd{event_fd, POLLIN, 0};
      ::poll(&fd, 1, timeout_ms);
      last_activity = std::chrono::steady_clock::now() - thread_spin_idle;
    }
  }

  /// Destroys the worker and the context (progress thread, after its loop):
  /// UCX releases every request with them, so nothing of UCX can write into
  /// a caller's memory afterwards. Then completes every call and direct
  /// receive still waiting, and the node is retired for good.
  void teardown() {
    std::vector<std::function<void()>> last;
    {
      std::lock_guard<std::mutex> lock(tasks_mutex);
      retired = true;  // submit() refuses from here on
      last.swap(tasks);
    }
    for (auto& task : last)
      task();  // calls started here fail in shutdown(), at once
    std::vector<std::shared_ptr<Call>> calls;
    calls.reserve(pending.size());
    for (auto& entry : pending)
      calls.push_back(entry.second);
    shutdown();  // fails the pending calls, force-closes every endpoint
    ucp_worker_destroy(worker);
    worker = nullptr;
    ucp_cleanup(context);
    context = nullptr;
    deferred.clear();
    remote_waits.clear();
    for (const auto& call : calls)
      mark_sent(call);  // UCX no longer reads the request's buffers
    std::set<std::shared_ptr<DirectReceive>> left;
    {
      std::lock_guard<std::mutex> lock(directs_mutex);
      torn_down = true;
      left.swap(directs);
    }
    for (const auto& op : left)
      complete(op, "the UCX worker was torn down");
    gone.store(true);
  }

  void shutdown() {
    for (auto& [id, call] : pending)
      finish(call, "the transport was shut down");
    pending.clear();
    for (auto& [address, peer] : peers) {
      for (const auto& call : peer.waiting) {
        finish(call, "the transport was shut down");
        mark_sent(call);
      }
    }
    std::vector<ucs_status_ptr_t> closing;
    auto close = [&](ucp_ep_h ep) {
      ucp_request_param_t param{};
      param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      param.flags = endpoint_err_mode == UCP_ERR_HANDLING_MODE_PEER
                        ? static_cast<std::uint32_t>(UCP_EP_CLOSE_FLAG_FORCE)
                        : 0U;
      ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
      if (request != nullptr && !UCS_PTR_IS_ERR(request))
        closing.push_back(request);
    };
    for (auto& [address, peer] : peers)
      close(peer.ep);
    peers.clear();
    for (ucp_ep_h ep : server_eps)
      close(ep);
    server_eps.clear();
    if (listener != nullptr) {
      ucp_listener_destroy(listener);
      listener = nullptr;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    for (ucs_status_ptr_t request : closing) {
      while (ucp_request_check_status(request) == UCS_INPROGRESS &&
             std::chrono::steady_clock::now() < deadline) {
        // A stopped peer never acknowledges the flush: wait for it without
        // spinning a core for the whole bound.
        if (ucp_worker_progress(worker) == 0)
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      ucp_request_free(request);
    }
    deferred.clear();
  }
};

Node::Node(std::optional<Listen> listen, std::shared_ptr<ObjectTable> table,
           std::function<void(const std::string&)> log)
    : impl_(std::make_unique<Impl>()) {
  // UCX's process-wide state (its async thread, shared memory, sockets)
  // does not survive fork(): a child of a process that used it cannot
  // start UCX again.
  static std::atomic<pid_t> first_user{0};
  pid_t expected = 0;
  if (!first_user.compare_exchange_strong(expected, current_pid()) && expected != current_pid()) {
    throw ConnectionError(fmt::format(
        "{}: this process ({}) is a forked child of process {}, which used UCX before the fork; "
        "UCX cannot be used again in a forked child: use the stores in the parent, or create "
        "them in a process that forks before using UCX (or execs)",
        listen
            ? fmt::format("UCX listener on {}", join_address(printable(listen->host), listen->port))
            : std::string("UCX client"),
        current_pid(), expected));
  }
  Impl& impl = *impl_;
  impl.node = this;
  impl.table = std::move(table);
  impl.log = std::move(log);
  if (listen)
    impl.receive_timeout = listen->receive_timeout;
  const std::string subject =
      listen
          ? fmt::format("UCX listener on {}", join_address(printable(listen->host), listen->port))
          : std::string("UCX client");

  ucp_config_t* config = nullptr;
  ucs_status_t status = ucp_config_read(nullptr, nullptr, &config);
  if (status != UCS_OK)
    throw ConnectionError(
        fmt::format("{}: reading the UCX configuration failed: {}", subject, status_text(status)));
  // A listener restarted on its port must bind it again at once (unless
  // the user's environment says otherwise).
  if (listen && std::getenv("UCX_CM_REUSEADDR") == nullptr)  // NOLINT(concurrency-mt-unsafe)
    ucp_config_modify(config, "CM_REUSEADDR", "y");
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  params.name = "proxystore";
  status = ucp_init(&params, config, &impl.context);
  ucp_config_release(config);
  if (status != UCS_OK)
    throw ConnectionError(
        fmt::format("{}: initialising UCX failed: {}", subject, status_text(status)));
  static std::once_flag quiet_logs;
  std::call_once(quiet_logs, [] { ucs_log_push_handler(&quiet_flush_errors); });

  auto fail = [&](const std::string& what, ucs_status_t why) {
    if (impl.listener != nullptr)
      ucp_listener_destroy(impl.listener);
    if (impl.worker != nullptr)
      ucp_worker_destroy(impl.worker);
    ucp_cleanup(impl.context);
    throw ConnectionError(fmt::format("{}: {}: {}", subject, what, status_text(why)));
  };

  ucp_worker_params_t worker_params{};
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_MULTI;
  status = ucp_worker_create(impl.context, &worker_params, &impl.worker);
  if (status != UCS_OK)
    fail("creating the UCX worker failed", status);
  status = ucp_worker_get_efd(impl.worker, &impl.event_fd);
  if (status != UCS_OK)
    fail("the UCX worker has no event descriptor", status);

  for (unsigned id : {am_request, am_reply}) {
    ucp_am_handler_param_t handler{};
    handler.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                         UCP_AM_HANDLER_PARAM_FIELD_ARG;
    handler.id = id;
    handler.cb = id == am_request ? &Impl::on_request : &Impl::on_reply;
    handler.arg = &impl;
    status = ucp_worker_set_am_recv_handler(impl.worker, &handler);
    if (status != UCS_OK)
      fail("registering the active message handlers failed", status);
  }

  if (listen) {
    socklen_t length = 0;
    sockaddr_storage address{};
    try {
      address = resolve(listen->host, listen->port, true, length, subject);
    } catch (const ConnectionError& e) {
      fail(e.what(), UCS_ERR_INVALID_ADDR);
    }
    ucp_listener_params_t listener_params{};
    listener_params.field_mask =
        UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
    listener_params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    listener_params.sockaddr.addrlen = length;
    listener_params.conn_handler.cb = &Impl::on_connection;
    listener_params.conn_handler.arg = &impl;
    status = ucp_listener_create(impl.worker, &listener_params, &impl.listener);
    if (status != UCS_OK)
      fail("cannot listen", status);
    ucp_listener_attr_t attr{};
    attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
    status = ucp_listener_query(impl.listener, &attr);
    if (status != UCS_OK)
      fail("cannot query the listener's address", status);
    const std::string bound = describe_sockaddr(attr.sockaddr);
    impl.bound_port = std::stoi(bound.substr(bound.rfind(':') + 1));
    impl.bound_address = join_address(listen->host, impl.bound_port);
  }
  impl.thread = std::thread([&impl] { impl.run(); });
}

Node::~Node() {
  if (forked()) {
    // A forked child: the progress thread is the parent's and the worker's
    // sockets and shared memory are shared with the parent. Tearing them
    // down here would close the parent's connections (and joining a thread
    // this process does not have is undefined): leave all of it alone.
    (void)impl_.release();  // NOLINT(bugprone-unused-return-value)
    return;
  }
  impl_->stopping.store(true);
  {
    std::lock_guard<std::mutex> lock(impl_->tasks_mutex);
    if (!impl_->retired)
      ucp_worker_signal(impl_->worker);
  }
  impl_->wake_rest();
  if (impl_->thread.joinable())
    impl_->thread.join();
  if (impl_->worker != nullptr)  // null: torn down already (teardown())
    ucp_worker_destroy(impl_->worker);
  if (impl_->context != nullptr)
    ucp_cleanup(impl_->context);
  // Receives UCX never completed: with the worker gone nothing writes into
  // their buffers any more.
  for (Impl::RequestReceive* receive : impl_->receiving)
    delete receive;
}

std::string Node::address() const {
  return impl_->bound_address;
}

bool Node::forked() const noexcept {
  return impl_->owner != current_pid();
}

bool Node::retired() const noexcept {
  return impl_->retire_requested.load();
}

int Node::port() const noexcept {
  return impl_->bound_port;
}

Reply Node::call(const Target& target, Op op, std::string_view key,
                 const std::vector<std::string_view>& parts, std::size_t max_reply,
                 std::string_view what, std::chrono::milliseconds extra_wait, std::uint32_t count,
                 bool receive_later) {
  const std::string address = target.address();
  auto failure = [&](const std::string& why) {
    return fmt::format("{} at {}, key '{}': {}", target.subject, printable(address),
                       printable(what), why);
  };
  if (forked()) {
    throw ConnectionError(failure(fmt::format(
        "this process ({}) is a fork of the one whose UCX worker this is ({}); a forked "
        "child cannot use its parent's worker",
        current_pid(), impl_->owner)));
  }
  if (key.size() > max_key_length)
    throw StoreOperationError(
        failure(fmt::format("the key is {} bytes, above {}", key.size(), max_key_length)));
  auto call = std::make_shared<Call>();
  call->id = impl_->next_id.fetch_add(1);
  call->address = address;
  call->target = target;
  call->max_reply = max_reply;
  call->receive_later = receive_later;
  RequestHeader header{};
  header.op = static_cast<std::uint16_t>(op);
  header.id = call->id;
  header.key_length = static_cast<std::uint32_t>(key.size());
  header.count = count;
  header.wait_ms = extra_wait.count();
  call->header.assign(reinterpret_cast<const char*>(&header), sizeof header);
  call->header.append(key);
  for (std::string_view part : parts) {
    if (!part.empty())
      call->iov.push_back(ucp_dt_iov_t{const_cast<char*>(part.data()), part.size()});
  }
  const auto started = std::chrono::steady_clock::now();
  if (!impl_->submit([impl = impl_.get(), call] { impl->start(call); }, true)) {
    throw ConnectionError(failure(
        "this UCX client was torn down after a stalled transfer; the next request uses a new one"));
  }

  const auto connect_deadline = started + target.connect_timeout;
  const auto command_deadline =
      started + target.connect_timeout + target.command_timeout + extra_wait;
  const auto sleeping = impl_->spin_until(
      [&call] {
        std::lock_guard<std::mutex> lock(call->mutex);
        return call->done && call->send_done;
      },
      connect_deadline);
  std::unique_lock<std::mutex> lock(call->mutex);
  bool timed_out = false;
  bool never_connected = false;
  if (!call->changed.wait_until(lock, connect_deadline,
                                [&] { return call->done || call->confirmed; })) {
    timed_out = true;
    never_connected = true;
  } else if (!call->changed.wait_until(lock, command_deadline, [&] { return call->done; })) {
    timed_out = true;
  }
  if (timed_out) {
    lock.unlock();
    impl_->submit(
        [impl = impl_.get(), call, never_connected] { impl->abandon(call, never_connected); });
    lock.lock();
  }
  // The request's buffers are the caller's: wait until UCX lets go of them
  // (a dropped connection cancels the send promptly).
  if (!call->changed.wait_until(lock, std::chrono::steady_clock::now() + std::chrono::seconds(10),
                                [&] { return call->send_done; })) {
    // UCX kept the send: tear the client down (as PendingValue::receive
    // does), after which nothing of UCX reads the caller's buffers.
    lock.unlock();
    impl_->request_retire();
    lock.lock();
    while (!call->send_done && !impl_->gone.load())
      call->changed.wait_for(lock, std::chrono::milliseconds(20));
  }
  if (timed_out && !call->done) {
    if (never_connected) {
      throw TimeoutError(failure(fmt::format("no answer within the connect timeout of {} ms",
                                             target.connect_timeout.count())));
    }
    throw TimeoutError(failure(fmt::format("no reply within the command timeout of {} ms",
                                           target.command_timeout.count() + extra_wait.count())));
  }
  if (!call->error.empty())
    throw ConnectionError(failure(call->error));
  return std::move(call->reply);
}

// --- PendingValue ---------------------------------------------------------------

PendingValue::PendingValue(std::shared_ptr<Node> node, void* descriptor, std::size_t size,
                           std::string address, std::string subject) noexcept
    : node_(std::move(node)),
      descriptor_(descriptor),
      size_(size),
      address_(std::move(address)),
      subject_(std::move(subject)) {}

PendingValue::~PendingValue() {
  if (used_ || node_->forked())
    return;
  // Not received: release the descriptor (UCX tells the sender).
  Node::Impl* impl = node_->impl_.get();
  impl->submit([impl, descriptor = descriptor_] { ucp_am_data_release(impl->worker, descriptor); });
}

// Who writes into `into`, and why returning is safe once `op` is done:
// - tcp: the value arrives on our socket and our progress thread copies it
//   (also for a "put" by the sender: UCX's tcp put is data on the socket);
// - cma, and RDMA with the get protocol (UCX's default when the sender's
//   memory can be read): our progress thread reads the sender's memory;
// - RDMA put (UCX_RNDV_SCHEME=put_zcopy, or no get lane): the sender's NIC
//   writes into memory UCX registered for this receive; the registration
//   (and UCX's cache of it) ends with the request, at the latest when the
//   context is cleaned up, so a late write is refused by the NIC.
// So once UCX completed the request (with data or an error) or the worker
// and context are gone, nothing writes into `into` any more. (A cma put,
// only under UCX_RNDV_SCHEME=put_zcopy, is the one transport whose writes
// no local teardown can fence: the sender calls process_vm_writev itself.)
void PendingValue::receive(char* into, std::chrono::milliseconds timeout, std::string_view what) {
  auto failure = [&](const std::string& why) {
    return fmt::format("{} at {}, key '{}': {}", subject_, printable(address_), printable(what),
                       why);
  };
  if (used_)
    throw StoreOperationError(failure("the value was received already"));
  used_ = true;
  Node::Impl* impl = node_->impl_.get();
  auto op = std::make_shared<DirectReceive>();
  op->size = size_;
  if (!impl->track(op)) {
    throw ConnectionError(
        failure("the UCX client was torn down after a stalled transfer before the value arrived"));
  }
  class Untrack {
   public:
    Untrack(Node::Impl* impl, std::shared_ptr<DirectReceive> op)
        : impl_(impl), op_(std::move(op)) {}
    Untrack(const Untrack&) = delete;
    Untrack& operator=(const Untrack&) = delete;
    Untrack(Untrack&&) = delete;
    Untrack& operator=(Untrack&&) = delete;
    ~Untrack() { impl_->untrack(op_); }

   private:
    Node::Impl* impl_;
    std::shared_ptr<DirectReceive> op_;
  };
  const Untrack untrack(impl, op);
  {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(hooks().mutex);
      hook = hooks().before_direct_receive;
    }
    if (hook)
      hook();
  }
  // Refused only when a teardown is under way, which completes `op`.
  (void)impl->submit(
      [impl, op, descriptor = descriptor_, into] { impl->start_direct(op, descriptor, into); },
      true);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto sleeping = impl->spin_until(
      [&op] {
        std::lock_guard<std::mutex> lock(op->mutex);
        return op->done;
      },
      deadline);
  std::unique_lock<std::mutex> lock(op->mutex);
  if (op->changed.wait_until(lock, deadline, [&] { return op->done; })) {
    if (!op->error.empty())
      throw ConnectionError(failure(op->error));
    return;
  }
  // Timed out. 1: cancel the receive and force-close the connection (UCX
  // then fails the receive).
  lock.unlock();
  (void)impl->submit([impl, op, address = address_] { impl->cancel_direct(op, address); });
  lock.lock();
  bool torn_down = false;
  if (!op->changed.wait_for(lock, cancel_grace, [&] { return op->done; })) {
    // 2: UCX kept the receive. Tear the node down: destroying the worker
    // releases every request, and teardown() completes `op` after it.
    lock.unlock();
    impl->say(failure("UCX did not release a cancelled receive; tearing the UCX client down"));
    impl->request_retire();
    lock.lock();
    // Bounded by the teardown itself (our own progress thread force-closes
    // the endpoints, at most 2 s, and destroys the worker: no waits on a
    // peer). Returning earlier would hand back memory UCX may still write.
    op->changed.wait(lock, [&] { return op->done; });
    torn_down = true;
  }
  if (op->error.empty())
    return;  // it completed after all
  throw TimeoutError(failure(fmt::format(
      "no value within the command timeout of {} ms{}", timeout.count(),
      torn_down ? "; the transfer did not stop when cancelled, so this process's UCX client was "
                  "torn down (its other transfers failed too; the next request starts a new one)"
                : "; the transfer was cancelled and the connection closed")));
}

std::shared_ptr<Node> Node::client() {
  static std::mutex mutex;
  static std::shared_ptr<Node>* node = nullptr;  // never destroyed (used at exit)
  static pid_t owner = 0;
  std::lock_guard<std::mutex> lock(mutex);
  if (node != nullptr && owner == current_pid() && (*node)->retired()) {
    // Torn down after a stalled transfer: a new worker for the next request
    // (the old node lives on while a store or a pending value holds it).
    *node = std::make_shared<Node>(std::nullopt, nullptr);
  } else if (node == nullptr || owner != current_pid()) {
    // In a forked child the parent's progress thread does not exist: the
    // old node is abandoned, never touched again.
    node = new std::shared_ptr<Node>(std::make_shared<Node>(std::nullopt, nullptr));
    owner = current_pid();
  }
  return *node;
}

}  // namespace proxystore::detail::ucx
