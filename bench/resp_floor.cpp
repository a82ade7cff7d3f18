// SPDX-License-Identifier: Apache-2.0
#include "resp_floor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace proxystore::bench {
namespace {

[[noreturn]] void fail(const std::string& what, int error = 0) {
  std::string message = "floor client: " + what;
  if (error != 0)
    message += std::string(": ") + std::strerror(error);  // NOLINT(concurrency-mt-unsafe)
  throw std::runtime_error(message);
}

/// Appends `$<n>\r\n` (or `*<n>\r\n`) to `out` at `at`; returns the new end.
char* put_length(char* at, char* end, char tag, std::size_t n) {
  *at++ = tag;
  at = std::to_chars(at, end, n).ptr;
  *at++ = '\r';
  *at++ = '\n';
  return at;
}

constexpr std::string_view crlf = "\r\n";

}  // namespace

FloorClient::FloorClient(const std::string& host, int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0)
    fail("socket", errno);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1)
    fail("not an IPv4 address: " + host);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    const int error = errno;
    ::close(fd_);
    fail("connect", error);
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  // as hiredis does
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

FloorClient::~FloorClient() {
  if (fd_ >= 0)
    ::close(fd_);
}

void FloorClient::wait(short events) {
  pollfd entry{fd_, events, 0};
  while (::poll(&entry, 1, 30000) < 0) {
    if (errno != EINTR)
      fail("poll", errno);
  }
  if ((entry.revents & (events | POLLHUP | POLLERR)) == 0)
    fail("no progress within 30 s");
}

void FloorClient::send_all(iovec* iov, int count) {
  while (count > 0) {
    msghdr message{};
    message.msg_iov = iov;
    message.msg_iovlen = static_cast<std::size_t>(count);
    const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        wait(POLLOUT);
        continue;
      }
      if (errno == EINTR)
        continue;
      fail("sendmsg", errno);
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
}

std::size_t FloorClient::receive_some(char* into, std::size_t size) {
  while (true) {
    const ssize_t n = ::recv(fd_, into, size, 0);
    if (n > 0)
      return static_cast<std::size_t>(n);
    if (n == 0)
      fail("server closed the connection");
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      wait(POLLIN);
    else if (errno != EINTR)
      fail("recv", errno);
  }
}

std::string FloorClient::receive_line() {
  while (true) {
    const char* begin = pending_ + pending_begin_;
    const char* end = pending_ + pending_end_;
    const char* cr = std::search(begin, end, crlf.begin(), crlf.end());
    if (cr != end) {
      std::string line(begin, cr);
      pending_begin_ = static_cast<std::size_t>(cr + 2 - pending_);
      return line;
    }
    if (pending_begin_ > 0) {  // compact, then read more
      std::memmove(pending_, begin, static_cast<std::size_t>(end - begin));
      pending_end_ -= pending_begin_;
      pending_begin_ = 0;
    }
    if (pending_end_ == sizeof(pending_))
      fail("reply line too long");
    pending_end_ += receive_some(pending_ + pending_end_, sizeof(pending_) - pending_end_);
  }
}

void FloorClient::receive_exact(char* into, std::size_t size) {
  // What the first read of the reply already brought (at most a few
  // hundred bytes), then the rest straight into `into`.
  const std::size_t buffered = std::min(size, pending_end_ - pending_begin_);
  std::memcpy(into, pending_ + pending_begin_, buffered);
  pending_begin_ += buffered;
  std::size_t filled = buffered;
  while (filled < size)
    filled += receive_some(into + filled, size - filled);
}

void FloorClient::set(std::string_view key, const void* value, std::size_t size) {
  char header[96];
  char* const end = header + sizeof(header);
  char* at = put_length(header, end, '*', 3);
  at = put_length(at, end, '$', 3);
  std::memcpy(at, "SET\r\n", 5);
  at += 5;
  at = put_length(at, end, '$', key.size());
  if (key.size() + 2 > static_cast<std::size_t>(end - at) - 24)
    fail("key too long");
  std::memcpy(at, key.data(), key.size());
  at += key.size();
  *at++ = '\r';
  *at++ = '\n';
  at = put_length(at, end, '$', size);
  iovec iov[3] = {
      {header, static_cast<std::size_t>(at - header)},
      {const_cast<void*>(value), size},  // NOLINT(cppcoreguidelines-pro-type-const-cast)
      {const_cast<char*>(crlf.data()), crlf.size()}};
  send_all(iov, 3);
  const std::string status = receive_line();
  if (status != "+OK")
    fail("SET replied " + status);
}

std::string FloorClient::command(std::string_view verb, std::string_view key) {
  std::string text = "*2\r\n$" + std::to_string(verb.size()) + "\r\n";
  text.append(verb).append(crlf).append("$").append(std::to_string(key.size())).append(crlf);
  text.append(key).append(crlf);
  iovec iov{text.data(), text.size()};
  send_all(&iov, 1);
  return receive_line();
}

FloorBuffer FloorClient::get(std::string_view key) {
  const std::string header = command("GET", key);
  std::size_t size = 0;
  if (header.size() < 2 || header[0] != '$' ||
      std::from_chars(header.data() + 1, header.data() + header.size(), size).ec != std::errc()) {
    fail("GET replied " + header);
  }
  FloorBuffer out{std::unique_ptr<char[]>(new char[size == 0 ? 1 : size]), size};
  receive_exact(out.data.get(), size);
  char trailer[2];
  receive_exact(trailer, 2);
  return out;
}

void FloorClient::del(std::string_view key) {
  const std::string reply = command("DEL", key);
  if (reply.empty() || reply[0] != ':')
    fail("DEL replied " + reply);
}

}  // namespace proxystore::bench
