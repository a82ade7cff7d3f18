// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/peer.hpp>

#include "detail/redis_values.hpp"
#include "detail/ucx_transport.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <typeinfo>
#include <utility>

#include <unistd.h>

namespace proxystore {

namespace ucx = detail::ucx;

namespace {

void check_timeouts(const std::string& subject, const PeerOptions& options) {
  if (options.connect_timeout.count() < 0 || options.command_timeout.count() < 0)
    throw Error(fmt::format("{}: timeouts must not be negative", subject));
}

Bytes to_bytes(ucx::BlobPtr blob) {
  const char* data = blob->data.get();
  const std::size_t size = blob->size;
  return {data, size, std::move(blob)};
}

static_assert(ucx::reply_head_size == detail::streamed_head_size,
              "a reply's head is what Store::get reads first");

/// A value whose first bytes came with the reply and whose rest is still
/// with the peer (a rendezvous): Store::get reads the head, sizes the
/// object and then the rest lands in it in one transfer. Read any other
/// way (in slices), the rest is received once into a buffer first.
class RendezvousReader final : public ValueReader {
 public:
  RendezvousReader(ucx::Reply reply, std::chrono::milliseconds timeout, std::string_view what)
      : head_(std::move(reply.head)),
        rest_(std::move(reply.rest)),
        timeout_(timeout),
        what_(what) {}

  std::size_t size() const noexcept override { return head_.size() + rest_->size(); }
  bool single_transfer() const noexcept override { return !buffer_ && position_ <= head_.size(); }

  void read(char* into, std::size_t n) override {
    if (n > size() - position_)
      throw StoreOperationError(fmt::format("read past the end of a {}-byte value", size()));
    if (position_ < head_.size()) {
      const std::size_t from_head = std::min(n, head_.size() - position_);
      std::memcpy(into, head_.data() + position_, from_head);
      position_ += from_head;
      into += from_head;
      n -= from_head;
    }
    if (n == 0)
      return;
    const std::size_t offset = position_ - head_.size();  // into the rest
    if (!buffer_ && offset == 0 && n == rest_->size()) {
      rest_->receive(into, timeout_, what_);  // straight into the caller's memory
    } else {
      if (!buffer_) {
        std::shared_ptr<ucx::Blob> buffer = ucx::make_blob(rest_->size());
        rest_->receive(buffer->data.get(), timeout_, what_);
        buffer_ = std::move(buffer);
      }
      std::memcpy(into, buffer_->data.get() + offset, n);
    }
    position_ += n;
  }

 private:
  std::string head_;
  std::unique_ptr<ucx::PendingValue> rest_;
  std::chrono::milliseconds timeout_;
  std::string_view what_;
  ucx::BlobPtr buffer_;
  std::size_t position_ = 0;
};

}  // namespace

// --- PeerStore -------------------------------------------------------------------

PeerStore::PeerStore(std::string name, PeerOptions options)
    : Store(std::move(name), options.store), options_(std::move(options)) {
  const std::string subject = fmt::format("peer store '{}'", detail::printable(this->name()));
  check_timeouts(subject, options_);
  if (options_.listen_host.empty())
    throw Error(fmt::format("{}: listen_host is empty", subject));
  if (options_.port < 0 || options_.port > 65535)
    throw Error(fmt::format("{}: port {} is not in [0, 65535]", subject, options_.port));
  table_ = std::make_shared<ucx::ObjectTable>(options_.memory_limit, std::string(), subject);
  // A put's value that has not arrived when a client with this store's
  // timeouts (those of its config) would have given up is given up here.
  node_ = std::make_unique<ucx::Node>(
      ucx::Node::Listen{options_.listen_host, options_.port,
                        options_.connect_timeout + options_.command_timeout},
      table_);
  table_->set_label(fmt::format("{} at {}", subject, node_->address()));
}

PeerStore::~PeerStore() = default;

StoreConfig PeerStore::config() const {
  return StoreConfig{"peer",
                     name(),
                     {{"host", options_.listen_host},
                      {"port", std::to_string(node_->port())},
                      {"connect_timeout_ms", std::to_string(options_.connect_timeout.count())},
                      {"command_timeout_ms", std::to_string(options_.command_timeout.count())}}};
}

std::string PeerStore::address() const {
  return node_->address();
}

int PeerStore::port() const noexcept {
  return node_->port();
}

std::size_t PeerStore::memory_bytes() const {
  return table_->memory_bytes();
}

void PeerStore::check_not_forked() const {
  if (node_->forked()) {
    throw StoreOperationError(fmt::format(
        "peer store '{}' at {}: this process ({}) is a forked child of the process that serves "
        "the store; its objects, listener and UCX worker stay with the parent (UCX cannot be "
        "used again after fork): create stores in the child only if its parent never used UCX",
        detail::printable(name()), node_->address(), ::getpid()));
  }
}

void PeerStore::do_put(const Key& key, std::string_view bytes) {
  check_not_forked();
  table_->put(key.id, ucx::make_blob(bytes, {}));
}

void PeerStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  check_not_forked();
  table_->put(key.id, ucx::make_blob(head, body));
}

std::optional<Bytes> PeerStore::do_get(const Key& key) {
  check_not_forked();
  ucx::BlobPtr found = table_->get(key.id);
  if (!found)
    return std::nullopt;
  return to_bytes(std::move(found));
}

bool PeerStore::do_exists(const Key& key) {
  check_not_forked();
  return table_->exists(key.id);
}

void PeerStore::do_evict(const Key& key) {
  check_not_forked();
  table_->evict(key.id);
}

std::optional<Bytes> PeerStore::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  check_not_forked();
  ucx::BlobPtr found = table_->wait_get(key.id, timeout);
  if (!found)
    return std::nullopt;
  return to_bytes(std::move(found));
}

// --- EndpointStore -----------------------------------------------------------------

struct EndpointStore::Impl {
  ucx::Target target;
  std::size_t max_reply = 0;
  std::mutex node_mutex;
  std::shared_ptr<ucx::Node> node;

  /// The process's client node. In a forked child the parent's worker and
  /// progress thread are not the child's to use: Node::client() makes the
  /// child's own if UCX was not used before the fork, else throws saying so.
  /// A node torn down after a stalled transfer is replaced likewise.
  std::shared_ptr<ucx::Node> current_node() {
    std::lock_guard<std::mutex> lock(node_mutex);
    if (node->forked() || node->retired())
      node = ucx::Node::client();
    return node;
  }

  ucx::Reply call(ucx::Op op, const Key& key, const std::vector<std::string_view>& parts,
                  std::size_t max, std::chrono::milliseconds extra = {}, std::uint32_t count = 0,
                  std::string_view what = {}, bool receive_later = false) {
    ucx::Reply reply = current_node()->call(
        target, op, key.id, parts, max, what.empty() ? key.id : what, extra, count, receive_later);
    if (reply.status == ucx::Status::error) {
      throw StoreOperationError(fmt::format(
          "{} at {}, key '{}': the server refused the request: {}", target.subject,
          detail::printable(target.address()), detail::printable(what.empty() ? key.id : what),
          detail::printable(reply.value ? reply.value->view() : std::string_view(), 512)));
    }
    return reply;
  }
};

EndpointStore::EndpointStore(std::string name, std::string host, int port,
                             PeerOptions options)  // NOLINT(performance-unnecessary-value-param)
    : Store(std::move(name), options.store), impl_(std::make_unique<Impl>()) {
  const std::string subject = fmt::format("peer store '{}'", detail::printable(this->name()));
  check_timeouts(subject, options);
  if (host.empty())
    throw Error(fmt::format("{}: host is empty", subject));
  if (port < 1 || port > 65535)
    throw Error(fmt::format("{}: port {} is not in [1, 65535]", subject, port));
  impl_->target.host = std::move(host);
  impl_->target.port = port;
  impl_->target.connect_timeout = options.connect_timeout;
  impl_->target.command_timeout = options.command_timeout;
  impl_->target.subject = subject;
  impl_->max_reply = options.store.max_object_size;
  impl_->node = ucx::Node::client();
}

EndpointStore::~EndpointStore() = default;

StoreConfig EndpointStore::config() const {
  return StoreConfig{
      "peer",
      name(),
      {{"host", impl_->target.host},
       {"port", std::to_string(impl_->target.port)},
       {"connect_timeout_ms", std::to_string(impl_->target.connect_timeout.count())},
       {"command_timeout_ms", std::to_string(impl_->target.command_timeout.count())}}};
}

std::shared_ptr<EndpointStore> EndpointStore::from_config(const StoreConfig& config) {
  auto host = config.options.find("host");
  if (host == config.options.end() || host->second.empty())
    throw Error(fmt::format("peer store \"{}\": config has no 'host' option",
                            detail::printable(config.name)));
  const auto port =
      static_cast<int>(detail::integer_option(config, "port", 1, 65535, std::nullopt));
  using Ms = std::chrono::milliseconds::rep;
  constexpr long long max_ms = std::numeric_limits<Ms>::max() / 1000;
  PeerOptions options;
  options.connect_timeout = detail::clamp_rebuilt_timeout(std::chrono::milliseconds(
      detail::integer_option(config, "connect_timeout_ms", 0, max_ms, 5000)));
  options.command_timeout = detail::clamp_rebuilt_timeout(std::chrono::milliseconds(
      detail::integer_option(config, "command_timeout_ms", 0, max_ms, 30000)));
  return std::make_shared<EndpointStore>(config.name, host->second, port, std::move(options));
}

std::string EndpointStore::address() const {
  return impl_->target.address();
}

void EndpointStore::do_put(const Key& key, std::string_view bytes) {
  impl_->call(ucx::Op::put, key, {bytes}, 4096);
}

void EndpointStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  impl_->call(ucx::Op::put, key, {head, body}, 4096);
}

std::optional<Bytes> EndpointStore::do_get(const Key& key) {
  ucx::Reply reply = impl_->call(ucx::Op::get, key, {}, impl_->max_reply);
  if (reply.status == ucx::Status::missing)
    return std::nullopt;
  return to_bytes(std::move(reply.value));
}

bool EndpointStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  // A class derived from EndpointStore may decorate do_get: for it every
  // read goes through do_get, as for any store.
  if (typeid(*this) != typeid(EndpointStore))
    return Store::do_read(key, consume);
  ucx::Reply reply = impl_->call(ucx::Op::get, key, {}, impl_->max_reply, {}, 0, {}, true);
  if (reply.status == ucx::Status::missing)
    return false;
  if (!reply.rest) {
    detail::BytesReader reader(reply.value->view());
    consume(reader);
    return true;
  }
  RendezvousReader reader(std::move(reply), impl_->target.command_timeout, key.id);
  consume(reader);
  return true;
}

bool EndpointStore::do_exists(const Key& key) {
  return impl_->call(ucx::Op::exists, key, {}, 0).status == ucx::Status::ok;
}

void EndpointStore::do_evict(const Key& key) {
  impl_->call(ucx::Op::evict, key, {}, 4096);
}

void EndpointStore::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  if (items.empty())
    return;
  // Per entry: the key and length prefixes in `frames`, the value itself
  // sent from the caller's memory.
  std::vector<std::string> frames(items.size());
  std::vector<std::string_view> parts;
  parts.reserve(items.size() * 2);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string& id = items[i].first.id;
    if (id.size() > ucx::max_key_length)
      throw StoreOperationError(
          fmt::format("{}: a key of {} bytes in a batch", impl_->target.subject, id.size()));
    ucx::append_u32(frames[i], static_cast<std::uint32_t>(id.size()));
    frames[i].append(id);
    ucx::append_u64(frames[i], items[i].second.size());
    parts.emplace_back(frames[i]);
    parts.push_back(items[i].second);
  }
  impl_->call(ucx::Op::put_batch, Key{}, parts, 4096, {}, static_cast<std::uint32_t>(items.size()),
              fmt::format("{} keys from '{}'", items.size(), items.front().first.id));
}

std::vector<std::optional<Bytes>> EndpointStore::do_get_batch(const std::vector<Key>& keys) {
  std::vector<std::optional<Bytes>> values(keys.size());
  if (keys.empty())
    return values;
  std::string request;
  for (const Key& key : keys) {
    if (key.id.size() > ucx::max_key_length)
      throw StoreOperationError(
          fmt::format("{}: a key of {} bytes in a batch", impl_->target.subject, key.id.size()));
    ucx::append_u32(request, static_cast<std::uint32_t>(key.id.size()));
    request.append(key.id);
  }
  const std::size_t per_value = impl_->max_reply > std::numeric_limits<std::size_t>::max() / 2
                                    ? std::numeric_limits<std::size_t>::max() / 2
                                    : impl_->max_reply;
  const std::size_t max_total =
      per_value > std::numeric_limits<std::size_t>::max() / (keys.size() + 1) / 2
          ? std::numeric_limits<std::size_t>::max()
          : (per_value + 9) * keys.size();
  const std::string what = fmt::format("{} keys from '{}'", keys.size(), keys.front().id);
  ucx::Reply reply = impl_->call(ucx::Op::get_batch, Key{}, {request}, max_total, {},
                                 static_cast<std::uint32_t>(keys.size()), what);
  const ucx::BlobPtr blob = reply.value;
  ucx::EntryReader entries(blob->view());
  try {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::uint8_t found = entries.u8();
      const std::uint64_t size = entries.u64();
      const std::string_view value = entries.take(size);
      if (found != 0) {
        if (size > impl_->max_reply)
          throw StoreOperationError(fmt::format("a {}-byte value above the limit", size));
        values[i] = Bytes(value.data(), value.size(), blob);
      }
    }
    if (!entries.done())
      throw StoreOperationError("trailing bytes");
  } catch (const StoreOperationError& e) {
    throw StoreOperationError(
        fmt::format("{} at {}, {}: malformed batch reply: {}", impl_->target.subject,
                    detail::printable(impl_->target.address()), what, e.what()));
  }
  return values;
}

std::optional<Bytes> EndpointStore::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  ucx::Reply reply = impl_->call(ucx::Op::wait_get, key, {}, impl_->max_reply,
                                 std::max(timeout, std::chrono::milliseconds(0)));
  if (reply.status == ucx::Status::missing)
    return std::nullopt;
  return to_bytes(std::move(reply.value));
}

}  // namespace proxystore
