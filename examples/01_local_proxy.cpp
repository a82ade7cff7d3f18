// SPDX-License-Identifier: Apache-2.0
// 01 — A proxy to an object in a LocalStore, used as if it were the object.
//
// What it shows:
//   * store->proxy(obj) stores `obj` and returns a small, lazy Proxy<T>;
//   * the proxy resolves on first use and then behaves as a T
//     (->, *, [], range-for, comparisons, implicit const T&, fmt);
//   * copies share one resolution;
//   * a proxy serializes to a few dozen bytes — its factory, never the target —
//     and the deserialized copy resolves through the store registry.
//
// Run: build/examples/01_local_proxy
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

namespace ps = proxystore;

namespace {

int failures = 0;

// Prints one check and counts failures, so the program exits non-zero if
// anything behaves differently than described.
void check(bool ok, const char* what) {
  std::printf("  [%s] %s\n", ok ? "ok" : "FAILED", what);
  failures += ok ? 0 : 1;
}

// Consumer code takes a `const T&`: it never learns a proxy was involved.
double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

}  // namespace

int main() {
  // A LocalStore keeps serialized objects in this process's memory. Create
  // stores with make_shared: proxy() registers the store under its name so
  // its proxies (and copies deserialized later) can find it.
  auto store = std::make_shared<ps::LocalStore>("example-local");

  std::vector<double> readings(1000);
  std::iota(readings.begin(), readings.end(), 1.0);  // 1, 2, ..., 1000

  // --- a proxy is lazy ---------------------------------------------------
  ps::Proxy<std::vector<double>> proxy = store->proxy(readings);
  std::puts("a fresh proxy:");
  check(!ps::is_resolved(proxy), "is not resolved yet (nothing has been read back)");

  // --- access forms: the proxy behaves as its target ----------------------
  std::puts("access forms:");
  check(proxy->size() == 1000, "proxy->size() == 1000 (first use resolves it)");
  check(ps::is_resolved(proxy), "is resolved now");
  check((*proxy)[0] == 1.0, "(*proxy)[0] == 1.0");
  check(proxy[999] == 1000.0, "proxy[999] == 1000.0 (operator[] forwards)");

  double sum = 0;
  for (double value : proxy)  // range-for forwards to begin()/end()
    sum += value;
  check(sum == 500500.0, "range-for sums to 500500");

  check(mean(proxy) == 500.5, "passes as const std::vector<double>& to mean()");
  check(proxy == readings, "proxy == readings (comparisons forward to the target)");

  // Copies share one resolution and one target.
  ps::Proxy<std::vector<double>> copy = proxy;
  check(&ps::extract(copy) == &ps::extract(proxy), "a copy shares the same target object");

  // --- strings compare and format like strings ----------------------------
  ps::Proxy<std::string> greeting = store->proxy(std::string("hello, proxies"));
  std::puts("a Proxy<std::string>:");
  check(greeting == "hello, proxies", "greeting == \"hello, proxies\"");
  check(greeting->size() == 14, "greeting->size() == 14");
  check(fmt::format("[{:>16}]", greeting) == "[  hello, proxies]", "fmt formats it as its target");

  // --- serialize and deserialize a proxy in-process ------------------------
  // A proxy serializes its factory only: the store config and the key. That
  // is what crosses a pipe, a socket or a task queue.
  const std::string bytes = ps::serialize(proxy);
  const std::size_t target_bytes = ps::serialize(readings).size();
  std::printf("serialized proxy: %zu bytes (the target itself is %zu bytes)\n", bytes.size(),
              target_bytes);
  check(bytes.size() < 128, "the serialized proxy is small");

  auto received = ps::deserialize<ps::Proxy<std::vector<double>>>(bytes);
  check(!ps::is_resolved(received), "the deserialized proxy is lazy again");
  check(received == readings, "and resolves to an equal vector (through the registry)");

  // The factory tells where the object lives.
  const auto* factory = ps::get_factory(received).target<ps::StoreFactory<std::vector<double>>>();
  check(factory != nullptr && factory->config().name == "example-local",
        "its StoreFactory names store 'example-local'");
  if (factory != nullptr)
    std::printf("  key %s in %s store '%s'\n", factory->key().id.c_str(),
                factory->config().type.c_str(), factory->config().name.c_str());

  std::printf("%s\n", failures == 0 ? "01_local_proxy: all checks passed"
                                    : "01_local_proxy: SOME CHECKS FAILED");
  return failures == 0 ? 0 : 1;
}
