// SPDX-License-Identifier: Apache-2.0
#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;  // NOLINT(readability-redundant-declaration)

#ifndef PROXYSTORE_TEST_REDIS_SERVER
#define PROXYSTORE_TEST_REDIS_SERVER ""
#endif

namespace proxystore::test {
namespace {

using Clock = std::chrono::steady_clock;

std::runtime_error failure(const std::string& what) {
  return std::runtime_error("RedisServer: " + what);
}

std::string errno_text(int error) {
  return std::strerror(error);
}  // NOLINT(concurrency-mt-unsafe)

bool is_executable(const std::string& path) {
  struct stat info {};
  return !path.empty() && ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

/// Closes a descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) noexcept : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    reset(std::exchange(other.fd_, -1));
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const noexcept { return fd_; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

/// A blocking loopback connection with send/receive timeouts.
class RespClient {
 public:
  RespClient(int port, std::chrono::milliseconds timeout)
      : socket_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (socket_.get() < 0)
      throw failure("socket: " + errno_text(errno));
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
    if (::connect(socket_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw failure("connect to 127.0.0.1:" + std::to_string(port) + ": " + errno_text(errno));
    }
  }

  RespReply call(const std::vector<std::string>& args) {
    std::string request = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& arg : args) {
      request += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
    }
    for (std::size_t sent = 0; sent < request.size();) {
      const ssize_t n =
          ::send(socket_.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        throw failure("send: " + errno_text(errno));
      }
      sent += static_cast<std::size_t>(n);
    }
    return parse();
  }

 private:
  char next() {
    if (position_ == buffer_.size()) {
      buffer_.resize(65536);
      position_ = 0;
      ssize_t n = 0;
      do {
        n = ::recv(socket_.get(), buffer_.data(), buffer_.size(), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {
        buffer_.clear();
        throw failure(n == 0 ? std::string("server closed the connection")
                             : "recv: " + errno_text(errno));
      }
      buffer_.resize(static_cast<std::size_t>(n));
    }
    return buffer_[position_++];
  }

  std::string line() {
    std::string out;
    for (char c = next(); c != '\r'; c = next())
      out += c;
    if (next() != '\n')
      throw failure("malformed reply line");
    return out;
  }

  RespReply parse() {
    RespReply reply;
    const char kind = next();
    std::string head = line();
    switch (kind) {
      case '+':
        reply.type = RespReply::Type::status;
        reply.text = std::move(head);
        break;
      case '-':
        reply.type = RespReply::Type::error;
        reply.text = std::move(head);
        break;
      case ':':
        reply.type = RespReply::Type::integer;
        reply.integer = std::stoll(head);
        break;
      case '$': {
        const long long size = std::stoll(head);
        if (size < 0)
          break;  // nil
        reply.type = RespReply::Type::bulk;
        reply.text.reserve(static_cast<std::size_t>(size));
        for (long long i = 0; i < size; ++i)
          reply.text += next();
        line();
        break;
      }
      case '*': {
        const long long count = std::stoll(head);
        if (count < 0)
          break;  // nil
        reply.type = RespReply::Type::array;
        for (long long i = 0; i < count; ++i)
          reply.elements.push_back(parse());
        break;
      }
      default:
        throw failure(std::string("unknown reply type '") + kind + "'");
    }
    return reply;
  }

  Fd socket_;
  std::string buffer_;
  std::size_t position_ = 0;
};

/// Blocks SIGPIPE in this thread for a scope, then takes a SIGPIPE that
/// arrived meanwhile (instead of letting it kill the process on unblock).
class SigpipeBlock {
 public:
  SigpipeBlock() noexcept {
    sigemptyset(&signal_);
    sigaddset(&signal_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &signal_, &previous_);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  ~SigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    if (sigismember(&previous_, SIGPIPE) == 0 && ::sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{0, 0};
      ::sigtimedwait(&signal_, nullptr, &zero);
    }
    ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

 private:
  sigset_t signal_{};
  sigset_t previous_{};
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

int free_loopback_port() {
  Fd socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (socket.get() < 0)
    throw failure("socket: " + errno_text(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  // NOLINTBEGIN(cppcoreguidelines-pro-type-reinterpret-cast)
  if (::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw failure("cannot find a free loopback port: " + errno_text(errno));
  }
  // NOLINTEND(cppcoreguidelines-pro-type-reinterpret-cast)
  return ntohs(address.sin_port);
}

int free_loopback_port_pair(int offset) {
  // Probe ports low enough for the companion, spread by pid and time so
  // parallel test processes rarely probe the same ones.
  const int highest = 65535 - offset;
  const int lowest = 20000;
  if (highest <= lowest)
    throw failure("no port range leaves room for an offset of " + std::to_string(offset));
  unsigned seed = static_cast<unsigned>(::getpid()) * 2654435761U ^
                  static_cast<unsigned>(Clock::now().time_since_epoch().count());
  for (int attempt = 0; attempt < 200; ++attempt) {
    seed = seed * 1103515245U + 12345U;
    const int port =
        lowest + static_cast<int>((seed >> 8U) % static_cast<unsigned>(highest - lowest));
    Fd first(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    Fd second(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (first.get() < 0 || second.get() < 0)
      throw failure("socket: " + errno_text(errno));
    bool free = true;
    for (const auto& [socket, candidate] : {std::pair<int, int>{first.get(), port},
                                            std::pair<int, int>{second.get(), port + offset}}) {
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<std::uint16_t>(candidate));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast)
      free = free && ::bind(socket, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    }
    if (free)
      return port;
  }
  throw failure("cannot find a free loopback port pair (offset " + std::to_string(offset) + ")");
}

std::string RedisServer::find_binary() {
  if (const char* env = std::getenv("PROXYSTORE_REDIS_SERVER");
      env != nullptr && *env != '\0') {  // NOLINT(concurrency-mt-unsafe)
    if (!is_executable(env)) {
      throw failure(std::string("PROXYSTORE_REDIS_SERVER=") + env + " is not an executable file");
    }
    return env;
  }
  if (is_executable(PROXYSTORE_TEST_REDIS_SERVER))
    return PROXYSTORE_TEST_REDIS_SERVER;
  if (const char* path = std::getenv("PATH")) {  // NOLINT(concurrency-mt-unsafe)
    std::istringstream directories(path);
    for (std::string directory; std::getline(directories, directory, ':');) {
      const std::string candidate = (directory.empty() ? "." : directory) + "/redis-server";
      if (is_executable(candidate))
        return candidate;
    }
  }
  throw failure(
      "no redis-server binary found: install redis-server, or point PROXYSTORE_REDIS_SERVER at "
      "one (the Redis tests need a real server and do not skip)");
}

RedisServer::RedisServer() : RedisServer(Options{}) {}

RedisServer::RedisServer(Options options) : options_(std::move(options)), binary_(find_binary()) {
  std::string pattern = "/tmp/proxystore-redis-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr)
    throw failure("mkdtemp: " + errno_text(errno));
  directory_ = pattern;
  try {
    // Another process may take the port between our probe and the
    // server's bind: then try another one.
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = options_.companion_port_offset == 0
                  ? free_loopback_port()
                  : free_loopback_port_pair(options_.companion_port_offset);
      if (start())
        return;
    }
    throw failure("could not start redis-server on a free port; last log:\n" + log());
  } catch (...) {
    remove_directory();
    throw;
  }
}

RedisServer::~RedisServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  remove_directory();
}

void RedisServer::remove_directory() noexcept {
  if (directory_.empty())
    return;
  // The log, and what a cluster node, a replica or an appendonly server
  // leaves (nodes.conf, an RDB, appendonlydir/): the directory is private.
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

std::string RedisServer::address() const {
  return host_ + ":" + std::to_string(port_);
}

std::string RedisServer::log() const {
  return read_file(directory_ + "/redis.log");
}

bool RedisServer::start() {
  std::vector<std::string> args{binary_,
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                host_,
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--daemonize",
                                "no",
                                "--dir",
                                directory_,
                                "--logfile",
                                ""};
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  const std::string log_path = directory_ + "/redis.log";
  const pid_t parent = ::getpid();

  const pid_t child = ::fork();
  if (child < 0)
    throw failure("fork: " + errno_text(errno));
  if (child == 0) {
    // Only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(126);
    const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    const int null = ::open("/dev/null", O_RDONLY);
    if (log < 0 || null < 0)
      ::_exit(126);
    ::dup2(null, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = child;

  const auto deadline = Clock::now() + options_.start_timeout;
  while (true) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const std::string text = log();
      if (text.find("Address already in use") != std::string::npos)
        return false;
      throw failure("redis-server exited during startup (" +
                    (WIFEXITED(status) ? "status " + std::to_string(WEXITSTATUS(status))
                                       : "signal " + std::to_string(WTERMSIG(status))) +
                    "); log:\n" + text);
    }
    try {
      // Any reply (also NOAUTH) means the server is up and serving.
      RespClient(port_, std::chrono::milliseconds(1000)).call({"PING"});
      return true;
    } catch (const std::runtime_error&) {
      // not listening yet
    }
    if (Clock::now() > deadline) {
      kill(SIGKILL);
      throw failure("redis-server on port " + std::to_string(port_) +
                    " did not answer PING within " +
                    std::to_string(options_.start_timeout.count()) + " ms; log:\n" + log());
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(5));  // polling interval, not a wait-for-effect
  }
}

void RedisServer::kill(int signal) {
  if (pid_ <= 0)
    return;
  if (::kill(pid_, signal) != 0)
    throw failure("kill: " + errno_text(errno));
  if (signal == SIGKILL || signal == SIGTERM) {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }
}

void RedisServer::stop() {
  kill(SIGSTOP);
}

void RedisServer::cont() {
  kill(SIGCONT);
}

void RedisServer::restart() {
  kill(SIGKILL);
  // The listening socket of the old server may linger briefly; redis sets
  // SO_REUSEADDR, so "in use" can only be transient: retry within a bound.
  const auto deadline = Clock::now() + options_.start_timeout;
  while (!start()) {
    if (Clock::now() > deadline) {
      throw failure("port " + std::to_string(port_) + " stayed in use; log:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

RespReply RedisServer::command(const std::vector<std::string>& args) const {
  return commands({args});
}

RespReply RedisServer::commands(const std::vector<std::vector<std::string>>& list) const {
  RespClient client(port_, std::chrono::milliseconds(5000));
  if (!options_.admin_password.empty()) {
    RespReply auth = client.call({"AUTH", options_.admin_password});
    if (auth.type == RespReply::Type::error)
      throw failure("admin AUTH failed: " + auth.text);
  }
  RespReply last;
  for (const std::vector<std::string>& args : list)
    last = client.call(args);
  return last;
}

long long RedisServer::command_calls(std::string_view name) const {
  const RespReply info = command({"INFO", "commandstats"});
  const std::string needle = "cmdstat_" + std::string(name) + ":calls=";
  const std::size_t at = info.text.find(needle);
  if (at == std::string::npos)
    return 0;
  return std::stoll(info.text.substr(at + needle.size()));
}

void RedisServer::reset_stats() const {
  const RespReply reply = command({"CONFIG", "RESETSTAT"});
  if (reply.type != RespReply::Type::status)
    throw failure("CONFIG RESETSTAT: " + reply.text);
}

std::vector<std::string> RedisServer::keys(const std::string& pattern) const {
  RespClient client(port_, std::chrono::milliseconds(5000));
  if (!options_.admin_password.empty())
    client.call({"AUTH", options_.admin_password});
  std::vector<std::string> out;
  std::string cursor = "0";
  do {
    const RespReply reply = client.call({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (reply.type != RespReply::Type::array || reply.elements.size() != 2) {
      throw failure("SCAN: unexpected reply " + reply.text);
    }
    cursor = reply.elements[0].text;
    for (const RespReply& key : reply.elements[1].elements)
      out.push_back(key.text);
  } while (cursor != "0");
  return out;
}

ProcessResult run_process(const std::string& path, const std::vector<std::string>& args,
                          std::string_view input, const std::vector<std::string>& environment,
                          std::chrono::milliseconds timeout) {
  // Environment: ours, with the overrides applied.
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry)
    env.emplace_back(*entry);
  for (const std::string& change : environment) {
    const std::string name = change.substr(0, change.find('='));
    std::vector<std::string> kept;
    for (std::string& entry : env) {
      if (entry.compare(0, name.size() + 1, name + "=") != 0)
        kept.push_back(std::move(entry));
    }
    env = std::move(kept);
    if (change.find('=') != std::string::npos)
      env.push_back(change);
  }
  std::vector<std::string> argv_strings{path};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : argv_strings)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : env)
    envp.push_back(entry.data());
  envp.push_back(nullptr);

  int in_pipe[2];
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 ||
      ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("run_process: pipe: " + errno_text(errno));
  }
  Fd in_read(in_pipe[0]);
  Fd in_write(in_pipe[1]);
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);
  Fd err_read(err_pipe[0]);
  Fd err_write(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), STDERR_FILENO);
  pid_t child = -1;
  const int spawned =
      ::posix_spawn(&child, path.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0)
    throw std::runtime_error("run_process: spawn " + path + ": " + errno_text(spawned));
  in_read.reset();
  out_write.reset();
  err_write.reset();
  ::fcntl(in_write.get(), F_SETFL, O_NONBLOCK);

  // The child may exit without reading its input: SIGPIPE is blocked in
  // this thread while feeding it (EPIPE is handled instead).
  const SigpipeBlock sigpipe_block;

  ProcessResult result;
  std::size_t written = 0;
  if (input.empty())
    in_write.reset();
  const auto deadline = Clock::now() + timeout;
  char buffer[65536];
  while (out_read.get() >= 0 || err_read.get() >= 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      ::kill(child, SIGKILL);
      break;
    }
    pollfd fds[3] = {
        {out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}, {in_write.get(), POLLOUT, 0}};
    if (::poll(fds, 3, static_cast<int>(left.count())) < 0) {
      if (errno == EINTR)
        continue;
      throw std::runtime_error("run_process: poll: " + errno_text(errno));
    }
    if (in_write.get() >= 0 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      const ssize_t n = ::write(in_write.get(), input.data() + written, input.size() - written);
      if (n > 0)
        written += static_cast<std::size_t>(n);
      if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size())
        in_write.reset();
    }
    Fd* sources[2] = {&out_read, &err_read};
    std::string* sinks[2] = {&result.out, &result.err};
    for (int i = 0; i < 2; ++i) {
      if (sources[i]->get() < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      const ssize_t n = ::read(sources[i]->get(), buffer, sizeof buffer);
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        sources[i]->reset();
      }
    }
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = !result.timed_out && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

}  // namespace proxystore::test
