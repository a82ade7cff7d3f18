// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/security.hpp>

#include "detail/sha256.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace proxystore {
namespace detail {

std::string printable(std::string_view text, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  if (text.size() > limit)
    out += fmt::format("...({} bytes)", text.size());
  return out;
}

bool has_control_bytes(std::string_view text) noexcept {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7f;
  });
}

}  // namespace detail

namespace {

/// What a refused config's message suggests.
constexpr const char* host_remedy =
    "register the store in this process, or allow it with PROXYSTORE_ALLOWED_HOSTS / "
    "PROXYSTORE_ALLOWED_DIRS or proxystore::set_store_policy";

constexpr std::string_view builtin_types[] = {"local", "file", "redis", "redis-cluster", "peer"};

// --- small string helpers ---------------------------------------------------

using detail::printable;

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

std::string_view trim(std::string_view text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> items;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = trim(text.substr(0, comma));
    if (!item.empty())
      items.emplace_back(item);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

std::vector<std::string> list_from_environment(const char* variable) {
  const char* value = std::getenv(variable);  // NOLINT(concurrency-mt-unsafe): read under a lock
  return value != nullptr ? split_list(value) : std::vector<std::string>{};
}

/// A decimal port in 0..65535 ("" or anything else: nullopt).
std::optional<unsigned> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5)
    return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9')
      return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535 ? std::optional<unsigned>(value) : std::nullopt;
}

/// Lower case, without IPv6 brackets. A trailing root dot is kept: it
/// makes a name absolute (resolved by DNS, not /etc/hosts), so
/// "localhost." is not "localhost".
std::string normalise_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return lower(host);
}

struct HostPattern {
  std::string host;  // normalised; "*" = any, "*.x" = any subdomain of x
  std::string port;  // "" or "*" = any
};

HostPattern parse_host_pattern(std::string_view pattern) {
  HostPattern parsed;
  if (!pattern.empty() && pattern.front() == '[') {
    const auto close = pattern.find(']');
    if (close != std::string_view::npos) {
      parsed.host = normalise_host(pattern.substr(0, close + 1));
      const std::string_view rest = pattern.substr(close + 1);
      if (!rest.empty() && rest.front() == ':')
        parsed.port = std::string(rest.substr(1));
      return parsed;
    }
  }
  const auto colon = pattern.find(':');
  if (colon != std::string_view::npos && pattern.find(':', colon + 1) == std::string_view::npos) {
    parsed.host = normalise_host(pattern.substr(0, colon));
    parsed.port = std::string(pattern.substr(colon + 1));
  } else {
    parsed.host = normalise_host(pattern);  // a bare name, or a bare IPv6 address
  }
  return parsed;
}

bool host_matches(const HostPattern& pattern, const std::string& host, std::string_view port_text) {
  bool host_ok = false;
  if (pattern.host == "*") {
    host_ok = true;
  } else if (pattern.host.size() > 2 && pattern.host.compare(0, 2, "*.") == 0) {
    const std::string_view suffix = std::string_view(pattern.host).substr(1);  // ".x"
    host_ok = host.size() > suffix.size() &&
              host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0;
  } else {
    host_ok = pattern.host == host;
  }
  if (!host_ok)
    return false;
  if (pattern.port.empty() || pattern.port == "*")
    return true;
  const auto wanted = parse_port(pattern.port);
  const auto actual = parse_port(port_text);
  return wanted && actual && *wanted == *actual;
}

/// `path` made absolute and normalised; symlinks resolved where they exist.
std::filesystem::path normalise_directory(const std::string& path) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error)
    absolute = std::filesystem::path(path);
  std::filesystem::path canonical = std::filesystem::weakly_canonical(absolute, error);
  if (error)
    canonical = absolute.lexically_normal();
  return canonical.lexically_normal();
}

/// The real path of an existing `path` (every symlink and ".." resolved by
/// the kernel, as open() will resolve them), or the error why there is none.
std::filesystem::path real_directory(const std::string& path, std::error_code& error) {
  std::filesystem::path absolute = std::filesystem::absolute(path, error);
  if (error)
    return {};
  return std::filesystem::canonical(absolute, error);
}

/// Whether `path` is `prefix` or lies below it, compared component-wise
/// (so /data/ps does not admit /data/ps-other).
bool is_under(const std::filesystem::path& path, const std::filesystem::path& prefix) {
  auto p = path.begin();
  for (const auto& part : prefix) {
    if (part.empty())
      continue;  // the trailing "" of "dir/"
    if (p == path.end() || *p != part)
      return false;
    ++p;
  }
  return true;
}

std::string describe_list(const std::vector<std::string>& items) {
  if (items.empty())
    return "none";
  std::string out;
  for (const auto& item : items) {
    if (!out.empty())
      out += ", ";
    out += printable(item, 64);
  }
  return out;
}

// --- process-wide state -------------------------------------------------------

struct PolicyState {
  std::mutex mutex;
  std::optional<StorePolicy> policy;  // from the environment at first use
};

PolicyState& policy_state() {
  static auto* const state = new PolicyState();  // never destroyed: used at exit
  return *state;
}

/// The signing key; wiped from memory when the last user lets go of it.
class SigningKey {
 public:
  explicit SigningKey(std::string key) : key_(std::move(key)) {}
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey() { detail::secure_zero(key_.data(), key_.size()); }
  [[nodiscard]] std::string_view view() const noexcept { return key_; }

 private:
  std::string key_;
};

struct SigningState {
  std::mutex mutex;
  bool initialised = false;
  std::shared_ptr<const SigningKey> key;  // null: signing off
};

SigningState& signing_state() {
  static auto* const state = new SigningState();
  return *state;
}

std::shared_ptr<const SigningKey> current_signing_key() {
  auto& state = signing_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (!state.initialised) {
    state.initialised = true;
    // NOLINTNEXTLINE(concurrency-mt-unsafe): read once, under the lock
    if (const char* value = std::getenv("PROXYSTORE_SIGNING_KEY"); value && *value) {
      state.key = std::make_shared<const SigningKey>(value);
    }
  }
  return state.key;
}

constexpr std::size_t signature_size = 32;

void update_length_prefixed(detail::HmacSha256& mac, std::string_view field) {
  char length[8];
  for (std::size_t i = 0; i < sizeof(length); ++i)
    length[i] = static_cast<char>((static_cast<std::uint64_t>(field.size()) >> (8U * i)) & 0xffU);
  mac.update(std::string_view(length, sizeof(length)));
  mac.update(field);
}

detail::Sha256Digest factory_mac(std::string_view key, std::string_view kind,
                                 std::string_view payload, std::string_view result_type) {
  // Domain-separated and length-prefixed, so no (result type, kind,
  // payload) triple can collide with another split of the same bytes. v2
  // covers the result type: a signed Factory<i64> cannot be loaded as a
  // Factory<u64> by renaming the type in the unsigned serialization header.
  detail::HmacSha256 mac(key);
  mac.update(std::string_view("proxystore-factory-v2\n"));
  update_length_prefixed(mac, result_type);
  update_length_prefixed(mac, kind);
  update_length_prefixed(mac, payload);
  return mac.finish();
}

}  // namespace

// --- store policy -----------------------------------------------------------------

StorePolicy StorePolicy::from_environment() {
  StorePolicy policy;
  policy.allowed_hosts = list_from_environment("PROXYSTORE_ALLOWED_HOSTS");
  policy.allowed_dirs = list_from_environment("PROXYSTORE_ALLOWED_DIRS");
  return policy;
}

StorePolicy StorePolicy::allow_all() {
  StorePolicy policy;
  policy.allowed_types.clear();
  policy.allowed_types.emplace_back("*");
  policy.allowed_hosts = {"*"};
  policy.allowed_dirs.clear();
  return policy;
}

void set_store_policy(StorePolicy policy) {
  auto& state = policy_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  state.policy = std::move(policy);
}

StorePolicy store_policy() {
  auto& state = policy_state();
  std::lock_guard<std::mutex> lock(state.mutex);
  if (!state.policy)
    state.policy = StorePolicy::from_environment();
  return *state.policy;
}

bool is_loopback_host(std::string_view hostname) {
  const std::string host = normalise_host(hostname);
  if (host == "localhost" || host == "::1")
    return true;
  // A strict dotted quad whose first part is exactly 127.
  std::size_t parts = 0;
  std::size_t start = 0;
  while (start <= host.size()) {
    const auto dot = host.find('.', start);
    const std::string_view part =
        std::string_view(host).substr(start, dot == std::string::npos ? host.npos : dot - start);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    if (std::stoi(std::string(part)) > 255 || (parts == 0 && part != "127"))
      return false;
    ++parts;
    if (dot == std::string::npos)
      break;
    start = dot + 1;
  }
  return parts == 4;
}

namespace detail {

void check_store_host(const StoreConfig& config, std::string_view hostname, std::string_view port) {
  if (has_control_bytes(hostname) || has_control_bytes(port)) {
    // The bytes a C resolver sees end at a NUL: "127.0.0.1\0.allowed.test"
    // would match "*.allowed.test" here and connect to 127.0.0.1.
    throw ForbiddenStoreError(
        fmt::format(R"(store "{}" (type "{}") at {}:{}: the host or port holds control bytes; {})",
                    printable(config.name), printable(config.type), printable(hostname),
                    printable(port, 16), host_remedy));
  }
  const StorePolicy policy = store_policy();
  const std::string host = normalise_host(hostname);
  bool allowed = policy.allow_loopback && is_loopback_host(host);
  for (const auto& pattern : policy.allowed_hosts) {
    allowed = allowed || host_matches(parse_host_pattern(trim(pattern)), host, port);
  }
  if (!allowed) {
    throw ForbiddenStoreError(
        fmt::format(R"(store "{}" (type "{}") at {}:{}: host is not allowed (allowed: {}{}); {})",
                    printable(config.name), printable(config.type), printable(hostname),
                    port.empty() ? std::string("?") : printable(port, 16),
                    policy.allow_loopback ? "loopback, " : "", describe_list(policy.allowed_hosts),
                    host_remedy));
  }
}

void check_store_directory(const StoreConfig& config, const std::string& directory) {
  const StorePolicy policy = store_policy();
  const std::string subject =
      fmt::format(R"(store "{}" (type "{}") in directory "{}")", printable(config.name),
                  printable(config.type), printable(directory, 256));
  if (has_control_bytes(directory)) {
    throw ForbiddenStoreError(
        fmt::format("{}: the directory holds control bytes; {}", subject, host_remedy));
  }
  if (policy.allowed_dirs.empty())
    return;
  auto allowed_by = [&policy](const std::filesystem::path& path) {
    return std::any_of(policy.allowed_dirs.begin(), policy.allowed_dirs.end(),
                       [&](const std::string& prefix) {
                         return !prefix.empty() && is_under(path, normalise_directory(prefix));
                       });
  };
  auto refuse = [&]() {
    throw ForbiddenStoreError(fmt::format("{}: directory is not allowed (allowed: {}); {}", subject,
                                          describe_list(policy.allowed_dirs), host_remedy));
  };
  // Judge the directory the FileStore will open: its real path, which the
  // kernel resolves component by component (a lexical "link/../.." and the
  // kernel's resolution of it differ).
  std::error_code error;
  const std::filesystem::path real = real_directory(directory, error);
  if (error) {
    // A store rebuilt from a proxy never creates its directory, so a
    // missing one can do no harm: refuse it when even its spelling lies
    // outside the allow-list, else report it as the fault it is.
    if (!allowed_by(normalise_directory(directory)))
      refuse();
    throw StoreOperationError(
        fmt::format("{}: cannot resolve the directory: {}", subject, error.message()));
  }
  if (!allowed_by(real))
    refuse();
}

}  // namespace detail

void check_store_config(const StoreConfig& config) {
  const StorePolicy policy = store_policy();
  const std::string subject =
      fmt::format(R"(store "{}" (type "{}"))", printable(config.name), printable(config.type));
  const std::string remedy = host_remedy;

  // 0. Control bytes, whatever the policy: every consumer of these strings
  // (a C resolver, open(), a log line) must see exactly what was judged,
  // and a NUL ends the string a C API sees.
  auto refuse_control = [&](std::string_view what, std::string_view text) {
    if (detail::has_control_bytes(text)) {
      throw ForbiddenStoreError(fmt::format("{}: {} \"{}\" holds control bytes; {}", subject, what,
                                            printable(text), remedy));
    }
  };
  refuse_control("the type", config.type);
  refuse_control("the name", config.name);
  for (const auto& [option, value] : config.options) {
    refuse_control("an option name", option);
    refuse_control(fmt::format("option '{}'", printable(option)), value);
  }

  // 1. The type.
  const bool listed =
      std::any_of(policy.allowed_types.begin(), policy.allowed_types.end(),
                  [&](const std::string& t) { return t == "*" || t == config.type; });
  const bool builtin = std::find(std::begin(builtin_types), std::end(builtin_types), config.type) !=
                       std::end(builtin_types);
  const bool registered =
      policy.allow_registered_types && !builtin && detail::has_store_builder(config.type);
  if (!listed && !registered) {
    throw ForbiddenStoreError(
        fmt::format("{}: rebuilding stores of this type from a proxy is not allowed (allowed "
                    "types: {}); {}",
                    subject, describe_list(policy.allowed_types), remedy));
  }

  // 2. The host, for any type that names one; every seed of a cluster.
  for (const char* option : {"hostname", "host"}) {
    const auto it = config.options.find(option);
    if (it == config.options.end())
      continue;
    const auto port_it = config.options.find("port");
    detail::check_store_host(
        config, it->second,
        port_it == config.options.end() ? std::string_view() : std::string_view(port_it->second));
  }
  if (const auto it = config.options.find("seeds"); it != config.options.end()) {
    const std::string_view seeds = it->second;
    for (std::size_t begin = 0; begin <= seeds.size();) {
      const std::size_t comma = std::min(seeds.find(',', begin), seeds.size());
      const std::string_view seed = trim(seeds.substr(begin, comma - begin));
      // "host:port" or "[v6]:port"; a seed without a port is checked as a host.
      const std::size_t colon = seed.rfind(':');
      const bool has_port =
          colon != std::string_view::npos &&
          (seed.front() == '[' ? colon > 0 && seed[colon - 1] == ']' : seed.find(':') == colon);
      detail::check_store_host(config, has_port ? seed.substr(0, colon) : seed,
                               has_port ? seed.substr(colon + 1) : std::string_view());
      begin = comma + 1;
    }
  }

  // 3. The directory, for any type that names one.
  if (const auto it = config.options.find("directory"); it != config.options.end())
    detail::check_store_directory(config, it->second);

  // 4. The user's own check.
  if (policy.check)
    policy.check(config);
}

// --- signing ------------------------------------------------------------------------

void set_signing_key(std::string key) {
  if (key.empty())
    throw Error("set_signing_key: the key is empty (use clear_signing_key to turn signing off)");
  auto fresh = std::make_shared<const SigningKey>(std::move(key));
  auto& state = signing_state();
  std::shared_ptr<const SigningKey> old;  // released (and wiped) after unlocking
  std::lock_guard<std::mutex> lock(state.mutex);
  state.initialised = true;
  old = std::exchange(state.key, std::move(fresh));
}

void clear_signing_key() {
  auto& state = signing_state();
  std::shared_ptr<const SigningKey> old;
  std::lock_guard<std::mutex> lock(state.mutex);
  state.initialised = true;
  old = std::exchange(state.key, nullptr);
}

bool signing_enabled() {
  return current_signing_key() != nullptr;
}

namespace detail {

std::string sign_factory(std::string_view kind, std::string_view payload,
                         std::string_view result_type) {
  const auto key = current_signing_key();
  if (!key)
    return {};
  const Sha256Digest mac = factory_mac(key->view(), kind, payload, result_type);
  return {reinterpret_cast<const char*>(mac.data()), mac.size()};
}

void verify_factory(std::string_view kind, std::string_view payload, std::string_view signature,
                    std::string_view result_type) {
  const auto key = current_signing_key();
  if (!key)
    return;
  const std::string subject =
      fmt::format("factory of kind \"{}\" for '{}'", printable(kind), printable(result_type));
  if (signature.empty()) {
    throw SignatureError(
        fmt::format("{}: the factory is unsigned, but this process requires signed factories (a "
                    "signing key is set by PROXYSTORE_SIGNING_KEY or set_signing_key); sign it "
                    "with the same key on the producer's side",
                    subject));
  }
  if (signature.size() != signature_size) {
    throw SignatureError(fmt::format("{}: malformed signature ({} bytes, expected {})", subject,
                                     signature.size(), signature_size));
  }
  const Sha256Digest mac = factory_mac(key->view(), kind, payload, result_type);
  if (!constant_time_equal(
          signature, std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()))) {
    throw SignatureError(
        fmt::format("{}: signature mismatch: the factory was tampered with, signed for another "
                    "result type, or signed with another key",
                    subject));
  }
}

}  // namespace detail
}  // namespace proxystore
