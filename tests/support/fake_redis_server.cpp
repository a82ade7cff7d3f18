// SPDX-License-Identifier: Apache-2.0
#include "support/fake_redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace proxystore::test {
namespace {

std::runtime_error failure(const std::string& what) {
  return std::runtime_error("FakeRedisServer: " + what + ": " + std::strerror(errno));
}

/// Reads a `<prefix><digits>\r\n` line at `pos`; advances `pos` past it.
/// nullopt when the line has not fully arrived; throws when it is malformed.
std::optional<long long> read_length(std::string_view buffer, std::size_t& pos, char prefix) {
  const std::size_t end = buffer.find("\r\n", pos);
  if (end == std::string_view::npos)
    return std::nullopt;
  if (buffer[pos] != prefix || end == pos + 1) {
    throw std::runtime_error("FakeRedisServer: malformed RESP command");
  }
  long long value = 0;
  for (std::size_t i = pos + 1; i < end; ++i) {
    const char c = buffer[i];
    if (c < '0' || c > '9' || value > (1LL << 40)) {
      throw std::runtime_error("FakeRedisServer: malformed RESP length");
    }
    value = value * 10 + (c - '0');
  }
  pos = end + 2;
  return value;
}

/// Parses one complete command from the front of `buffer` and erases it;
/// nullopt when the command has not fully arrived yet.
std::optional<FakeRedisServer::Command> take_command(std::string& buffer) {
  std::size_t pos = 0;
  const auto count = read_length(buffer, pos, '*');
  if (!count)
    return std::nullopt;
  FakeRedisServer::Command command;
  for (long long i = 0; i < *count; ++i) {
    if (pos >= buffer.size())
      return std::nullopt;
    const auto length = read_length(buffer, pos, '$');
    if (!length)
      return std::nullopt;
    const auto size = static_cast<std::size_t>(*length);
    if (buffer.size() - pos < size + 2)
      return std::nullopt;
    command.emplace_back(buffer, pos, size);
    pos += size + 2;
  }
  buffer.erase(0, pos);
  return command;
}

void send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return;  // the client went away: nothing to tell it
    sent += static_cast<std::size_t>(n);
  }
}

}  // namespace

FakeRedisServer::FakeRedisServer(Handler handler) : handler_(std::move(handler)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0)
    throw failure("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    const auto error = failure("bind/listen on 127.0.0.1");
    ::close(listen_fd_);
    throw error;
  }
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { serve(); });
}

FakeRedisServer::~FakeRedisServer() {
  const char byte = 0;
  (void)!::write(wake_pipe_[1], &byte, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

std::string FakeRedisServer::address() const {
  return host_ + ":" + std::to_string(port_);
}

std::vector<FakeRedisServer::Command> FakeRedisServer::commands() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return commands_;
}

FakeRedisServer::Handler FakeRedisServer::with_handshake(Handler reply) {
  return [reply = std::move(reply)](const Command& command) -> std::optional<std::string> {
    const std::string& name = command.empty() ? std::string() : command[0];
    if (name == "PING")
      return std::string("+PONG\r\n");
    if (name == "AUTH" || name == "SELECT" || name == "CLIENT")
      return ok();
    if (name == "HELLO")
      return error("ERR unknown command 'HELLO'");
    return reply(command);
  };
}

void FakeRedisServer::serve() {
  struct Client {
    int fd;
    std::string buffer;
  };
  std::vector<Client> clients;
  while (true) {
    std::vector<pollfd> fds{{wake_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& client : clients)
      fds.push_back({client.fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[0].revents != 0)
      break;
    if (fds[1].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        clients.push_back({fd, {}});
        ++connections_;
      }
    }
    for (std::size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0)
        continue;
      Client& client = clients[i - 2];
      char chunk[65536];
      const ssize_t n = ::recv(client.fd, chunk, sizeof chunk, 0);
      if (n <= 0) {
        ::close(client.fd);
        client.fd = -1;
        continue;
      }
      client.buffer.append(chunk, static_cast<std::size_t>(n));
      try {
        while (auto command = take_command(client.buffer)) {
          {
            const std::lock_guard<std::mutex> lock(mutex_);
            commands_.push_back(*command);
          }
          if (auto reply = handler_(*command))
            send_all(client.fd, *reply);
        }
      } catch (const std::runtime_error&) {
        ::close(client.fd);  // not RESP: hang up, as a real server would
        client.fd = -1;
      }
    }
    clients.erase(std::remove_if(clients.begin(), clients.end(),
                                 [](const Client& client) { return client.fd < 0; }),
                  clients.end());
  }
  for (const auto& client : clients)
    ::close(client.fd);
}

}  // namespace proxystore::test
