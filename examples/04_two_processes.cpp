// SPDX-License-Identifier: Apache-2.0
// 04 — Proxies cross a process boundary (the README's main job).
//
// A producer process puts three objects into a store — a vector of a
// million doubles, a string and a user struct — and writes their serialized
// *proxies* through a pipe to a consumer child process (this same program,
// re-executed with --consume). The consumer has no store registered: each
// proxy carries its store's config and key, so on first use the consumer
// rebuilds the store, fetches the object and checks it against a fingerprint
// the producer sent along. Megabytes move through the store; the pipe
// carries a few hundred bytes.
//
// Store: a FileStore in a fresh temporary directory, or a RedisStore when
// PROXYSTORE_REDIS=host:port is set (the example never starts a server;
// PROXYSTORE_REDIS_PASSWORD, if set, is the producer's password; the
// consumer rebuilds the store from the proxies, so the producer binds the
// password to the server's host:port for it with PROXYSTORE_REDIS_AUTH).
//
// Run: build/examples/04_two_processes      (exits non-zero on any mismatch)
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <fmt/ostream.h>
#include <cereal/types/map.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace ps = proxystore;

// --- the objects and the message format -------------------------------------

namespace example {

/// A user type: cereal-serializable, with a portable name (below).
struct Experiment {
  std::string name;
  std::int64_t run = 0;
  std::map<std::string, double> parameters;
  std::vector<std::int32_t> histogram;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, run, parameters, histogram);
  }
};

/// One message on the pipe: a serialized proxy plus a fingerprint of its
/// target, so the consumer can prove it got exactly what was stored.
struct Parcel {
  std::string label;              // which type the proxy is for
  std::string proxy;              // ps::serialize(Proxy<T>): store config + key
  std::uint64_t fingerprint = 0;  // of the serialized target

  template <class Archive>
  void serialize(Archive& ar) {
    ar(label, proxy, fingerprint);
  }
};

}  // namespace example

// Names written into stored objects; producer and consumer must agree.
PROXYSTORE_TYPE_NAME(example::Experiment, "example.experiment");
PROXYSTORE_TYPE_NAME(example::Parcel, "example.parcel");

namespace {

// --- small helpers -------------------------------------------------------------

/// FNV-1a over the object's serialized form: equal objects, equal prints.
template <class T>
std::uint64_t fingerprint(const T& object) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (unsigned char c : ps::serialize(object))
    hash = (hash ^ c) * 1099511628211ULL;
  return hash;
}

/// Bytes a store moves for `object`: its serialized size (header + body).
template <class T>
std::size_t stored_size(const T& object) {
  return ps::serialize(object).size();
}

/// Writes one length-prefixed frame; false if the reader is gone.
bool write_frame(int fd, std::string_view payload) {
  const std::uint64_t length = payload.size();
  std::string frame(reinterpret_cast<const char*>(&length), sizeof length);
  frame.append(payload);
  for (std::size_t done = 0; done < frame.size();) {
    const ssize_t n = ::write(fd, frame.data() + done, frame.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads exactly `size` bytes; false at end of input.
bool read_exact(int fd, char* data, std::size_t size) {
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::read(fd, data + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

/// Reads one frame; nullopt at a clean end of input.
std::optional<std::string> read_frame(int fd) {
  std::uint64_t length = 0;
  if (!read_exact(fd, reinterpret_cast<char*>(&length), sizeof length))
    return std::nullopt;
  if (length > (1U << 20))  // proxies are small: refuse absurd lengths
    throw ps::Error(fmt::format("pipe frame of {} bytes: not a proxy parcel", length));
  std::string payload(length, '\0');
  if (!read_exact(fd, payload.data(), payload.size()))
    throw ps::Error("pipe closed in the middle of a frame");
  return payload;
}

std::string human(std::uint64_t bytes) {
  if (bytes >= 1'000'000)
    return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6);
  if (bytes >= 10'000)
    return fmt::format("{:.1f} kB", static_cast<double>(bytes) / 1e3);
  return fmt::format("{} bytes", bytes);
}

// --- the consumer ----------------------------------------------------------------

/// Resolves one received proxy and checks it; returns the bytes fetched.
template <class T, class Describe>
std::uint64_t consume_one(const example::Parcel& parcel, Describe describe, int& mismatches) {
  auto proxy = ps::deserialize<ps::Proxy<T>>(parcel.proxy);
  const auto* factory = ps::get_factory(proxy).template target<ps::StoreFactory<T>>();
  if (factory != nullptr && !ps::get_store(factory->config().name)) {
    // This process registered no store: the proxy carries the config, and
    // the registry rebuilds the store from it on first use.
    fmt::print("  no store '{}' in this process yet; the proxy says: {}\n", factory->config().name,
               fmt::streamed(factory->config()));
  }
  const T& object = proxy;  // first use: (re)build the store, fetch, decode
  const bool ok = fingerprint(object) == parcel.fingerprint;
  mismatches += ok ? 0 : 1;
  const std::size_t fetched = stored_size(object);
  fmt::print("  got {}\n      proxy {} bytes -> fetched {} from the store [{}]\n", describe(object),
             parcel.proxy.size(), human(fetched), ok ? "fingerprint ok" : "FINGERPRINT MISMATCH");
  return fetched;
}

int consume() {
  fmt::print("-- consumer (pid {}): reading proxies from stdin\n", ::getpid());
  std::uint64_t pipe_bytes = 0;
  std::uint64_t store_bytes = 0;
  int received = 0;
  int mismatches = 0;
  while (std::optional<std::string> frame = read_frame(STDIN_FILENO)) {
    pipe_bytes += frame->size() + sizeof(std::uint64_t);
    const auto parcel = ps::deserialize<example::Parcel>(*frame);
    ++received;
    if (parcel.label == "vector") {
      store_bytes += consume_one<std::vector<double>>(
          parcel,
          [](const std::vector<double>& v) {
            return fmt::format("vector<f64> of {} values, sum {:.0f}, last {:.0f}", v.size(),
                               std::accumulate(v.begin(), v.end(), 0.0), v.back());
          },
          mismatches);
    } else if (parcel.label == "string") {
      store_bytes += consume_one<std::string>(
          parcel, [](const std::string& s) { return fmt::format("string \"{}\"", s); }, mismatches);
    } else if (parcel.label == "experiment") {
      store_bytes += consume_one<example::Experiment>(
          parcel,
          [](const example::Experiment& e) {
            return fmt::format("experiment '{}' run {}: {} parameters, {} histogram bins", e.name,
                               e.run, e.parameters.size(), e.histogram.size());
          },
          mismatches);
    } else {
      fmt::print("  unknown parcel label '{}'\n", parcel.label);
      ++mismatches;
    }
  }
  fmt::print("-- consumer: {} objects; {} through the pipe, {} from the store; {}\n", received,
             human(pipe_bytes), human(store_bytes),
             mismatches == 0 ? "all fingerprints match" : "MISMATCHES");
  return mismatches == 0 && received == 3 ? 0 : 1;
}

// --- the producer ----------------------------------------------------------------

/// Redis if PROXYSTORE_REDIS=host:port is set, else a FileStore in `scratch`.
std::shared_ptr<ps::Store> make_store(const std::filesystem::path& scratch) {
  ps::StoreOptions options;
  options.metrics = true;
  const char* endpoint = std::getenv("PROXYSTORE_REDIS");
  if (endpoint == nullptr || *endpoint == '\0')
    return std::make_shared<ps::FileStore>("demo-04", scratch, options);

  const std::string text = endpoint;
  const auto colon = text.rfind(':');
  const int port = colon == std::string::npos ? 0 : std::atoi(text.c_str() + colon + 1);
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535)
    throw ps::Error(fmt::format("PROXYSTORE_REDIS='{}' is not host:port", text));
  ps::RedisOptions redis;
  redis.key_prefix = "proxystore-demo:";
  if (const char* password = std::getenv("PROXYSTORE_REDIS_PASSWORD")) {
    redis.password = password;  // never put into the proxies
    // The consumer inherits this: a rebuilt store sends a password only to
    // the host:port it is bound to, never to whatever a proxy names.
    const std::string binding = text + "=" + password;
    ::setenv("PROXYSTORE_REDIS_AUTH", binding.c_str(), 0);  // NOLINT(concurrency-mt-unsafe)
  }
  redis.store = options;
  return std::make_shared<ps::RedisStore>("demo-04", text.substr(0, colon), port, redis);
}

/// Starts this program again as `--consume`, its stdin the read end of a
/// pipe; returns the child's pid and sets `to_child` to the write end.
pid_t spawn_consumer(const char* self_name, int& to_child) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw ps::Error("pipe2 failed");
  std::fflush(stdout);  // keep the output in order
  const pid_t pid = ::fork();
  if (pid < 0)
    throw ps::Error("fork failed");
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    ::dup2(fds[0], STDIN_FILENO);
    char* const args[] = {const_cast<char*>(self_name), const_cast<char*>("--consume"), nullptr};
    ::execv("/proc/self/exe", args);
    const char message[] = "04_two_processes: exec of the consumer failed\n";
    (void)!::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(127);
  }
  ::close(fds[0]);
  to_child = fds[1];
  return pid;
}

/// Stores `object`, prints a line about it and returns its parcel.
template <class T>
example::Parcel send(ps::Store& store, const char* label, T object) {
  const std::uint64_t print = fingerprint(object);
  const std::size_t size = stored_size(object);
  ps::Proxy<T> proxy = store.proxy(std::move(object));
  example::Parcel parcel{label, ps::serialize(proxy), print};
  fmt::print("  put {:<20} {:>12} in the store -> proxy of {} bytes\n", ps::type_name<T>(),
             human(size), parcel.proxy.size());
  return parcel;
}

/// Evicts what a parcel's proxy points to (Redis keys would outlive us).
template <class T>
void evict(ps::Store& store, const example::Parcel& parcel) {
  auto proxy = ps::deserialize<ps::Proxy<T>>(parcel.proxy);
  store.evict(ps::get_factory(proxy).template target<ps::StoreFactory<T>>()->key());
}

int produce(const char* self_name) {
  namespace fs = std::filesystem;
  const fs::path scratch = fs::temp_directory_path() / ("proxystore-demo-" + ps::random_key().id);
  std::shared_ptr<ps::Store> store = make_store(scratch);
  fmt::print("== producer (pid {}): store {}\n", ::getpid(), fmt::streamed(store->config()));
  if (std::getenv("PROXYSTORE_REDIS") == nullptr)
    fmt::print("   (embedded default; set PROXYSTORE_REDIS=host:port to use Redis)\n");

  // Three objects of three kinds.
  std::vector<double> samples(1'000'000);
  std::iota(samples.begin(), samples.end(), 0.0);
  example::Experiment experiment{"calibration", 7, {{"gain", 1.5}, {"offset", -0.25}}, {}};
  experiment.histogram.assign(64, 0);
  for (std::size_t i = 0; i < samples.size(); ++i)
    ++experiment.histogram[i % 64];

  std::vector<example::Parcel> parcels;
  parcels.push_back(send(*store, "vector", std::move(samples)));
  parcels.push_back(send(*store, "string", std::string("proxies resolve where they are used")));
  parcels.push_back(send(*store, "experiment", experiment));

  // Hand the proxies to another process.
  std::signal(SIGPIPE, SIG_IGN);  // a dead consumer becomes a write error, not a signal
  int to_child = -1;
  const pid_t child = spawn_consumer(self_name, to_child);
  fmt::print("  started consumer pid {}; sending {} proxies through a pipe\n", child,
             parcels.size());
  std::fflush(stdout);
  std::uint64_t pipe_bytes = 0;
  bool sent = true;
  for (const example::Parcel& parcel : parcels) {
    const std::string frame = ps::serialize(parcel);
    sent = sent && write_frame(to_child, frame);
    pipe_bytes += frame.size() + sizeof(std::uint64_t);
  }
  ::close(to_child);  // end of input for the consumer

  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  const bool consumer_ok = sent && WIFEXITED(status) && WEXITSTATUS(status) == 0;

  const ps::OperationMetrics writes = store->metrics().at("set");
  fmt::print("== producer: wrote {} objects ({}) to the store, sent {} through the pipe\n",
             writes.count, human(writes.bytes), human(pipe_bytes));

  evict<std::vector<double>>(*store, parcels[0]);
  evict<std::string>(*store, parcels[1]);
  evict<example::Experiment>(*store, parcels[2]);
  std::error_code ignored;
  fs::remove_all(scratch, ignored);

  if (!consumer_ok) {
    fmt::print("== 04_two_processes: FAILED (consumer {})\n",
               WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                 : std::string("killed by a signal"));
    return 1;
  }
  fmt::print("== 04_two_processes: OK, 3 objects crossed processes as proxies\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool consumer = argc > 1 && std::string_view(argv[1]) == "--consume";
  try {
    return consumer ? consume() : produce(argv[0]);
  } catch (const std::exception& e) {
    // Every proxystore error names what failed: store, key, host:port, types.
    fmt::print(stderr, "04_two_processes{}: error: {}\n", consumer ? " (consumer)" : "", e.what());
    return 1;
  }
}
