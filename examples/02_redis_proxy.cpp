// SPDX-License-Identifier: Apache-2.0
// 02 — Proxies in a Redis server (or, without one, in a FileStore).
//
// What it shows:
//   * RedisStore(name, host, port, RedisOptions) and its options;
//   * the store's config(): what travels inside every proxy (never the password);
//   * proxy_batch (one round trip for many objects), ProxyOptions::evict,
//     and ProxyResolveMissingKeyError once an evicted object is gone;
//   * StoreOptions::metrics.
//
// Run:
//   PROXYSTORE_REDIS=127.0.0.1:6379 build/examples/02_redis_proxy   # a Redis you started
//   build/examples/02_redis_proxy                                    # falls back to FileStore
// The example never starts a server. With a password, also set
// PROXYSTORE_REDIS_PASSWORD (this example's own variable: the password of
// the store it builds). A process that rebuilds the store from a proxy
// takes a password only from PROXYSTORE_REDIS_AUTH=host:port=password.
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

// Parses "host:port" (e.g. 127.0.0.1:6379); returns false if malformed.
bool parse_endpoint(const std::string& text, std::string& host, int& port) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  char* end = nullptr;
  const long value = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || value <= 0 || value > 65535)
    return false;
  port = static_cast<int>(value);
  return true;
}

// The store this example uses: Redis if PROXYSTORE_REDIS is set, else a
// FileStore in a fresh temporary directory (`scratch`).
std::shared_ptr<ps::Store> make_store(const std::filesystem::path& scratch) {
  ps::StoreOptions store_options;
  store_options.metrics = true;  // record counts, times and bytes per operation

  const char* endpoint = std::getenv("PROXYSTORE_REDIS");
  if (endpoint == nullptr || *endpoint == '\0') {
    std::puts("PROXYSTORE_REDIS is not set: using a FileStore instead of Redis.");
    std::puts("  (start a server and run `PROXYSTORE_REDIS=127.0.0.1:6379 02_redis_proxy`)");
    return std::make_shared<ps::FileStore>("example-redis", scratch, store_options);
  }
  std::string host;
  int port = 0;
  if (!parse_endpoint(endpoint, host, port))
    throw ps::Error(fmt::format("PROXYSTORE_REDIS='{}' is not host:port", endpoint));

  ps::RedisOptions options;
  options.key_prefix = "proxystore-example:";  // the store touches only keys under it
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(5000);
  if (const char* password = std::getenv("PROXYSTORE_REDIS_PASSWORD"))
    options.password = password;  // used to AUTH; never part of config()
  options.store = store_options;
  std::printf("using Redis at %s:%d\n", host.c_str(), port);
  // The constructor does not connect; the first operation does.
  return std::make_shared<ps::RedisStore>("example-redis", host, port, options);
}

int run(const std::filesystem::path& scratch) {
  std::shared_ptr<ps::Store> store = make_store(scratch);

  // config() is what every proxy carries: enough to rebuild the store in
  // another process, and never a secret.
  fmt::print("store config: {}\n", fmt::streamed(store->config()));

  // One proxy per object, written in one batch (one round trip on Redis).
  std::vector<std::string> words = {"alpha", "beta", "gamma"};
  std::vector<ps::Proxy<std::string>> proxies = store->proxy_batch(words);
  for (std::size_t i = 0; i < proxies.size(); ++i) {
    const std::string& word = proxies[i];  // resolves: one read from the store
    if (word != words[i])
      throw ps::Error(fmt::format("proxy {} resolved to '{}', not '{}'", i, word, words[i]));
    fmt::print("proxy {} -> {}\n", i, word);
  }

  // An evicting proxy: the object is removed after its first resolution,
  // wherever that happens. Typical for one-shot task inputs.
  ps::ProxyOptions once;
  once.evict = true;
  ps::Proxy<std::vector<int>> ticket = store->proxy(std::vector<int>{4, 8, 15, 16, 23, 42}, once);
  const std::string wire = ps::serialize(ticket);  // what a consumer would receive
  fmt::print("evicting proxy resolved to {} values\n", ticket->size());

  // A second consumer of the same serialized proxy finds the key gone.
  auto late = ps::deserialize<ps::Proxy<std::vector<int>>>(wire);
  try {
    ps::resolve(late);
    throw ps::Error("an evicted object resolved a second time");
  } catch (const ps::ProxyResolveMissingKeyError& e) {
    fmt::print("second resolution fails as it should:\n  {}\n", e.what());
  }

  // Metrics (enabled with StoreOptions::metrics).
  const ps::StoreMetrics metrics = store->metrics();
  for (const auto& [operation, totals] : metrics.operations) {
    fmt::print("  {:<10} count={:<3} bytes={:<6} mean={}us\n", operation, totals.count,
               totals.bytes,
               std::chrono::duration_cast<std::chrono::microseconds>(totals.mean_time()).count());
  }

  // Clean up what we wrote (Redis keys persist otherwise). Never FLUSHDB.
  for (const auto& proxy : proxies)
    store->evict(ps::get_factory(proxy).target<ps::StoreFactory<std::string>>()->key());
  std::puts("02_redis_proxy: done");
  return 0;
}

}  // namespace

int main() {
  namespace fs = std::filesystem;
  const fs::path scratch = fs::temp_directory_path() / ("proxystore-02-" + ps::random_key().id);
  int status = 1;
  try {
    status = run(scratch);
  } catch (const ps::ConnectionError& e) {
    // Names host:port and the operation, e.g. "connection refused".
    std::fprintf(stderr, "02_redis_proxy: cannot reach Redis: %s\n", e.what());
  } catch (const ps::Error& e) {
    std::fprintf(stderr, "02_redis_proxy: %s\n", e.what());
  }
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
  return status;
}
