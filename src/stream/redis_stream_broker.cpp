// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker: one Redis Stream per topic, over the library's own
// Redis connection layer (RedisConnectionPool, RedisConnection, the one
// error mapping in redis_connection.cpp) — no second client.
//
// Entries: `d <event>` for an item, `end 1` for end-of-stream. Every reply
// is checked for shape before use: a server (or whoever wrote to the
// stream) may send anything; an entry that is neither becomes a message
// whose data the consumer refuses to decode (a SerializationError naming
// the topic and the id), never a crash.
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stream.hpp>

#include "detail/redis_connection.hpp"
#include "detail/redis_pool.hpp"
#include "detail/redis_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <thread>
#include <utility>

namespace proxystore {

using detail::RedisArgs;
using detail::RedisConnection;
using detail::RedisEndpoint;
using detail::RedisFailure;
using detail::RedisOperation;
using detail::RedisReplyPtr;
using detail::view_of;

namespace {

/// Bounds the bytes one pipelined XADD window carries, so a huge batch
/// never builds an unbounded output buffer (Redis caps a client's query
/// buffer at 1 GB); small batches fit one window, i.e. one round trip.
constexpr std::size_t window_bytes = std::size_t{64} << 20U;
/// How often a member re-checks a closed topic whose earlier items other
/// members still hold (they acknowledge, or we claim them).
constexpr std::chrono::milliseconds closed_poll{50};

constexpr std::string_view data_field = "d";
constexpr std::string_view end_field = "end";

/// One stream entry as read from a reply.
struct Entry {
  std::string id;
  bool end = false;
  std::string data;  // empty for an entry with no item field (refused by the decoder)
};

bool is_string(const redisReply* reply) {
  return reply != nullptr &&
         (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

}  // namespace

struct RedisStreamBroker::Impl {
  Impl(std::string host, int port_number, RedisOptions opts, RedisStreamOptions stream_opts)
      : hostname(std::move(host)),
        port(port_number),
        options(std::move(opts)),
        stream_options(stream_opts),
        pool(endpoint_for(std::chrono::milliseconds(0)), options.pool_size),
        blocking_pool(endpoint_for(stream_options.max_block + std::chrono::seconds(1)),
                      stream_options.blocking_pool_size) {
    options.password.clear();  // it lives only in the pools' endpoints
  }

  const std::string hostname;
  const int port;
  RedisOptions options;
  const RedisStreamOptions stream_options;
  detail::RedisConnectionPool pool;           // publish, ack, claim, checks
  detail::RedisConnectionPool blocking_pool;  // XREAD/XREADGROUP BLOCK: longer read timeout

  /// The endpoint; its read timeout grows by `extra` (a blocking read's
  /// wait), unless it is unbounded.
  RedisEndpoint endpoint_for(std::chrono::milliseconds extra) const {
    RedisEndpoint endpoint{"stream-broker",
                           hostname,
                           port,
                           options.username,
                           options.password,
                           options.db,
                           options.connect_timeout,
                           options.command_timeout};
    if (endpoint.command_timeout.count() > 0)
      endpoint.command_timeout += extra;
    return endpoint;
  }

  const RedisEndpoint& endpoint() const noexcept { return pool.endpoint(); }

  std::string key(const std::string& topic) const { return options.key_prefix + "stream:" + topic; }

  /// Runs `body` on a connection of `from`; once more on a fresh one when a
  /// connection that sat idle had been dropped by the server (a restart).
  template <class Body>
  auto run(detail::RedisConnectionPool& from, Body&& body)
      -> decltype(body(std::declval<RedisConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      detail::RedisConnectionPool::Lease lease = from.borrow();
      try {
        return body(*lease);
      } catch (const ConnectionError&) {
        if (attempt == 0 && lease.reused() && lease->failure() == RedisFailure::dropped)
          continue;
        throw;
      }
    }
  }

  [[noreturn]] void malformed(const RedisOperation& op, std::string_view what) const {
    throw StoreOperationError(fmt::format("{}: {} returned a malformed reply: {}",
                                          endpoint().subject(), op.describe(), what));
  }

  /// Reads one entry `[id, [field, value, ...]]` (fields nil: deleted).
  Entry parse_entry(const RedisOperation& op, const redisReply* entry) const {
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        !is_string(entry->element[0])) {
      malformed(op, "an entry is not [id, fields]");
    }
    Entry out;
    out.id.assign(view_of(*entry->element[0]));
    const redisReply* fields = entry->element[1];
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY)
      return out;  // deleted (trimmed) while pending, or not an array: refused later
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
      const redisReply* name = fields->element[i];
      const redisReply* value = fields->element[i + 1];
      if (!is_string(name) || !is_string(value))
        continue;
      if (view_of(*name) == data_field)
        out.data.assign(view_of(*value));
      else if (view_of(*name) == end_field)
        out.end = true;
    }
    return out;
  }

  /// Entries of an XREAD/XREADGROUP reply for our one stream (nil: none).
  std::vector<Entry> parse_read(const RedisOperation& op, const redisReply& reply) const {
    std::vector<Entry> entries;
    if (reply.type == REDIS_REPLY_NIL)
      return entries;
    if (reply.type != REDIS_REPLY_ARRAY)
      malformed(op, "not an array");
    for (std::size_t s = 0; s < reply.elements; ++s) {
      const redisReply* stream = reply.element[s];
      if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
          stream->element[1] == nullptr || stream->element[1]->type != REDIS_REPLY_ARRAY) {
        malformed(op, "a stream is not [key, entries]");
      }
      const redisReply* list = stream->element[1];
      entries.reserve(entries.size() + list->elements);
      for (std::size_t i = 0; i < list->elements; ++i)
        entries.push_back(parse_entry(op, list->element[i]));
    }
    return entries;
  }

  void xack(const std::string& stream, const std::string& group,
            const std::vector<std::string>& ids) {
    if (ids.empty())
      return;
    const RedisOperation op{"XACK", stream, ids.size()};
    run(pool, [&](RedisConnection& connection) {
      RedisArgs args(3 + ids.size());
      args.add("XACK").add(stream).add(group);
      for (const std::string& id : ids)
        args.add(id);
      connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
    });
  }

  void create_group(const std::string& stream, const std::string& group) {
    const RedisOperation op{"XGROUP CREATE", stream};
    run(pool, [&](RedisConnection& connection) {
      RedisArgs args(6);
      args.add("XGROUP").add("CREATE").add(stream).add(group).add("0").add("MKSTREAM");
      RedisReplyPtr reply = connection.command(op, args);
      if (reply->type == REDIS_REPLY_ERROR && view_of(*reply).substr(0, 9) == "BUSYGROUP")
        return;  // it exists: keep its position
      connection.check(op, std::move(reply), REDIS_REPLY_STATUS);
    });
  }

  /// XREAD / XREADGROUP (group empty: XREAD) on a blocking connection.
  std::vector<Entry> read(BrokerCursor& cursor, const std::string& stream, std::size_t max,
                          std::chrono::milliseconds wait) {
    const bool group = !cursor.group.empty();
    const RedisOperation op{group ? "XREADGROUP" : "XREAD", stream, max};
    const std::string count = std::to_string(std::max<std::size_t>(1, max));
    const auto block = std::min(wait, stream_options.max_block);
    for (int attempt = 0;; ++attempt) {
      RedisReplyPtr reply = run(blocking_pool, [&](RedisConnection& connection) {
        RedisArgs args(12);
        if (group)
          args.add("XREADGROUP").add("GROUP").add(cursor.group).add(cursor.consumer);
        else
          args.add("XREAD");
        args.add("COUNT").add(count);
        if (block.count() > 0)
          args.add("BLOCK").add_owned(std::to_string(block.count()));
        args.add("STREAMS").add(stream).add(group ? std::string_view(">")
                                                  : std::string_view(cursor.position));
        return connection.command(op, args);
      });
      if (group && attempt == 0 && reply->type == REDIS_REPLY_ERROR &&
          view_of(*reply).substr(0, 7) == "NOGROUP") {
        // The server lost the group (restarted without its data): make it
        // again, from what the stream still holds.
        create_group(stream, cursor.group);
        continue;
      }
      if (reply->type == REDIS_REPLY_ERROR)
        detail::throw_reply_error(endpoint(), op, *reply);
      return parse_read(op, *reply);
    }
  }

  /// Whether the newest entry of the stream is end-of-stream.
  bool ends(const std::string& stream) {
    const RedisOperation op{"XREVRANGE", stream};
    RedisReplyPtr reply = run(pool, [&](RedisConnection& connection) {
      RedisArgs args(6);
      args.add("XREVRANGE").add(stream).add("+").add("-").add("COUNT").add("1");
      return connection.check(op, connection.command(op, args), REDIS_REPLY_ARRAY);
    });
    return reply->elements > 0 && parse_entry(op, reply->element[0]).end;
  }

  /// Deliveries of `group` not yet acknowledged (XPENDING summary).
  long long pending(const std::string& stream, const std::string& group) {
    const RedisOperation op{"XPENDING", stream};
    RedisReplyPtr reply = run(pool, [&](RedisConnection& connection) {
      RedisArgs args(3);
      args.add("XPENDING").add(stream).add(group);
      return connection.check(op, connection.command(op, args), REDIS_REPLY_ARRAY);
    });
    if (reply->elements < 1 || reply->element[0]->type != REDIS_REPLY_INTEGER)
      malformed(op, "no pending count");
    return reply->element[0]->integer;
  }

  /// Item entries become messages; an end entry marks the cursor closed
  /// (a group acknowledges it at once: it is nobody's work).
  std::vector<BrokerMessage> take(BrokerCursor& cursor, const std::string& stream,
                                  std::vector<Entry> entries, bool& end_seen) {
    std::vector<BrokerMessage> messages;
    std::vector<std::string> end_ids;
    for (Entry& entry : entries) {
      if (entry.end) {
        end_seen = true;
        cursor.closed = true;
        end_ids.push_back(std::move(entry.id));
        if (cursor.group.empty())
          break;  // fan-out: the position stays before it; it ends the next call
        continue;
      }
      if (cursor.group.empty())
        cursor.position = entry.id;
      messages.push_back(BrokerMessage{std::move(entry.id), std::move(entry.data)});
    }
    if (!cursor.group.empty())
      xack(stream, cursor.group, end_ids);
    return messages;
  }
};

// --- RedisStreamBroker -------------------------------------------------------

RedisStreamBroker::RedisStreamBroker(std::string hostname, int port, RedisOptions options,
                                     RedisStreamOptions stream_options) {
  auto invalid = [&](std::string_view what) {
    return Error(fmt::format("redis stream broker at {}:{}: invalid options: {}",
                             detail::printable(hostname), port, what));
  };
  if (hostname.empty())
    throw invalid("hostname is empty");
  if (port < 1 || port > 65535)
    throw invalid(fmt::format("port {} is not in [1, 65535]", port));
  if (options.db < 0)
    throw invalid(fmt::format("db {} is negative", options.db));
  if (options.connect_timeout.count() < 0 || options.command_timeout.count() < 0)
    throw invalid("timeouts must not be negative");
  if (options.pool_size == 0 || stream_options.blocking_pool_size == 0)
    throw invalid("pool sizes must be at least 1");
  if (stream_options.max_block.count() < 1)
    throw invalid("max_block must be at least 1 ms");
  impl_ = std::make_unique<Impl>(std::move(hostname), port, std::move(options), stream_options);
}

RedisStreamBroker::~RedisStreamBroker() = default;

std::string RedisStreamBroker::stream_key(const std::string& topic) const {
  return impl_->key(topic);
}

void RedisStreamBroker::remove_topic(const std::string& topic) {
  const std::string stream = impl_->key(topic);
  const RedisOperation op{"UNLINK", stream};
  impl_->run(impl_->pool, [&](RedisConnection& connection) {
    RedisArgs args(2);
    args.add("UNLINK").add(stream);
    connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
  });
}

void RedisStreamBroker::publish(const std::string& topic,
                                const std::vector<std::string>& messages) {
  if (messages.empty())
    return;
  const std::string stream = impl_->key(topic);
  const std::string max_length = std::to_string(impl_->stream_options.max_length);
  const bool trim = impl_->stream_options.max_length > 0;
  const RedisOperation op{"XADD", stream, messages.size()};
  impl_->run(impl_->pool, [&](RedisConnection& connection) {
    std::size_t queued = 0;
    std::size_t bytes = 0;
    auto drain = [&] {
      std::vector<RedisReplyPtr> replies = connection.replies(op, queued);
      for (RedisReplyPtr& reply : replies)
        connection.check(op, std::move(reply), REDIS_REPLY_STRING);
      queued = 0;
      bytes = 0;
    };
    for (const std::string& message : messages) {
      RedisArgs args(8);
      args.add("XADD").add(stream);
      if (trim)
        args.add("MAXLEN").add("~").add(max_length);
      args.add("*").add(data_field).add(message);
      connection.append(op, args);
      ++queued;
      bytes += message.size();
      if (bytes >= window_bytes)
        drain();
    }
    if (queued > 0)
      drain();
  });
}

void RedisStreamBroker::close(const std::string& topic) {
  const std::string stream = impl_->key(topic);
  const std::string max_length = std::to_string(impl_->stream_options.max_length);
  const RedisOperation op{"XADD", stream};
  impl_->run(impl_->pool, [&](RedisConnection& connection) {
    RedisArgs args(8);
    args.add("XADD").add(stream);
    if (impl_->stream_options.max_length > 0)
      args.add("MAXLEN").add("~").add(max_length);
    args.add("*").add(end_field).add("1");
    connection.check(op, connection.command(op, args), REDIS_REPLY_STRING);
  });
}

void RedisStreamBroker::subscribe(BrokerCursor& cursor) {
  if (cursor.group.empty()) {
    if (cursor.position.empty())
      cursor.position = "0";  // the oldest retained entry
    return;
  }
  impl_->create_group(impl_->key(cursor.topic), cursor.group);
}

BrokerBatch RedisStreamBroker::receive(BrokerCursor& cursor, std::size_t max,
                                       std::chrono::milliseconds wait) {
  const std::string stream = impl_->key(cursor.topic);
  BrokerBatch batch;
  bool end_seen = false;
  if (cursor.group.empty()) {
    if (cursor.closed) {
      batch.end = true;
      return batch;
    }
    batch.messages = impl_->take(cursor, stream, impl_->read(cursor, stream, max, wait), end_seen);
    batch.end = batch.messages.empty() && end_seen;
    return batch;
  }
  // A group: items first; end-of-stream once the stream ends and nothing
  // is left undelivered or unacknowledged in the group.
  const auto block = cursor.closed ? std::chrono::milliseconds(0) : wait;
  batch.messages = impl_->take(cursor, stream, impl_->read(cursor, stream, max, block), end_seen);
  if (!batch.messages.empty())
    return batch;
  if (!cursor.closed && !impl_->ends(stream))
    return batch;
  cursor.closed = true;
  if (!end_seen) {
    // Everything was delivered (the read found nothing new); is it all
    // acknowledged?
    if (impl_->pending(stream, cursor.group) == 0) {
      batch.end = true;
      return batch;
    }
    std::this_thread::sleep_for(std::min(wait, closed_poll));
  }
  return batch;
}

BrokerBatch RedisStreamBroker::claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                                     std::size_t max) {
  BrokerBatch batch;
  if (cursor.group.empty())
    return batch;
  const std::string stream = impl_->key(cursor.topic);
  const RedisOperation op{"XAUTOCLAIM", stream, max};
  RedisReplyPtr reply = impl_->run(impl_->pool, [&](RedisConnection& connection) {
    RedisArgs args(8);
    args.add("XAUTOCLAIM").add(stream).add(cursor.group).add(cursor.consumer);
    args.add_owned(std::to_string(min_idle.count())).add("0-0").add("COUNT");
    args.add_owned(std::to_string(std::max<std::size_t>(1, max)));
    return connection.check(op, connection.command(op, args), REDIS_REPLY_ARRAY);
  });
  if (reply->elements < 2 || reply->element[1] == nullptr ||
      reply->element[1]->type != REDIS_REPLY_ARRAY) {
    impl_->malformed(op, "not [next, entries, ...]");
  }
  std::vector<Entry> entries;
  const redisReply* list = reply->element[1];
  for (std::size_t i = 0; i < list->elements; ++i) {
    if (list->element[i] == nullptr || list->element[i]->type == REDIS_REPLY_NIL)
      continue;  // Redis 6.2: an entry deleted while pending
    entries.push_back(impl_->parse_entry(op, list->element[i]));
  }
  bool end_seen = false;
  batch.messages = impl_->take(cursor, stream, std::move(entries), end_seen);
  return batch;
}

void RedisStreamBroker::ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) {
  if (cursor.group.empty())
    return;
  impl_->xack(impl_->key(cursor.topic), cursor.group, ids);
}

}  // namespace proxystore
