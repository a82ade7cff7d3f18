// SPDX-License-Identifier: Apache-2.0
#include "support/raw_ucx_peer.hpp"

#if PROXYSTORE_HAS_UCX

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <utility>

namespace proxystore::test {

namespace ucx = detail::ucx;

struct RawUcxPeer::Impl {
  RawUcxPeer* owner = nullptr;
  Script script;
  ucp_context_h context = nullptr;
  ucp_worker_h worker = nullptr;
  ucp_listener_h listener = nullptr;
  std::vector<ucp_ep_h> eps;                  // accepted and connected, closed at the end
  std::vector<std::unique_ptr<Answer>> kept;  // sent data stays valid until the end
  std::vector<std::pair<void*, std::size_t>> mappings;
  std::vector<std::pair<ucp_ep_h, std::unique_ptr<Answer>>> outgoing;
  std::vector<std::string> replies;
  struct Flood {
    ucp_ep_h ep;
    const Answer* answer;  // in `kept`
    std::chrono::steady_clock::time_point until;
    unsigned id;  // the active message: a reply (server) or a request (client)
  };
  std::vector<Flood> floods;
  std::atomic<std::size_t> flood_in_flight{0};
  std::atomic<std::size_t> flood_sent{0};
  std::atomic<std::int64_t> progress_interval_us{0};

  mutable std::mutex mutex;  // every UCX call, and the members above
  mutable std::condition_variable replied;
  std::atomic<bool> stopping{false};
  std::thread thread;

  static void on_error(void* /*arg*/, ucp_ep_h /*ep*/, ucs_status_t /*status*/) {}

  static void on_connection(ucp_conn_request_h request, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLER |
                        UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    params.conn_request = request;
    params.err_mode = UCP_ERR_HANDLING_MODE_NONE;  // as the library's endpoints
    params.err_handler.cb = &Impl::on_error;
    ucp_ep_h ep = nullptr;
    if (ucp_ep_create(self->worker, &params, &ep) == UCS_OK)
      self->eps.push_back(ep);
  }

  static ucs_status_t on_request(void* arg, const void* header, std::size_t header_length,
                                 void* /*data*/, std::size_t length,
                                 const ucp_am_recv_param_t* param) {
    auto* self = static_cast<Impl*>(arg);
    if ((param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) == 0)
      return UCS_OK;
    Request request;
    if (header_length >= sizeof(ucx::RequestHeader)) {
      std::memcpy(&request.header, header, sizeof request.header);
      request.key.assign(static_cast<const char*>(header) + sizeof request.header,
                         header_length - sizeof request.header);
    }
    request.data_length = length;
    std::optional<Answer> answer;
    if (request.header.op == static_cast<std::uint16_t>(ucx::Op::ping)) {
      answer = Answer{reply_header(request.header.id, 0, {}, 0), {}, 0};
    } else {
      ++self->owner->requests_;
      if (self->script)
        answer = self->script(request);
    }
    if (answer)
      self->outgoing.emplace_back(param->reply_ep, std::make_unique<Answer>(std::move(*answer)));
    return UCS_OK;  // any rendezvous data of the request is dropped unread
  }

  static ucs_status_t on_reply(void* arg, const void* header, std::size_t header_length,
                               void* /*data*/, std::size_t /*length*/,
                               const ucp_am_recv_param_t* /*param*/) {
    auto* self = static_cast<Impl*>(arg);
    self->replies.emplace_back(static_cast<const char*>(header), header_length);
    self->replied.notify_all();
    return UCS_OK;
  }

  /// Sends on `ep` (lock held). The answer's bytes stay valid until the end.
  void send_locked(ucp_ep_h ep, unsigned id, std::unique_ptr<Answer> answer) {
    if (answer->fake_size != 0) {
      void* mapped = ::mmap(nullptr, answer->fake_size, PROT_READ,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mapped == MAP_FAILED)  // NOLINT(cppcoreguidelines-pro-type-cstyle-cast)
        throw std::runtime_error("RawUcxPeer: cannot map the fake value");
      mappings.emplace_back(mapped, answer->fake_size);
      answer->mapped = mapped;
    }
    send_once_locked(ep, id, *answer, nullptr);
    if (answer->flood_for.count() != 0)
      floods.push_back(
          Flood{ep, answer.get(), std::chrono::steady_clock::now() + answer->flood_for, id});
    if (answer->then_progress_every.count() != 0)
      progress_interval_us.store(
          std::chrono::duration_cast<std::chrono::microseconds>(answer->then_progress_every)
              .count());
    kept.push_back(std::move(answer));
  }

  /// One send of `answer` (lock held); `completed`, if set, is called when
  /// UCX is done with it.
  void send_once_locked(ucp_ep_h ep, unsigned id, const Answer& answer,
                        ucp_send_nbx_callback_t completed) {
    const void* data = answer.fake_size != 0 ? answer.mapped : answer.data.data();
    const std::size_t size = answer.fake_size != 0 ? answer.fake_size : answer.data.size();
    ucp_request_param_t param{};
    if (id == ucx::am_request) {  // the server answers on the reply endpoint
      param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
      param.flags = UCP_AM_SEND_FLAG_REPLY;
    }
    if (completed != nullptr) {
      param.op_attr_mask |= UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
      param.cb.send = completed;
      param.user_data = this;
    }
    ucs_status_ptr_t request =
        ucp_am_send_nbx(ep, id, answer.header.data(), answer.header.size(), data, size, &param);
    if (UCS_PTR_IS_PTR(request))
      ucp_request_free(request);  // completes in the background
    else if (completed != nullptr)
      completed(nullptr, UCS_OK, this);
  }

  static void on_flood_sent(void* /*request*/, ucs_status_t /*status*/, void* user_data) {
    --static_cast<Impl*>(user_data)->flood_in_flight;
  }

  /// Sends the floods' next messages (lock held), at most 256 in flight.
  /// Returns whether a flood is still on.
  bool flood_locked() {
    const auto now = std::chrono::steady_clock::now();
    floods.erase(std::remove_if(floods.begin(), floods.end(),
                                [&](const Flood& flood) { return flood.until <= now; }),
                 floods.end());
    for (const Flood& flood : floods) {
      for (int i = 0; i < 64 && flood_in_flight.load() < 256; ++i) {
        ++flood_in_flight;
        ++flood_sent;
        send_once_locked(flood.ep, flood.id, *flood.answer, &Impl::on_flood_sent);
      }
    }
    return !floods.empty();
  }

  void run() {
    auto last_progress = std::chrono::steady_clock::now();
    while (!stopping.load()) {
      bool flooding = false;
      {
        std::lock_guard<std::mutex> lock(mutex);
        const auto interval = std::chrono::microseconds(progress_interval_us.load());
        const auto now = std::chrono::steady_clock::now();
        if (interval.count() == 0) {
          while (ucp_worker_progress(worker) != 0) {
          }
        } else if (now - last_progress >= interval) {
          // One call, not a loop: while the other side drains the socket
          // as fast as this one fills it, a loop would move the whole value
          // in one go, and a trickle would be a transfer at full speed.
          last_progress = now;
          ucp_worker_progress(worker);
        }
        auto answers = std::move(outgoing);
        outgoing.clear();
        for (auto& [ep, answer] : answers)
          send_locked(ep, ucx::am_reply, std::move(answer));
        flooding = flood_locked();
      }
      if (flooding)
        std::this_thread::yield();  // keep the other side's worker busy
      else
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }

  void start(bool listen, int& port) {
    ucp_config_t* config = nullptr;
    if (ucp_config_read(nullptr, nullptr, &config) != UCS_OK)
      throw std::runtime_error("RawUcxPeer: ucp_config_read failed");
    // TCP only: a rendezvous announces its size without UCX registering or
    // touching the (possibly fake) memory.
    ucp_config_modify(config, "TLS", "tcp");
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_AM;
    const ucs_status_t status = ucp_init(&params, config, &context);
    ucp_config_release(config);
    if (status != UCS_OK)
      throw std::runtime_error("RawUcxPeer: ucp_init failed");
    ucp_worker_params_t worker_params{};
    worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    worker_params.thread_mode = UCS_THREAD_MODE_MULTI;
    if (ucp_worker_create(context, &worker_params, &worker) != UCS_OK)
      throw std::runtime_error("RawUcxPeer: ucp_worker_create failed");
    for (unsigned id : {ucx::am_request, ucx::am_reply}) {
      ucp_am_handler_param_t handler{};
      handler.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                           UCP_AM_HANDLER_PARAM_FIELD_ARG;
      handler.id = id;
      handler.cb = id == ucx::am_request ? &Impl::on_request : &Impl::on_reply;
      handler.arg = this;
      ucp_worker_set_am_recv_handler(worker, &handler);
    }
    if (listen) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      ucp_listener_params_t listener_params{};
      listener_params.field_mask =
          UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
      listener_params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
      listener_params.sockaddr.addrlen = sizeof address;
      listener_params.conn_handler.cb = &Impl::on_connection;
      listener_params.conn_handler.arg = this;
      if (ucp_listener_create(worker, &listener_params, &listener) != UCS_OK)
        throw std::runtime_error("RawUcxPeer: cannot listen");
      ucp_listener_attr_t attr{};
      attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
      ucp_listener_query(listener, &attr);
      port = ntohs(reinterpret_cast<const sockaddr_in*>(&attr.sockaddr)->sin_port);
    }
    thread = std::thread([this] { run(); });
  }

  ~Impl() {
    stopping.store(true);
    if (thread.joinable())
      thread.join();
    if (worker != nullptr) {
      std::vector<ucs_status_ptr_t> closing;
      for (ucp_ep_h ep : eps) {
        ucp_request_param_t param{};
        param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
        param.flags = 0;  // no forced close without peer error handling
        ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
        if (UCS_PTR_IS_PTR(request))
          closing.push_back(request);
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      for (ucs_status_ptr_t request : closing) {
        while (ucp_request_check_status(request) == UCS_INPROGRESS &&
               std::chrono::steady_clock::now() < deadline)
          ucp_worker_progress(worker);
        ucp_request_free(request);
      }
      if (listener != nullptr)
        ucp_listener_destroy(listener);
      ucp_worker_destroy(worker);
    }
    if (context != nullptr)
      ucp_cleanup(context);
    for (auto& [base, size] : mappings)
      ::munmap(base, size);
  }
};

RawUcxPeer::RawUcxPeer(Script script) : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->script = std::move(script);
  impl_->start(true, port_);
}

RawUcxPeer::RawUcxPeer() : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->start(false, port_);
}

RawUcxPeer::~RawUcxPeer() = default;

std::string RawUcxPeer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string RawUcxPeer::reply_header(std::uint64_t id, std::uint32_t status, std::string_view head,
                                     std::uint32_t head_length) {
  const ucx::ReplyHeader header{id, status, head_length};
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  out.append(head);
  return out;
}

std::string RawUcxPeer::request_header(std::uint16_t op, std::uint64_t id, std::string_view key) {
  ucx::RequestHeader header{};
  header.op = op;
  header.id = id;
  header.key_length = static_cast<std::uint32_t>(key.size());
  std::string out(reinterpret_cast<const char*>(&header), sizeof header);
  out.append(key);
  return out;
}

int RawUcxPeer::connect(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
  params.sockaddr.addrlen = sizeof address;
  params.err_mode = UCP_ERR_HANDLING_MODE_NONE;  // as the library's endpoints
  params.err_handler.cb = &Impl::on_error;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ucp_ep_h ep = nullptr;
  if (ucp_ep_create(impl_->worker, &params, &ep) != UCS_OK)
    throw std::runtime_error("RawUcxPeer: cannot connect to port " + std::to_string(port));
  impl_->eps.push_back(ep);
  return static_cast<int>(impl_->eps.size() - 1);
}

void RawUcxPeer::send(int connection, const std::string& header, const std::string& data) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->send_locked(impl_->eps.at(static_cast<std::size_t>(connection)), ucx::am_request,
                     std::make_unique<Answer>(Answer{header, data, 0}));
}

void RawUcxPeer::start_send(int connection, const std::string& header, std::size_t fake_size,
                            std::chrono::milliseconds then_progress_every) {
  Answer request{header, {}, fake_size};
  request.then_progress_every = then_progress_every;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->send_locked(impl_->eps.at(static_cast<std::size_t>(connection)), ucx::am_request,
                     std::make_unique<Answer>(std::move(request)));
}

void RawUcxPeer::flood_requests(int connection, const std::string& header,
                                std::chrono::milliseconds duration) {
  Answer request{header, {}, 0};
  request.flood_for = duration;
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->send_locked(impl_->eps.at(static_cast<std::size_t>(connection)), ucx::am_request,
                     std::make_unique<Answer>(std::move(request)));
}

void RawUcxPeer::set_progress_interval(std::chrono::milliseconds interval) {
  impl_->progress_interval_us.store(
      std::chrono::duration_cast<std::chrono::microseconds>(interval).count());
}

std::size_t RawUcxPeer::flooded() const noexcept {
  return impl_->flood_sent.load();
}

std::vector<std::string> RawUcxPeer::replies() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->replies;
}

bool RawUcxPeer::wait_replies(std::size_t count, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  return impl_->replied.wait_for(lock, timeout, [&] { return impl_->replies.size() >= count; });
}

}  // namespace proxystore::test

#endif  // PROXYSTORE_HAS_UCX
