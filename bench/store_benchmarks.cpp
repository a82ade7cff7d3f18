// SPDX-License-Identifier: Apache-2.0
// FileStore against raw write/read of a file, LocalStore against a copy of
// the object, resolved-proxy access against a plain pointer, and
// proxy_batch against single proxy calls.
//
// Names: file/<set|get>/<element>/<size>/<raw|store>
//        local/<set|get>/<element>/<size>/store, local/copy/<element>/<size>
//        access/<pointer|proxy>
//        batch/<single|batch>   (1000 objects of 100 B, Redis)
//        cache/<local|redis>/<element>/<size>/<default|off>
//                               first use of a fresh proxy: default
//                               StoreOptions (cache on) vs cache_size = 0
#include "bench_common.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/stores/file.hpp>
#include <proxystore/stores/local.hpp>
#include <proxystore/stores/redis.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace proxystore::bench {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));  // NOLINT(concurrency-mt-unsafe)
}

/// The raw-file baseline: what an application writing the bytes itself
/// pays (create, write, close), and reading them back into a fresh buffer.
void write_file(const std::string& path, const char* data, std::size_t size) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail("open " + path);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno != EINTR)
      fail("write " + path);
    if (n > 0)
      done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0)
    fail("close " + path);
}

std::unique_ptr<char[]> read_file(const std::string& path, std::size_t& size) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail("open " + path);
  struct stat info {};
  ::fstat(fd, &info);
  size = static_cast<std::size_t>(info.st_size);
  std::unique_ptr<char[]> buffer(new char[size == 0 ? 1 : size]);
  for (std::size_t done = 0; done < size;) {
    const ssize_t n = ::read(fd, buffer.get() + done, size - done);
    if (n < 0 && errno != EINTR)
      fail("read " + path);
    if (n == 0)
      break;
    if (n > 0)
      done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return buffer;
}

std::shared_ptr<FileStore> file_store() {
  static std::shared_ptr<FileStore> store = [] {
    StoreOptions options;
    options.cache_size = 0;
    auto s = std::make_shared<FileStore>("bench-file", settings().scratch / "file-store", options);
    register_store(s, /*exist_ok=*/true);
    return s;
  }();
  return store;
}

std::shared_ptr<LocalStore> local_store() {
  static std::shared_ptr<LocalStore> store = [] {
    StoreOptions options;
    options.cache_size = 0;
    auto s = std::make_shared<LocalStore>("bench-local", options);
    register_store(s, /*exist_ok=*/true);
    return s;
  }();
  return store;
}

template <class T>
void register_for(std::size_t size) {
  const std::string suffix = std::string(element_name<T>()) + "/" + size_label(size);
  const std::string raw_path = (settings().scratch / "raw-file").string();

  add_timed("file/set/" + suffix + "/raw", [size, raw_path](benchmark::State& state) {
    const T object = make_object<T>(size);
    for (auto _ : state) {
      timed(state, [&] { write_file(raw_path, payload_data(object), payload_size(object)); });
      ::unlink(raw_path.c_str());  // each write creates its file, as FileStore's do
    }
  });
  add_store_set<T>("file/set/" + suffix + "/store", size, file_store);
  add_timed("file/get/" + suffix + "/raw", [size, raw_path](benchmark::State& state) {
    const T object = make_object<T>(size);
    write_file(raw_path, payload_data(object), payload_size(object));
    for (auto _ : state) {
      std::unique_ptr<char[]> buffer;
      std::size_t read = 0;
      timed(state, [&] { buffer = read_file(raw_path, read); });
      if (read != payload_size(object))
        state.SkipWithError("raw read: wrong size");
    }
    ::unlink(raw_path.c_str());
  });
  add_store_get<T>("file/get/" + suffix + "/store", size, file_store);

  // LocalStore keeps serialized bytes in memory: the baseline of its set
  // and of its get is one plain copy of the object (what an in-process map
  // of objects would pay to store it or hand it out).
  add_timed("local/copy/" + suffix, [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    for (auto _ : state) {
      std::optional<T> copy;
      timed(state, [&] { copy.emplace(object); });
    }
  });
  add_store_set<T>("local/set/" + suffix + "/store", size, local_store);
  add_store_get<T>("local/get/" + suffix + "/store", size, local_store);
}

/// A store of `kind` ("local" or "redis") with default StoreOptions
/// ("default") or with the cache off ("off"), created once.
std::shared_ptr<Store> cache_store(const std::string& kind, bool cached) {
  static std::map<std::string, std::shared_ptr<Store>> stores;
  static std::mutex mutex;
  const std::string name = "bench-cache-" + kind + (cached ? "-default" : "-off");
  std::lock_guard<std::mutex> lock(mutex);
  std::shared_ptr<Store>& store = stores[name];
  if (!store) {
    StoreOptions options;
    if (!cached)
      options.cache_size = 0;
    if (kind == "local") {
      store = std::make_shared<LocalStore>(name, options);
    } else {
      RedisOptions redis_options;
      redis_options.store = options;
      store = std::make_shared<RedisStore>(name, settings().redis_host, settings().redis_port,
                                           redis_options);
    }
    register_store(store, /*exist_ok=*/true);
  }
  return store;
}

/// The first use of a proxy to a freshly stored object (the object is
/// stored and the proxy made outside the timed region; each iteration has
/// its own key, so no earlier iteration's cache entry can serve it).
template <class T>
void register_cache(std::size_t size) {
  for (const char* kind : {"local", "redis"}) {
    for (const bool cached : {true, false}) {
      const std::string name = std::string("cache/") + kind + "/" + element_name<T>() + "/" +
                               size_label(size) + (cached ? "/default" : "/off");
      add_timed(name, [size, kind = std::string(kind), cached](benchmark::State& state) {
        const std::shared_ptr<Store> s = cache_store(kind, cached);
        const T object = make_object<T>(size);
        for (auto _ : state) {
          const Key key = s->set(object);
          auto proxy = s->proxy_from_key<T>(key);
          timed(state, [&] { resolve(proxy); });
          if (proxy->size() != object.size())
            state.SkipWithError("cache: wrong object");
          s->evict(key);
        }
      });
    }
  }
}

/// Access to a resolved proxy against a plain pointer to the same vector.
void register_access() {
  auto pointer = [](benchmark::State& state) {
    std::vector<double> object(1000, 1.0);
    const std::vector<double>* target = &object;
    for (auto _ : state) {
      benchmark::DoNotOptimize(target);
      benchmark::DoNotOptimize(target->size());
    }
  };
  auto proxy = [](benchmark::State& state) {
    Proxy<std::vector<double>> p(
        SimpleFactory<std::vector<double>>(std::vector<double>(1000, 1.0)));
    resolve(p);
    for (auto _ : state) {
      benchmark::DoNotOptimize(p);
      benchmark::DoNotOptimize(p->size());
    }
  };
  for (auto* b : {benchmark::RegisterBenchmark("access/pointer", pointer),
                  benchmark::RegisterBenchmark("access/proxy", proxy)}) {
    b->Unit(benchmark::kNanosecond);
    if (settings().smoke)
      b->Iterations(1);
  }
}

/// 1000 objects of 100 B to Redis: proxy_batch against 1000 proxy() calls.
void register_batch() {
  constexpr std::size_t count = batch_count;
  auto store = [] {
    RedisOptions options;
    options.store.cache_size = 0;
    auto s = std::make_shared<RedisStore>("bench-batch", settings().redis_host,
                                          settings().redis_port, options);
    register_store(s, /*exist_ok=*/true);
    return s;
  };
  auto cleanup = [](Store& s, const std::vector<Proxy<std::vector<char>>>& proxies) {
    for (const auto& p : proxies)
      s.evict(get_factory(p).target<StoreFactory<std::vector<char>>>()->key());
  };
  add_timed("batch/single", [store, cleanup](benchmark::State& state) {
    const std::shared_ptr<RedisStore> s = store();
    const std::vector<std::vector<char>> objects(count, make_object<std::vector<char>>(100));
    for (auto _ : state) {
      std::vector<std::vector<char>> input = objects;  // moved in, as for the batch
      std::vector<Proxy<std::vector<char>>> proxies;
      proxies.reserve(count);
      timed(state, [&] {
        for (std::vector<char>& object : input)
          proxies.push_back(s->proxy(std::move(object)));
      });
      cleanup(*s, proxies);
    }
  });
  add_timed("batch/batch", [store, cleanup](benchmark::State& state) {
    const std::shared_ptr<RedisStore> s = store();
    const std::vector<std::vector<char>> objects(count, make_object<std::vector<char>>(100));
    for (auto _ : state) {
      std::vector<std::vector<char>> input = objects;  // proxy_batch takes them by value
      std::vector<Proxy<std::vector<char>>> proxies;
      timed(state, [&] { proxies = s->proxy_batch(std::move(input)); });
      cleanup(*s, proxies);
    }
  });
}

}  // namespace

void register_store_benchmarks() {
  for (std::size_t size : object_sizes()) {
    register_for<std::vector<char>>(size);
    register_for<std::vector<double>>(size);
    if (size >= (std::size_t{1} << 20)) {
      register_cache<std::vector<char>>(size);
      register_cache<std::vector<double>>(size);
    }
  }
  register_access();
  register_batch();
}

}  // namespace proxystore::bench
