// SPDX-License-Identifier: Apache-2.0
#include "support/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

extern char** environ;  // NOLINT(readability-redundant-declaration)

namespace proxystore::test {
namespace {

[[noreturn]] void throw_errno(const std::string& what, int error = errno) {
  throw std::system_error(error, std::generic_category(), what);
}

/// A pipe whose ends close on destruction; both ends are O_CLOEXEC so other
/// children spawned concurrently never inherit them.
struct Pipe {
  int fd[2] = {-1, -1};
  Pipe() {
    if (::pipe2(fd, O_CLOEXEC) != 0)
      throw_errno("pipe2");
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    close_end(0);
    close_end(1);
  }
  void close_end(int end) noexcept {
    if (fd[end] >= 0) {
      ::close(fd[end]);
      fd[end] = -1;
    }
  }
};

/// Our environment with `options` applied, as "NAME=value" strings.
std::vector<std::string> child_environment(const ChildOptions& options) {
  std::map<std::string, std::string> entries;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text(*entry);
    entries[text.substr(0, text.find('='))] = text;
  }
  for (const std::string& name : options.unset_env)
    entries.erase(name);
  for (const std::string& text : options.env)
    entries[text.substr(0, text.find('='))] = text;
  std::vector<std::string> result;
  result.reserve(entries.size());
  for (auto& entry : entries)
    result.push_back(std::move(entry.second));
  return result;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  result.reserve(strings.size() + 1);
  for (std::string& text : strings)
    result.push_back(text.data());
  result.push_back(nullptr);
  return result;
}

/// Starts `program` with `args` and the environment of `options`, its
/// stdin/stdout/stderr on the given descriptors (-1: inherited).
pid_t spawn(const std::string& program, const std::vector<std::string>& args,
            const ChildOptions& options, int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (in_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, in_fd, STDIN_FILENO);
  if (out_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  if (err_fd >= 0)
    posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);

  // The child gets default signal handling even if this process ignores
  // SIGPIPE (ignored dispositions survive exec).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF);

  std::vector<std::string> argv_strings;
  argv_strings.push_back(program);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<std::string> env_strings = child_environment(options);
  std::vector<char*> argv = pointers(argv_strings);
  std::vector<char*> envp = pointers(env_strings);

  pid_t pid = -1;
  const int spawned =
      ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (spawned != 0)
    throw_errno("posix_spawn " + program, spawned);

  return pid;
}

}  // namespace

std::string ChildResult::describe() const {
  std::string text = timed_out     ? std::string("timed out")
                     : signal != 0 ? "signal " + std::to_string(signal)
                                   : "exit " + std::to_string(exit_code);
  text += "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + err;
  return text;
}

ChildResult run_child(const std::string& program, const std::vector<std::string>& args,
                      std::string_view input, const ChildOptions& options) {
  Pipe in;
  Pipe out;
  Pipe err;

  const pid_t pid = spawn(program, args, options, in.fd[0], out.fd[1], err.fd[1]);

  in.close_end(0);
  out.close_end(1);
  err.close_end(1);

  // Writing to a child that already exited must fail with EPIPE, not kill
  // us: ignore SIGPIPE for the process (tests never rely on it).
  static const bool sigpipe_ignored = [] {
    ::signal(SIGPIPE, SIG_IGN);  // NOLINT(cert-err33-c)
    return true;
  }();
  (void)sigpipe_ignored;
  ::fcntl(in.fd[1], F_SETFL, ::fcntl(in.fd[1], F_GETFL) | O_NONBLOCK);

  ChildResult result;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  std::size_t written = 0;
  if (input.empty())
    in.close_end(1);
  char buffer[65536];
  while (out.fd[0] >= 0 || err.fd[0] >= 0) {
    pollfd fds[3];
    nfds_t count = 0;
    const auto watch = [&](int fd, short events) {
      if (fd >= 0)
        fds[count++] = pollfd{fd, events, 0};
    };
    watch(in.fd[1], POLLOUT);
    watch(out.fd[0], POLLIN);
    watch(err.fd[0], POLLIN);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      result.timed_out = true;
      break;
    }
    const int ready = ::poll(fds, count, static_cast<int>(std::min<long long>(left.count(), 1000)));
    if (ready < 0) {
      if (errno == EINTR)
        continue;
      const int error = errno;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw_errno("poll", error);
    }
    for (nfds_t i = 0; i < count; ++i) {
      if (fds[i].revents == 0)
        continue;
      if (fds[i].fd == in.fd[1]) {
        const ssize_t n = ::write(in.fd[1], input.data() + written, input.size() - written);
        if (n > 0)
          written += static_cast<std::size_t>(n);
        if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size())
          in.close_end(1);  // done, or the child closed its stdin
        continue;
      }
      const ssize_t n = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        (fds[i].fd == out.fd[0] ? result.out : result.err)
            .append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        (fds[i].fd == out.fd[0] ? out : err).close_end(0);
      }
    }
  }
  in.close_end(1);

  // The child may close its output and linger: keep honouring the deadline.
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid)
      break;
    if (done < 0 && errno != EINTR)
      throw_errno("waitpid");
    if (done == 0 && std::chrono::steady_clock::now() >= deadline && !result.timed_out) {
      ::kill(pid, SIGKILL);
      result.timed_out = true;
    }
    if (done == 0)
      ::usleep(1000);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
  }
  return result;
}

}  // namespace proxystore::test

namespace proxystore::test {

BackgroundChild::BackgroundChild(const std::string& program, const std::vector<std::string>& args,
                                 const ChildOptions& options) {
  Pipe in;
  Pipe out;
  pid_ = spawn(program, args, options, in.fd[0], out.fd[1], -1);
  std::swap(in_, in.fd[1]);
  std::swap(out_, out.fd[0]);
}

BackgroundChild::~BackgroundChild() {
  kill(SIGKILL);
  close_stdin();
  if (out_ >= 0)
    ::close(out_);
}

void BackgroundChild::close_stdin() noexcept {
  if (in_ >= 0) {
    ::close(in_);
    in_ = -1;
  }
}

std::string BackgroundChild::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (const auto newline = buffered_.find('\n'); newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out_ < 0)
      throw std::runtime_error("background child: no line on stdout (got '" + buffered_ + "')");
    pollfd fd{out_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0)
      continue;
    char buffer[4096];
    const ssize_t n = ::read(out_, buffer, sizeof buffer);
    if (n > 0) {
      buffered_.append(buffer, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      ::close(out_);
      out_ = -1;
    }
  }
}

int BackgroundChild::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_)
      break;
    if (done < 0 && errno != EINTR)
      throw_errno("waitpid");
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      status_ = -2;
      return status_;
    }
    ::usleep(2000);
  }
  pid_ = -1;
  status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return status_;
}

void BackgroundChild::kill(int signal) {
  if (pid_ <= 0)
    return;
  ::kill(pid_, signal);
  if (signal == SIGKILL)
    wait(std::chrono::seconds(10));
}

int wait_or_kill(int pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

}  // namespace proxystore::test
