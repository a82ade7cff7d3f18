// SPDX-License-Identifier: Apache-2.0
// Peak memory while reading the largest object, each probe in a forked
// child so earlier work (and the allocator's state) cannot hide or inflate
// it.
//
// Method: the child resets its peak RSS (`echo 5 > /proc/self/clear_refs`
// sets VmHWM to the current VmRSS), reads VmRSS, performs one read, then
// reads VmHWM. Growth = VmHWM - VmRSS(before): every page the read touched
// at its peak, *including the object it returns*. Reported divided by the
// object's payload size: 1.00 means "the result and nothing else".
//
// Names: memory/<element>/<floor|hiredis|get|resolve|resolve_default>
//   floor            the floor GET (fresh buffer of exactly the size)
//   hiredis          raw hiredis GET (reply object)
//   get              Store::get<T> (RedisStore, cache off)
//   resolve          a deserialized proxy resolved in a process whose
//                    registry holds the store (cache off)
//   resolve_default  the same where the consumer has no store registered:
//                    it rebuilds one from the proxy's config with default
//                    StoreOptions (LRU cache on)
#include "bench_common.hpp"
#include "resp_floor.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include <hiredis/hiredis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace proxystore::bench {
namespace {

/// A field of /proc/self/status in bytes (VmRSS, VmHWM).
double status_bytes(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.compare(0, prefix.size(), prefix) == 0)
      return std::stod(line.substr(prefix.size())) * 1024.0;  // "  12345 kB"
  }
  return -1;
}

bool reset_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  return static_cast<bool>(clear.flush());
}

/// Runs `probe` in a child; returns its peak RSS growth in bytes (or -1).
double in_child(const std::function<void()>& probe) {
  int channel[2];
  if (::pipe(channel) != 0)
    return -1;
  const pid_t child = ::fork();
  if (child < 0)
    return -1;
  if (child == 0) {
    ::close(channel[0]);
    double growth = -1;
    try {
      if (reset_peak()) {
        const double before = status_bytes("VmRSS");
        probe();
        growth = status_bytes("VmHWM") - before;
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "memory probe failed: %s\n", e.what());
    }
    const ssize_t written = ::write(channel[1], &growth, sizeof(growth));
    ::_exit(written == sizeof(growth) ? 0 : 1);
  }
  ::close(channel[1]);
  double growth = -1;
  if (::read(channel[0], &growth, sizeof(growth)) != sizeof(growth))
    growth = -1;
  ::close(channel[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  return growth;
}

template <class T>
void probe(std::size_t size) {
  const Settings& s = settings();
  const std::string prefix = std::string("memory/") + element_name<T>() + "/";
  std::string wire;
  std::size_t payload = 0;
  const std::string raw_key = "bench:memory:raw";
  {
    const T object = make_object<T>(size);
    payload = payload_size(object);
    FloorClient floor(s.redis_host, s.redis_port);
    floor.set(raw_key, payload_data(object), payload);
    RedisOptions options;
    options.store.cache_size = 0;
    auto store = std::make_shared<RedisStore>("bench-memory", s.redis_host, s.redis_port, options);
    wire = serialize(store->proxy(object));
  }  // the object is gone before any child starts

  auto record = [&](const char* what, double growth) {
    measurements().push_back({prefix + what, growth / static_cast<double>(payload)});
  };
  record("floor", in_child([&] {
           FloorClient floor(s.redis_host, s.redis_port);
           FloorBuffer buffer = floor.get(raw_key);
           if (buffer.size != payload)
             throw std::runtime_error("floor: wrong size");
         }));
  record("hiredis", in_child([&] {
           redisContext* context = redisConnect(s.redis_host.c_str(), s.redis_port);
           auto* reply = static_cast<redisReply*>(redisCommand(context, "GET %s", raw_key.c_str()));
           const bool ok = reply != nullptr && reply->len == payload;
           freeReplyObject(reply);
           redisFree(context);
           if (!ok)
             throw std::runtime_error("hiredis: wrong reply");
         }));
  const auto proxy_in_child = deserialize<Proxy<T>>(wire);
  const Key key = get_factory(proxy_in_child).template target<StoreFactory<T>>()->key();
  record("get", in_child([&] {
           RedisOptions options;
           options.store.cache_size = 0;
           RedisStore store("bench-memory-get", s.redis_host, s.redis_port, options);
           if (!store.get<T>(key))
             throw std::runtime_error("get: no value");
         }));
  record("resolve", in_child([&] {
           RedisOptions options;
           options.store.cache_size = 0;
           register_store(
               std::make_shared<RedisStore>("bench-memory", s.redis_host, s.redis_port, options),
               /*exist_ok=*/true);
           auto proxy = deserialize<Proxy<T>>(wire);
           benchmark::DoNotOptimize(proxy->size());
         }));
  record("resolve_default", in_child([&] {
           unregister_store("bench-memory");  // a consumer that knows no store
           auto proxy = deserialize<Proxy<T>>(wire);
           benchmark::DoNotOptimize(proxy->size());
         }));

  // Clean up the server.
  FloorClient floor(s.redis_host, s.redis_port);
  floor.del(raw_key);
  RedisStore store("bench-memory-cleanup", s.redis_host, s.redis_port);
  store.evict(key);
  unregister_store("bench-memory");
}

}  // namespace

void run_peak_memory_probes() {
  probe<std::vector<char>>(largest_size());
  probe<std::vector<double>>(largest_size());
}

}  // namespace proxystore::bench
