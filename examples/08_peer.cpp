// SPDX-License-Identifier: Apache-2.0
// 08 — Objects served from the producer's memory over UCX (PeerStore).
//
// The producer puts a 100 MB vector into a PeerStore — a local insert, no
// network — and writes its serialized proxy (a few hundred bytes) to a
// consumer child process (this program, re-executed with --consume). The
// consumer rebuilds a client from the proxy's "peer" config and fetches the
// bytes straight from the producer's memory (shared memory / CMA on one
// host, TCP with UCX_TLS=tcp), then prints the time and the bytes moved.
//
// Needs a library built with UCX (PROXYSTORE_HAS_UCX); otherwise it says so
// and exits 0. Run: build/examples/08_peer
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#if PROXYSTORE_HAS_UCX
#include <proxystore/stores/peer.hpp>

#include <sys/wait.h>
#include <unistd.h>

namespace ps = proxystore;

namespace {

constexpr std::size_t object_bytes = std::size_t{100} << 20U;

int consume() {
  const std::string bytes((std::istreambuf_iterator<char>(std::cin)),
                          std::istreambuf_iterator<char>());
  auto proxy = ps::deserialize<ps::Proxy<std::vector<char>>>(bytes);
  const auto started = std::chrono::steady_clock::now();
  const std::vector<char>& data = *proxy;  // the first access fetches the object
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const long long sum = std::accumulate(data.begin(), data.end(), 0LL);
  std::printf("consumer: resolved %zu bytes in %.1f ms (%.2f GB/s), checksum %lld\n", data.size(),
              seconds * 1e3, static_cast<double>(data.size()) / seconds / 1e9, sum);
  return data.size() == object_bytes && sum == static_cast<long long>(object_bytes) ? 0 : 1;
}

int produce(const char* self) {
  auto store = std::make_shared<ps::PeerStore>("example-08-peer");
  std::vector<char> object(object_bytes, 1);
  const auto proxy = store->proxy(std::move(object));
  std::printf("producer: serving %zu bytes at %s (UCX_TLS=%s)\n", object_bytes,
              store->address().c_str(),
              std::getenv("UCX_TLS") != nullptr ? std::getenv("UCX_TLS") : "default");
  std::fflush(stdout);
  const std::string serialized = ps::serialize(proxy);

  int to_child[2];
  if (::pipe(to_child) != 0)
    return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(to_child[0], 0);
    ::close(to_child[0]);
    ::close(to_child[1]);
    ::execl(self, self, "--consume", static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(to_child[0]);
  const ssize_t written = ::write(to_child[1], serialized.data(), serialized.size());
  ::close(to_child[1]);
  int status = 0;
  ::waitpid(child, &status, 0);  // the store serves until the consumer is done
  const bool ok = written == static_cast<ssize_t>(serialized.size()) && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0;
  std::printf("producer: %s\n", ok ? "consumer done" : "consumer FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 2 && std::string(argv[1]) == "--consume")
      return consume();
    return produce("/proc/self/exe");
  } catch (const std::exception& e) {
    std::cerr << "08_peer: " << e.what() << '\n';
    return 1;
  }
}

#else

int main() {
  std::cout
      << "08_peer: this proxystore was built without UCX (PROXYSTORE_HAS_UCX); nothing to do\n";
  return 0;
}

#endif
