// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_credentials.hpp"

#include "detail/sha256.hpp"

#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace proxystore::detail {
namespace {

constexpr const char* auth_variable = "PROXYSTORE_REDIS_AUTH";
constexpr const char* auth_file_variable = "PROXYSTORE_REDIS_AUTH_FILE";
constexpr std::size_t max_auth_file_size = std::size_t{1} << 20U;
constexpr const char* entry_form = "expected host:port=password or host:port=user:password";

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos)
    return {};
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::string normalise_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  std::string out(host);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

/// "host:port" or "[v6]:port" → (host, port); nullopt if malformed.
std::optional<std::pair<std::string, int>> parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return std::nullopt;
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  const bool bracketed = host.front() == '[';
  if (bracketed ? host.back() != ']' || host.size() < 3 : host.find(':') != std::string_view::npos)
    return std::nullopt;
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const int value = std::stoi(std::string(port));
  if (value < 1 || value > 65535)
    return std::nullopt;
  const bool control = std::any_of(host.begin(), host.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
  });
  if (control)
    return std::nullopt;
  return std::make_pair(normalise_host(host), value);
}

RedisAuthEntry parse_entry(std::string_view entry, std::size_t position, std::string_view source) {
  const auto equals = entry.find('=');
  // Messages quote at most the endpoint part: what follows '=' is secret,
  // and an entry without '=' may be a password pasted alone.
  if (equals == std::string_view::npos) {
    throw Error(fmt::format("{} entry {}: no '=' ({})", source, position, entry_form));
  }
  const std::string_view endpoint = trim(entry.substr(0, equals));
  const auto parsed = parse_endpoint(endpoint);
  if (!parsed) {
    throw Error(fmt::format(R"({} entry {}: "{}" is not host:port with a port in 1-65535 ({}))",
                            source, position, printable(endpoint, 64), entry_form));
  }
  const std::string_view secret = entry.substr(equals + 1);
  RedisAuthEntry out{parsed->first, parsed->second, {}};
  if (const auto colon = secret.find(':'); colon != std::string_view::npos) {
    out.credentials.username = std::string(secret.substr(0, colon));
    out.credentials.password = std::string(secret.substr(colon + 1));
    if (out.credentials.username.empty()) {
      throw Error(fmt::format("{} entry {} for {}: empty user before ':' ({})", source, position,
                              printable(endpoint, 64), entry_form));
    }
  } else {
    out.credentials.password = std::string(secret);
  }
  if (out.credentials.password.empty()) {
    throw Error(fmt::format("{} entry {} for {}: empty password ({})", source, position,
                            printable(endpoint, 64), entry_form));
  }
  return out;
}

/// The file's content, after checking that only its owner can access it.
std::string read_auth_file(const std::string& path) {
  const std::string subject = fmt::format("{} \"{}\"", auth_file_variable, printable(path, 256));
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-vararg,hicpp-vararg): POSIX open
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    throw Error(fmt::format("{}: cannot open: {}", subject,
                            std::error_code(error, std::generic_category()).message()));
  }
  struct Closer {
    int fd;
    explicit Closer(int descriptor) : fd(descriptor) {}
    Closer(const Closer&) = delete;
    Closer& operator=(const Closer&) = delete;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    throw Error(fmt::format("{}: cannot stat: {}", subject,
                            std::error_code(error, std::generic_category()).message()));
  }
  if (!S_ISREG(info.st_mode))
    throw Error(fmt::format("{}: not a regular file", subject));
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    throw Error(
        fmt::format("{}: refused: group or others can access it (mode {:04o}); it holds "
                    "passwords, so chmod 600 it",
                    subject, info.st_mode & 07777U));
  }
  if (static_cast<unsigned long long>(info.st_size) > max_auth_file_size) {
    throw Error(fmt::format("{}: {} bytes, more than the {} bytes a credentials file may have",
                            subject, info.st_size, max_auth_file_size));
  }
  std::string content(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::read(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      const int error = errno;
      secure_zero(content.data(), content.size());
      throw Error(fmt::format("{}: cannot read: {}", subject,
                              std::error_code(error, std::generic_category()).message()));
    }
    if (n == 0)
      break;  // shrank meanwhile
    done += static_cast<std::size_t>(n);
  }
  content.resize(done);
  return content;
}

std::optional<RedisCredentials> find_entry(const std::vector<RedisAuthEntry>& entries,
                                           const std::string& host, int port) {
  for (const auto& entry : entries) {
    if (entry.port == port && entry.host == host)
      return entry.credentials;
  }
  return std::nullopt;
}

/// Both variables, read under one lock (getenv is not thread-safe against
/// setenv).
std::pair<std::optional<std::string>, std::optional<std::string>> read_variables() {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  std::pair<std::optional<std::string>, std::optional<std::string>> out;
  if (const char* value = std::getenv(auth_variable))  // NOLINT(concurrency-mt-unsafe): locked
    out.first = value;
  if (const char* value = std::getenv(auth_file_variable))  // NOLINT(concurrency-mt-unsafe)
    out.second = value;
  return out;
}

}  // namespace

std::vector<RedisAuthEntry> parse_redis_auth(std::string_view text, char separator,
                                             std::string_view source) {
  std::vector<RedisAuthEntry> entries;
  std::size_t position = 0;
  for (std::size_t begin = 0; begin <= text.size();) {
    const std::size_t end = std::min(text.find(separator, begin), text.size());
    const std::string_view entry = trim(text.substr(begin, end - begin));
    ++position;
    begin = end + 1;
    if (entry.empty() || (separator == '\n' && entry.front() == '#'))
      continue;
    entries.push_back(parse_entry(entry, position, source));
  }
  return entries;
}

std::optional<RedisCredentials> bound_redis_credentials(std::string_view host, int port) {
  const std::string wanted = normalise_host(host);
  auto [variable, file] = read_variables();
  if (variable) {
    const auto entries = parse_redis_auth(*variable, ',', auth_variable);
    if (auto found = find_entry(entries, wanted, port))
      return found;
  }
  if (file && !file->empty()) {
    std::string content = read_auth_file(*file);
    std::optional<RedisCredentials> found;
    try {
      found = find_entry(
          parse_redis_auth(content, '\n',
                           fmt::format("{} \"{}\"", auth_file_variable, printable(*file, 256))),
          wanted, port);
    } catch (...) {
      secure_zero(content.data(), content.size());
      throw;
    }
    secure_zero(content.data(), content.size());
    return found;
  }
  return std::nullopt;
}

void bind_redis_credentials(std::string_view host, int port, std::string& username,
                            std::string& password) {
  std::optional<RedisCredentials> bound = bound_redis_credentials(host, port);
  password.clear();
  if (!bound)
    return;
  if (!bound->username.empty())
    username = std::move(bound->username);
  password = std::move(bound->password);
}

}  // namespace proxystore::detail
