// SPDX-License-Identifier: Apache-2.0
// Redis: raw hiredis and the floor (the baselines) against Store::set/get,
// proxy creation and resolution, all on one server in one process.
//
// Names: redis/<op>/<element>/<size>/<variant>
//   op       set | get | proxy | resolve | resolve_wire
//   variant  hiredis | floor (baselines) | store (the library)
#include "bench_common.hpp"
#include "resp_floor.hpp"

#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include <hiredis/hiredis.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace proxystore::bench {
namespace {

struct ContextDeleter {
  void operator()(redisContext* context) const noexcept { redisFree(context); }
};
struct ReplyDeleter {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

/// The three clients every Redis benchmark compares, on one server.
struct RedisClients {
  std::unique_ptr<redisContext, ContextDeleter> raw;
  std::unique_ptr<FloorClient> floor;
  std::shared_ptr<RedisStore> store;

  /// Raw hiredis, the way an application would write it: redisCommandArgv
  /// with explicit lengths (values hold NULs).
  ReplyPtr command(std::initializer_list<std::string_view> args) const {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (std::string_view arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    ReplyPtr reply(static_cast<redisReply*>(
        redisCommandArgv(raw.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
    if (!reply)
      throw std::runtime_error(std::string("hiredis: ") + raw->errstr);
    if (reply->type == REDIS_REPLY_ERROR)
      throw std::runtime_error("hiredis: " + std::string(reply->str, reply->len));
    return reply;
  }
};

RedisClients& redis() {
  static RedisClients clients = [] {
    const Settings& s = settings();
    RedisClients c;
    c.raw.reset(redisConnect(s.redis_host.c_str(), s.redis_port));
    if (!c.raw || c.raw->err != 0)
      throw std::runtime_error("cannot connect to redis at port " + std::to_string(s.redis_port));
    c.floor = std::make_unique<FloorClient>(s.redis_host, s.redis_port);
    RedisOptions options;
    options.store.cache_size = 0;  // every get goes to the server
    c.store = std::make_shared<RedisStore>("bench-redis", s.redis_host, s.redis_port, options);
    register_store(c.store, /*exist_ok=*/true);
    return c;
  }();
  return clients;
}

constexpr std::string_view raw_key = "bench:raw";
constexpr std::string_view floor_key = "bench:floor";

std::string name(const char* op, const char* element, std::size_t size, const char* variant) {
  return std::string("redis/") + op + "/" + element + "/" + size_label(size) + "/" + variant;
}

template <class T>
void register_for(std::size_t size) {
  const char* element = element_name<T>();

  // --- writes -----------------------------------------------------------
  add_timed(name("set", element, size, "hiredis"), [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    const std::string_view value(payload_data(object), payload_size(object));
    RedisClients& c = redis();
    for (auto _ : state) {
      timed(state, [&] { c.command({"SET", raw_key, value}); });
      c.command({"DEL", raw_key});  // every SET creates its key, as the store's do
    }
  });
  add_timed(name("set", element, size, "floor"), [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    RedisClients& c = redis();
    for (auto _ : state) {
      timed(state, [&] { c.floor->set(floor_key, payload_data(object), payload_size(object)); });
      c.floor->del(floor_key);
    }
  });
  add_store_set<T>(name("set", element, size, "store"), size, [] { return redis().store; });
  add_timed(name("proxy", element, size, "store"), [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    RedisStore& store = *redis().store;
    for (auto _ : state) {
      T copy = object;  // proxy() takes its object by value: the caller moves it in
      std::optional<Proxy<T>> proxy;
      timed(state, [&] { proxy.emplace(store.proxy(std::move(copy))); });
      store.evict(get_factory(*proxy).template target<StoreFactory<T>>()->key());
    }
  });

  // --- reads ------------------------------------------------------------
  add_timed(name("get", element, size, "hiredis"), [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    RedisClients& c = redis();
    c.command({"SET", raw_key, std::string_view(payload_data(object), payload_size(object))});
    for (auto _ : state) {
      ReplyPtr reply;
      timed(state, [&] { reply = c.command({"GET", raw_key}); });
      if (reply->type != REDIS_REPLY_STRING || reply->len != payload_size(object))
        state.SkipWithError("hiredis GET: wrong reply");
    }
    c.command({"DEL", raw_key});
  });
  add_timed(name("get", element, size, "floor"), [size](benchmark::State& state) {
    const T object = make_object<T>(size);
    RedisClients& c = redis();
    c.floor->set(floor_key, payload_data(object), payload_size(object));
    for (auto _ : state) {
      FloorBuffer buffer;
      timed(state, [&] { buffer = c.floor->get(floor_key); });
      if (buffer.size != payload_size(object))
        state.SkipWithError("floor GET: wrong size");
    }
    c.floor->del(floor_key);
  });
  add_store_get<T>(name("get", element, size, "store"), size, [] { return redis().store; });
  add_timed(name("resolve", element, size, "store"), [size](benchmark::State& state) {
    RedisStore& store = *redis().store;
    const Key key = store.set(make_object<T>(size));
    for (auto _ : state) {
      Proxy<T> proxy = store.proxy_from_key<T>(key);  // fresh: nothing resolved yet
      timed(state, [&] { benchmark::DoNotOptimize(proxy->size()); });
    }
    store.evict(key);
  });
  add_timed(name("resolve_wire", element, size, "store"), [size](benchmark::State& state) {
    RedisStore& store = *redis().store;
    const Key key = store.set(make_object<T>(size));
    const std::string wire = serialize(store.proxy_from_key<T>(key));
    for (auto _ : state) {
      std::optional<Proxy<T>> proxy;
      timed(state, [&] {
        proxy.emplace(deserialize<Proxy<T>>(wire));  // what a consumer receives
        benchmark::DoNotOptimize((*proxy)->size());
      });
    }
    store.evict(key);
  });
}

}  // namespace

void register_redis_benchmarks() {
  for (std::size_t size : object_sizes()) {
    register_for<std::vector<char>>(size);
    register_for<std::vector<double>>(size);
  }
}

void measure_proxy_sizes() {
  RedisStore& store = *redis().store;
  const Key key = store.set(make_object<std::vector<double>>(100));
  const std::string wire = serialize(store.proxy_from_key<std::vector<double>>(key));
  measurements().push_back({"proxy_size/redis", static_cast<double>(wire.size())});
  store.evict(key);
}

}  // namespace proxystore::bench
