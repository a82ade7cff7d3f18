// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/redis.hpp>

#include "detail/redis_chunks.hpp"
#include "detail/redis_credentials.hpp"
#include "detail/redis_node.hpp"
#include "detail/redis_values.hpp"

#include <fmt/format.h>

#include <limits>
#include <string>
#include <typeinfo>
#include <utility>

namespace proxystore {

using detail::RedisEndpoint;

struct RedisStore::Impl {
  Impl(std::string store_name, std::string host, int port_number, RedisOptions opts)
      : hostname(std::move(host)),
        port(port_number),
        options(std::move(opts)),
        node(RedisEndpoint{std::move(store_name), hostname, port, options.username,
                           std::exchange(options.password, std::string()), options.db,
                           options.connect_timeout, options.command_timeout},
             options.pool_size,
             detail::RedisValueLimits{options.chunk_size, options.store.max_object_size}) {}

  const std::string hostname;
  const int port;
  RedisOptions options;    // the password lives only in the node's endpoint
  detail::RedisNode node;  // everything done on the server (redis_node.hpp)

  std::string redis_key(const Key& key) const {
    std::string out;
    out.reserve(options.key_prefix.size() + key.id.size());
    out.append(options.key_prefix).append(key.id);
    return out;
  }

  /// Many values under their keys (`px`: their TTL in ms, or empty).
  void put_batch(const std::vector<std::pair<Key, std::string_view>>& items, std::string_view px) {
    std::vector<detail::PutItem> puts;
    puts.reserve(items.size());
    for (const auto& [key, bytes] : items)
      puts.push_back(detail::PutItem{redis_key(key), bytes});
    node.put_batch(puts, px);
  }
};

// --- RedisStore ---------------------------------------------------------------

RedisStore::RedisStore(std::string name, std::string hostname, int port, RedisOptions options)
    : Store(std::move(name), options.store) {
  auto invalid = [&](std::string_view what) {
    return Error(fmt::format("redis store \"{}\": invalid options: {}", this->name(), what));
  };
  if (hostname.empty())
    throw invalid("hostname is empty");
  if (port < 1 || port > 65535)
    throw invalid(fmt::format("port {} is not in [1, 65535]", port));
  if (options.db < 0)
    throw invalid(fmt::format("db {} is negative", options.db));
  detail::check_node_options(options, fmt::format("redis store \"{}\"", this->name()));
  impl_ = std::make_unique<Impl>(this->name(), std::move(hostname), port, std::move(options));
}

RedisStore::~RedisStore() = default;

const std::string& RedisStore::hostname() const noexcept {
  return impl_->hostname;
}

int RedisStore::port() const noexcept {
  return impl_->port;
}

StoreConfig RedisStore::config() const {
  StoreConfig config{"redis",
                     name(),
                     {{"hostname", impl_->hostname},
                      {"port", std::to_string(impl_->port)},
                      {"db", std::to_string(impl_->options.db)}}};
  detail::add_common_redis_options(impl_->options, config.options);
  return config;
}

std::shared_ptr<RedisStore> RedisStore::from_config(const StoreConfig& config) {
  auto hostname = config.options.find("hostname");
  if (hostname == config.options.end() || hostname->second.empty()) {
    throw Error(fmt::format("redis store \"{}\": config has no 'hostname' option", config.name));
  }
  const auto port =
      static_cast<int>(detail::integer_option(config, "port", 1, 65535, std::nullopt));
  RedisOptions options;
  options.db =
      static_cast<int>(detail::integer_option(config, "db", 0, std::numeric_limits<int>::max(), 0));
  detail::read_common_redis_options(config, options);
  detail::bind_redis_credentials(hostname->second, port, options.username, options.password);
  return std::make_shared<RedisStore>(config.name, hostname->second, port, std::move(options));
}

void RedisStore::do_put(const Key& key, std::string_view bytes) {
  impl_->node.put_one(impl_->redis_key(key), bytes, {}, {});
}

void RedisStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  // A class derived from RedisStore may decorate do_put (count, encrypt):
  // for it the value goes through do_put, joined first, as for any store.
  if (!is_plain_redis_store() ||
      !impl_->node.writes_direct(head.size() + body.size(), head, body)) {
    Store::do_put_parts(key, head, body);  // joined, then do_put (chunked if need be)
    return;
  }
  impl_->node.put_one(impl_->redis_key(key), head, body, {});
}

void RedisStore::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  impl_->put_batch(items, {});
}

// A class derived from RedisStore may decorate do_put / do_put_batch: for
// it the TTL writes go the general way (its write, then do_expire).

void RedisStore::do_put_with_ttl(const Key& key, std::string_view bytes,
                                 std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_with_ttl(key, bytes, ttl);
    return;
  }
  impl_->node.put_one(impl_->redis_key(key), bytes, {}, std::to_string(ttl.count()));
}

void RedisStore::do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                                       std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_parts_with_ttl(key, head, body, ttl);
    return;
  }
  impl_->node.put_one(impl_->redis_key(key), head, body, std::to_string(ttl.count()));
}

void RedisStore::do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                                       std::chrono::milliseconds ttl) {
  if (!is_plain_redis_store()) {
    Store::do_put_batch_with_ttl(items, ttl);
    return;
  }
  impl_->put_batch(items, std::to_string(ttl.count()));
}

std::vector<Key> RedisStore::do_new_keys(std::size_t count) {
  if (!is_plain_redis_store())
    return Store::do_new_keys(count);  // a derived class may mint its own keys
  return detail::random_ids(count, impl_->node.endpoint().subject());
}

bool RedisStore::is_plain_redis_store() const noexcept {
  return typeid(*this) == typeid(RedisStore);
}

std::optional<Bytes> RedisStore::do_get(const Key& key) {
  return impl_->node.get(impl_->redis_key(key));
}

bool RedisStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  if (!is_plain_redis_store())
    return Store::do_read(key, consume);  // a derived class's do_get stays authoritative
  return impl_->node.read(impl_->redis_key(key), consume);
}

std::vector<std::optional<Bytes>> RedisStore::do_get_batch(const std::vector<Key>& keys) {
  std::vector<std::string> redis_keys;
  redis_keys.reserve(keys.size());
  for (const Key& key : keys)
    redis_keys.push_back(impl_->redis_key(key));
  return impl_->node.get_batch(redis_keys);
}

bool RedisStore::do_exists(const Key& key) {
  return impl_->node.exists(impl_->redis_key(key));
}

void RedisStore::do_evict(const Key& key) {
  impl_->node.evict(impl_->redis_key(key));
}

void RedisStore::do_ping() {
  impl_->node.ping();
}

// --- lifetimes and futures ------------------------------------------------------

bool RedisStore::do_expire(const Key& key, std::chrono::milliseconds ttl) {
  impl_->node.expire(impl_->redis_key(key), ttl);
  return true;
}

void RedisStore::do_put_result(const Key& key, std::string_view bytes) {
  do_put_result_with_ttl(key, bytes, std::chrono::milliseconds(0));
}

void RedisStore::do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                        std::chrono::milliseconds ttl) {
  const std::string redis_key = impl_->redis_key(key);
  impl_->node.run([&](detail::RedisConnection& connection) {
    impl_->node.put_result(connection, redis_key, bytes, ttl);
  });
}

std::optional<Bytes> RedisStore::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  return impl_->node.wait_get(impl_->redis_key(key), timeout, [&] { return do_get(key); });
}

}  // namespace proxystore
