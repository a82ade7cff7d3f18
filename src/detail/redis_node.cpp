// SPDX-License-Identifier: Apache-2.0
#include "detail/redis_node.hpp"

#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>

#include "detail/redis_values.hpp"

#include <proxystore/serialize.hpp>

#include <fmt/format.h>

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <system_error>
#include <thread>

namespace proxystore::detail {

// --- free functions ------------------------------------------------------------

void check_node_options(const RedisOptions& options, std::string_view subject) {
  auto invalid = [&](std::string_view what) {
    return Error(fmt::format("{}: invalid options: {}", subject, what));
  };
  if (options.connect_timeout.count() < 0 || options.command_timeout.count() < 0)
    throw invalid("timeouts must not be negative");
  if (options.pool_size == 0)
    throw invalid("pool_size must be at least 1");
  if (!valid_chunk_size(options.chunk_size)) {
    throw invalid(fmt::format("chunk_size {} is not in [{}, {}]", options.chunk_size,
                              RedisOptions::min_chunk_size, RedisOptions::max_chunk_size));
  }
}

std::vector<Key> random_ids(std::size_t count, std::string_view subject) {
  constexpr std::size_t key_bytes = 16;
  std::vector<unsigned char> bits(count * key_bytes);
  for (std::size_t filled = 0; filled < bits.size();) {
    const ssize_t n = ::getrandom(bits.data() + filled, bits.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw Error(fmt::format("{}: random keys: getrandom failed: {}", subject,
                              std::error_code(errno, std::generic_category()).message()));
    }
    filled += static_cast<std::size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::vector<Key> keys(count);
  for (std::size_t k = 0; k < count; ++k) {
    std::string& id = keys[k].id;
    id.resize(2 * key_bytes);
    for (std::size_t i = 0; i < key_bytes; ++i) {
      const unsigned char byte = bits[k * key_bytes + i];
      id[2 * i] = hex[byte >> 4U];
      id[2 * i + 1] = hex[byte & 0x0fU];
    }
  }
  return keys;
}

bool writes_direct(std::size_t size, std::string_view head, std::string_view body,
                   std::size_t chunk_size) {
  return size >= direct_write_bytes && size <= chunk_size && !looks_like_manifest(head, body);
}

void send_set_direct(RedisConnection& connection, const RedisOperation& op, const std::string& key,
                     std::string_view head, std::string_view body, std::string_view px) {
  if (px.empty())
    connection.send_direct(op, {"SET", key}, {head, body});
  else
    connection.send_direct(op, {"SET", key}, {head, body}, {"PX", px});
}

RedisFound start_direct_get(RedisConnection& connection, const std::string& key,
                            const RedisOperation& op, std::size_t max_object_size) {
  RedisFound found;
  connection.send_direct(op, {"GET", key});
  const std::optional<std::size_t> size = connection.read_bulk_header(op);
  if (!size)
    return found;
  if (*size > max_object_size) {
    // Refused on the length alone: the payload is still on the socket.
    connection.discard();
    throw SerializationError(
        fmt::format("{}: GET \"{}\": value of {} bytes exceeds the maximum object size of {} bytes",
                    connection.endpoint().subject(), printable(key), *size, max_object_size));
  }
  if (*size > chunk_manifest_max_size) {
    found.kind = RedisFound::Kind::pending;
    found.size = *size;
    return found;
  }
  std::string small(*size, '\0');
  connection.read_bulk(op, small.data(), small.size());
  connection.finish_bulk(op);
  found.kind = RedisFound::Kind::bytes;
  found.bytes.emplace(std::move(small));
  return found;
}

Bytes receive_value(RedisConnection& connection, const RedisOperation& op, std::size_t size) {
  // Received straight into the buffer that becomes the Bytes (no staging
  // in hiredis's reader, no copy into a reply), grown as the payload
  // arrives: its length is the server's claim, not yet backed by bytes.
  BulkReader reader(connection, op, size);
  std::string buffer;
  try {
    read_growing(reader, buffer, size);
  } catch (...) {
    connection.discard();  // the rest of the reply is still on the socket
    throw;
  }
  connection.finish_bulk(op);
  return {std::move(buffer)};
}

void lend_value(RedisConnection& connection, const RedisOperation& op, std::size_t size,
                const std::function<void(ValueReader&)>& consume) {
  // The consumer reads the payload where it wants it (Store::get: into
  // the object's own memory).
  BulkReader reader(connection, op, size);
  try {
    consume(reader);
  } catch (...) {
    if (!reader.finished())
      connection.discard();  // the rest of the reply is still on the socket
    throw;
  }
  if (!reader.finished()) {
    connection.discard();
    return;
  }
  connection.finish_bulk(op);
}

void read_chunks_directly(RedisConnection& connection, std::vector<ChunkRead>& chunks,
                          const std::vector<std::size_t>& which) {
  // A chunk of another size than its manifest says (chunk, size): the
  // same answer anywhere, so it is reported here.
  std::optional<std::pair<std::size_t, std::size_t>> mismatch;
  try {
    for (const std::size_t c : which) {
      ChunkRead& chunk = chunks[c];
      const RedisOperation op{"GET", chunk.key};
      if (!connection.quiescent())
        return;
      connection.send_direct(op, {"GET", chunk.key});
      const std::optional<std::size_t> size = connection.read_bulk_header(op);
      if (!size) {
        chunk.state = ChunkRead::State::absent;
        continue;
      }
      if (*size != chunk.size) {
        connection.discard();  // the payload is still on the socket
        mismatch = {c, *size};
        break;
      }
      connection.read_bulk(op, chunk.into, chunk.size);
      connection.finish_bulk(op);
      chunk.state = ChunkRead::State::read;
    }
  } catch (const TimeoutError&) {
    throw;
  } catch (const Error&) {  // NOLINT(bugprone-empty-catch): left pending for the general path
  }
  if (mismatch) {
    const ChunkRead& chunk = chunks[mismatch->first];
    throw StoreOperationError(fmt::format(
        "{}: GET \"{}\" failed: the chunk has {} bytes, its manifest says {}",
        connection.endpoint().subject(), printable(chunk.key), mismatch->second, chunk.size));
  }
}

void take_chunk_reply(const RedisEndpoint& endpoint, const RedisOperation& op,
                      const redisReply& reply, ChunkRead& chunk) {
  if (reply.type == REDIS_REPLY_NIL) {
    chunk.state = ChunkRead::State::absent;
  } else if (reply.type == REDIS_REPLY_STRING && reply.len == chunk.size) {
    if (chunk.size != 0)
      std::memcpy(chunk.into, reply.str, chunk.size);
    chunk.state = ChunkRead::State::read;
  } else {
    std::rethrow_exception(chunk_reply_error(endpoint, op, reply, chunk.key, chunk.size));
  }
}

void ping(RedisConnection& connection) {
  const RedisOperation op{"PING"};
  RedisArgs args(1);
  args.add("PING");
  connection.check(op, connection.command(op, args), REDIS_REPLY_STATUS);
}

void pause_after_lost_token() {
  // The value expired or was evicted just before its token: wait a
  // little (the token goes with it) rather than spin on the token.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// --- RedisNode: steps on a borrowed connection -----------------------------------

void RedisNode::check_all(RedisConnection& connection, const RedisOperation& op,
                          std::vector<RedisReplyPtr> replies, int expected,
                          std::exception_ptr& first) {
  for (RedisReplyPtr& reply : replies) {
    if (first)
      return;
    try {
      connection.check(op, std::move(reply), expected);
    } catch (...) {
      first = std::current_exception();
    }
  }
}

bool RedisNode::chunked(std::string_view value) const {
  return value.size() > limits_.chunk_size || is_chunk_manifest(value);
}

void RedisNode::put(RedisConnection& connection, const std::vector<PutItem>& items,
                    std::string_view px) {
  std::vector<DirectItem> direct;
  direct.reserve(items.size());
  std::deque<std::string> manifests;  // stable addresses: `direct` views them
  std::vector<std::string> written_chunks;
  for (const PutItem& item : items) {
    if (!chunked(item.value)) {
      direct.push_back(DirectItem{item.key, item.value});
      continue;
    }
    const ChunkManifest manifest = make_chunk_manifest(item.value.size(), limits_.chunk_size);
    manifests.push_back(encode_chunk_manifest(manifest));
    direct.push_back(DirectItem{item.key, manifests.back()});
  }
  if (!manifests.empty())
    write_chunks(connection, items, written_chunks, px);
  try {
    write_direct(connection, direct, px);
  } catch (const StoreOperationError&) {
    remove_quietly(connection, written_chunks);
    throw;
  }
}

void RedisNode::write_chunks(RedisConnection& connection, const std::vector<PutItem>& items,
                             std::vector<std::string>& written, std::string_view px) {
  const bool single = items.size() == 1;
  const RedisOperation op{single ? "SET chunks of" : "SET chunks",
                          single ? std::string_view(items.front().key) : std::string_view(),
                          items.size()};
  std::size_t window = 0;
  std::size_t queued = 0;
  std::exception_ptr error;
  auto drain = [&] {
    check_all(connection, op, connection.replies(op, queued), REDIS_REPLY_STATUS, error);
    queued = 0;
    window = 0;
  };
  for (const PutItem& item : items) {
    if (!chunked(item.value))
      continue;
    const ChunkManifest manifest = make_chunk_manifest(item.value.size(), limits_.chunk_size);
    for (std::uint64_t i = 0; i < manifest.count && !error; ++i) {
      const std::string_view chunk =
          item.value.substr(static_cast<std::size_t>(i * manifest.chunk_size),
                            static_cast<std::size_t>(manifest.size_of(i)));
      written.push_back(chunk_key(item.key, i));
      RedisArgs args(5);
      args.add("SET").add(written.back()).add(chunk);
      if (!px.empty())
        args.add("PX").add(px);
      connection.append(op, args);
      ++queued;
      window += chunk.size();
      if (window >= window_bytes)
        drain();
    }
  }
  drain();
  if (error) {
    remove_quietly(connection, written);
    std::rethrow_exception(error);
  }
}

void RedisNode::write_direct(RedisConnection& connection, const std::vector<DirectItem>& items,
                             std::string_view px) {
  if (items.empty())
    return;
  const bool single = items.size() == 1;
  const RedisOperation op{single ? "SET" : (px.empty() ? "MSET" : "SET batch"),
                          single ? std::string_view(items.front().key) : std::string_view(),
                          single ? 0 : items.size()};
  std::size_t commands = 0;
  for (std::size_t begin = 0; !px.empty() && begin < items.size(); ++begin) {
    RedisArgs args(5);
    args.add("SET").add(items[begin].key).add(items[begin].value).add("PX").add(px);
    connection.append(op, args);
    ++commands;
  }
  for (std::size_t begin = 0; px.empty() && begin < items.size();) {
    std::size_t end = begin;
    std::size_t bytes = 0;
    while (end < items.size() &&
           (end == begin || bytes + items[end].value.size() <= window_bytes)) {
      bytes += items[end].value.size();
      ++end;
    }
    RedisArgs args(1 + 2 * (end - begin));
    args.add(end - begin == 1 ? "SET" : "MSET");
    for (std::size_t i = begin; i < end; ++i)
      args.add(items[i].key).add(items[i].value);
    connection.append(op, args);
    ++commands;
    begin = end;
  }
  std::exception_ptr error;
  check_all(connection, op, connection.replies(op, commands), REDIS_REPLY_STATUS, error);
  if (error)
    std::rethrow_exception(error);
}

void RedisNode::remove_quietly(RedisConnection& connection,
                               const std::vector<std::string>& keys) noexcept {
  try {
    unlink(connection, keys);
  } catch (...) {  // NOLINT(bugprone-empty-catch): the original error is what matters
  }
}

void RedisNode::unlink(RedisConnection& connection, const std::vector<std::string>& keys) {
  if (keys.empty())
    return;
  const RedisOperation op{"UNLINK",
                          keys.size() == 1 ? std::string_view(keys.front()) : std::string_view(),
                          keys.size()};
  std::size_t commands = 0;
  for (std::size_t begin = 0; begin < keys.size(); begin += keys_per_unlink) {
    const std::size_t end = std::min(keys.size(), begin + keys_per_unlink);
    RedisArgs args(1 + end - begin);
    args.add("UNLINK");
    for (std::size_t i = begin; i < end; ++i)
      args.add(keys[i]);
    connection.append(op, args);
    ++commands;
  }
  std::exception_ptr error;
  check_all(connection, op, connection.replies(op, commands), REDIS_REPLY_INTEGER, error);
  if (error)
    std::rethrow_exception(error);
}

void RedisNode::put_one(const std::string& key, std::string_view head, std::string_view body,
                        std::string_view px) {
  if (writes_direct(head.size() + body.size(), head, body)) {
    run([&](RedisConnection& connection) { set_direct(connection, key, head, body, px); });
    return;
  }
  std::string joined;
  std::string_view value = head;
  if (!body.empty()) {
    joined.reserve(head.size() + body.size());
    joined.append(head).append(body);
    value = joined;
  }
  const std::vector<PutItem> items{PutItem{key, value}};
  run([&](RedisConnection& connection) { put(connection, items, px); });
}

long long RedisNode::lease_ttl(RedisConnection& connection, const std::string& lease) {
  const RedisOperation op{"PTTL", lease};
  RedisArgs args(2);
  args.add("PTTL").add(lease);
  return connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER)->integer;
}

void RedisNode::put_result(RedisConnection& connection, const std::string& key,
                           std::string_view bytes, std::chrono::milliseconds ttl) {
  const std::string ready = ready_key(key);
  const std::string lease = lease_key(key);
  long long millis = std::max<long long>(ttl.count(), 0);
  if (writes_direct(bytes.size(), bytes, {})) {
    // A large value is not copied into a script: SET ... PX from its own
    // memory, then the token with the same TTL in a one-key script. A
    // writer killed between the two leaves the value, expiring with its
    // lease (without one, a waiter's last look at its timeout finds it).
    if (millis == 0)
      millis = std::max(lease_ttl(connection, lease), 0LL);
    const std::string px = millis > 0 ? std::to_string(millis) : std::string();
    set_direct(connection, key, bytes, {}, px);
    const std::string ttl_arg = std::to_string(millis);
    const RedisOperation op{"EVAL wake-up token", ready};
    RedisArgs args(5);
    args.add("EVAL").add(token_script).add("1").add(ready).add(ttl_arg);
    connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
    return;
  }
  std::string_view value = bytes;
  std::string manifest;
  std::vector<std::string> written_chunks;
  if (chunked(bytes)) {
    if (millis == 0)
      millis = std::max(lease_ttl(connection, lease), 0LL);
    manifest = encode_chunk_manifest(make_chunk_manifest(bytes.size(), limits_.chunk_size));
    const std::string px = millis > 0 ? std::to_string(millis) : std::string();
    write_chunks(connection, {PutItem{key, bytes}}, written_chunks, px);
    value = manifest;
  }
  const std::string ttl_arg = std::to_string(millis);
  const RedisOperation op{"EVAL set_result", key};
  RedisArgs args = eval_on_key(put_result_script, key, ready, lease, {value, ttl_arg});
  try {
    connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER);
  } catch (const StoreOperationError&) {
    remove_quietly(connection, written_chunks);
    throw;
  }
}

RedisNode::Found RedisNode::start_get(RedisConnection& connection, const std::string& key,
                                      const RedisOperation& op) {
  if (!connection.quiescent()) {  // never for a pooled connection; keep hiredis's path anyway
    Found found;
    RedisArgs args(2);
    args.add("GET").add(key);
    RedisReplyPtr reply =
        connection.check(op, connection.command(op, args), REDIS_REPLY_STRING, /*nil_ok=*/true);
    if (reply->type == REDIS_REPLY_NIL)
      return found;
    found.kind = Found::Kind::bytes;
    const char* data = reply->str;
    const std::size_t size = reply->len;
    found.bytes.emplace(data, size, share(std::move(reply)));
    return gather_if_manifest(connection, key, std::move(found));
  }
  Found found = start_direct_get(connection, key, op, limits_.max_object_size);
  if (found.kind != Found::Kind::bytes)
    return found;
  return gather_if_manifest(connection, key, std::move(found));
}

void RedisNode::set_direct(RedisConnection& connection, const std::string& key,
                           std::string_view head, std::string_view body, std::string_view px) {
  const RedisOperation op{"SET", key};
  send_set_direct(connection, op, key, head, body, px);
  connection.check(op, connection.reply(op), REDIS_REPLY_STATUS);
}

RedisNode::Found RedisNode::gather_if_manifest(RedisConnection& connection, const std::string& key,
                                               Found found) {
  if (!is_chunk_manifest(found.bytes->view()))
    return found;
  std::vector<std::pair<std::string, ChunkManifest>> values;
  values.emplace_back(key, parse_manifest(key, found.bytes->view()));
  found.bytes = std::move(read_chunks(connection, values).front());
  if (!found.bytes)
    found.kind = Found::Kind::absent;
  return found;
}

ChunkManifest RedisNode::parse_manifest(const std::string& key, std::string_view value) const {
  return checked_manifest(endpoint().subject(), key, value, limits_.max_object_size);
}

void RedisNode::fetch_chunks(RedisConnection& connection, const RedisOperation& op,
                             std::vector<ChunkRead>& chunks) {
  std::vector<std::size_t> large;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (chunks[c].state == ChunkRead::State::pending && chunks[c].size >= direct_write_bytes)
      large.push_back(c);
  }
  if (!large.empty() && connection.quiescent())
    read_chunks_directly(connection, chunks, large);
  std::vector<std::size_t> rest;
  for (std::size_t c = 0; c < chunks.size(); ++c) {
    if (chunks[c].state != ChunkRead::State::pending)
      continue;
    RedisArgs args(2);
    args.add("GET").add(chunks[c].key);
    connection.append(op, args);
    rest.push_back(c);
  }
  if (rest.empty())
    return;
  // Every reply is read before any is judged: the connection stays in step.
  std::vector<RedisReplyPtr> replies = connection.replies(op, rest.size());
  for (std::size_t r = 0; r < rest.size(); ++r)
    take_chunk_reply(endpoint(), op, *replies[r], chunks[rest[r]]);
}

std::vector<std::optional<Bytes>> RedisNode::read_chunks(
    RedisConnection& connection, const std::vector<std::pair<std::string, ChunkManifest>>& values) {
  const bool single = values.size() == 1;
  const RedisOperation op{single ? "GET chunks of" : "GET chunks",
                          single ? std::string_view(values.front().first) : std::string_view(),
                          values.size()};
  std::vector<std::optional<Bytes>> out(values.size());
  for (std::size_t v = 0; v < values.size(); ++v) {
    const std::string& key = values[v].first;
    ChunkAssembler chunks(values[v].second, window_bytes);
    for (;;) {
      const auto [first, end] = chunks.next_batch();
      if (first == end)
        break;
      std::vector<ChunkRead> batch;
      batch.reserve(static_cast<std::size_t>(end - first));
      for (std::uint64_t i = first; i < end; ++i)
        batch.push_back(ChunkRead{i, chunk_key(key, i), chunks.slot(i), chunks.size_of(i)});
      fetch_chunks(connection, op, batch);
      for (const ChunkRead& chunk : batch) {
        if (chunk.state == ChunkRead::State::absent)
          chunks.mark_missing();
      }
    }
    out[v] = chunks.take();
  }
  return out;
}

// --- RedisNode: whole operations ---------------------------------------------------

std::optional<Bytes> RedisNode::get(const std::string& redis_key) {
  return run([&](RedisConnection& connection) -> std::optional<Bytes> {
    const RedisOperation op{"GET", redis_key};
    Found found = start_get(connection, redis_key, op);
    if (found.kind != Found::Kind::pending)
      return std::move(found.bytes);
    return receive_value(connection, op, found.size);
  });
}

bool RedisNode::read(const std::string& redis_key,
                     const std::function<void(ValueReader&)>& consume) {
  return run([&](RedisConnection& connection) {
    const RedisOperation op{"GET", redis_key};
    // (A connection that is not quiescent — never a pooled one — goes
    // start_get's general way: chunks assembled.)
    Found found = connection.quiescent()
                      ? start_direct_get(connection, redis_key, op, limits_.max_object_size)
                      : start_get(connection, redis_key, op);
    if (found.kind == Found::Kind::absent)
      return false;
    if (found.kind == Found::Kind::bytes && is_chunk_manifest(found.bytes->view())) {
      // The chunks land straight in the object (ChunkValueReader).
      const RedisOperation chunks_op{"GET chunks of", redis_key};
      return consume_chunked(
          parse_manifest(redis_key, found.bytes->view()), redis_key, window_bytes,
          [&](std::vector<ChunkRead>& chunks) { fetch_chunks(connection, chunks_op, chunks); },
          consume);
    }
    if (found.kind == Found::Kind::bytes) {
      BytesReader reader(found.bytes->view());
      consume(reader);
      return true;
    }
    lend_value(connection, op, found.size, consume);
    return true;
  });
}

std::vector<std::optional<Bytes>> RedisNode::get_batch(const std::vector<std::string>& redis_keys) {
  if (redis_keys.empty())
    return {};
  return run([&](RedisConnection& connection) {
    const RedisOperation op{
        "MGET", redis_keys.size() == 1 ? std::string_view(redis_keys.front()) : std::string_view(),
        redis_keys.size()};
    RedisArgs args(1 + redis_keys.size());
    args.add("MGET");
    for (const std::string& key : redis_keys)
      args.add(key);
    RedisReplyPtr reply = connection.check(op, connection.command(op, args), REDIS_REPLY_ARRAY);
    if (reply->elements != redis_keys.size()) {
      throw StoreOperationError(fmt::format("{}: {} failed: {} values in the reply",
                                            endpoint().subject(), op.describe(), reply->elements));
    }
    std::vector<std::optional<Bytes>> values(redis_keys.size());
    std::vector<std::pair<std::string, ChunkManifest>> chunked;
    std::vector<std::size_t> chunked_at;
    // Every value views the one MGET reply, shared by all of them.
    const redisReply* const array = reply.get();
    std::shared_ptr<const void> owner = share(std::move(reply));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const redisReply& element = *array->element[i];
      if (element.type == REDIS_REPLY_NIL)
        continue;
      if (element.type != REDIS_REPLY_STRING) {
        throw StoreOperationError(
            fmt::format("{}: MGET \"{}\" failed: the key holds a non-string value",
                        endpoint().subject(), redis_keys[i]));
      }
      if (is_chunk_manifest(view_of(element))) {
        chunked.emplace_back(redis_keys[i], parse_manifest(redis_keys[i], view_of(element)));
        chunked_at.push_back(i);
        continue;
      }
      values[i].emplace(element.str, element.len, owner);
    }
    if (!chunked.empty()) {
      std::vector<std::optional<Bytes>> assembled = read_chunks(connection, chunked);
      for (std::size_t j = 0; j < chunked.size(); ++j)
        values[chunked_at[j]] = std::move(assembled[j]);
    }
    return values;
  });
}

bool RedisNode::exists(const std::string& redis_key) {
  return run([&](RedisConnection& connection) {
    const RedisOperation op{"EXISTS", redis_key};
    RedisArgs args(2);
    args.add("EXISTS").add(redis_key);
    return connection.check(op, connection.command(op, args), REDIS_REPLY_INTEGER)->integer > 0;
  });
}

std::optional<ChunkManifest> RedisNode::command_and_head(RedisConnection& connection,
                                                         const std::string& redis_key,
                                                         RedisArgs& command,
                                                         const RedisOperation& op) {
  const RedisOperation head_op{"GETRANGE", redis_key};
  RedisArgs head(4);
  head.add("GETRANGE")
      .add(redis_key)
      .add("0")
      .add_owned(std::to_string(chunk_manifest_max_size - 1));
  connection.append(head_op, head);
  connection.append(op, command);
  std::vector<RedisReplyPtr> replies = connection.replies(op, 2);
  connection.check(op, std::move(replies[1]), REDIS_REPLY_INTEGER);
  RedisReplyPtr prefix = std::move(replies[0]);
  if (prefix->type == REDIS_REPLY_ERROR && std::strncmp(prefix->str, "WRONGTYPE", 9) == 0)
    return std::nullopt;  // not a value of ours; the key itself was handled
  prefix = connection.check(head_op, std::move(prefix), REDIS_REPLY_STRING);
  if (!is_chunk_manifest(view_of(*prefix)))
    return std::nullopt;
  return decode_chunk_manifest(view_of(*prefix));  // nullopt: not ours to interpret
}

void RedisNode::evict(const std::string& redis_key) {
  run([&](RedisConnection& connection) {
    // One round trip reads the head of the value (enough to recognise a
    // manifest, never the whole value) and unlinks the key; a chunked
    // value then loses its chunks in a second one.
    RedisArgs unlink(4);
    unlink.add("UNLINK")
        .add(redis_key)
        .add_owned(ready_key(redis_key))
        .add_owned(lease_key(redis_key));
    const std::optional<ChunkManifest> manifest =
        command_and_head(connection, redis_key, unlink, RedisOperation{"UNLINK", redis_key});
    if (!manifest)
      return;
    const RedisOperation chunks_op{"UNLINK chunks of", redis_key};
    walk_chunks(*manifest, [&](std::uint64_t first, std::uint64_t end) {
      RedisArgs args(static_cast<std::size_t>(1 + end - first));
      args.add("UNLINK");
      for (std::uint64_t i = first; i < end; ++i)
        args.add_owned(chunk_key(redis_key, i));
      return connection.check(chunks_op, connection.command(chunks_op, args), REDIS_REPLY_INTEGER)
          ->integer;
    });
  });
}

void RedisNode::expire(const std::string& redis_key, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    evict(redis_key);
    return;
  }
  const std::string ready = ready_key(redis_key);
  const std::string lease = lease_key(redis_key);
  const std::string millis = std::to_string(ttl.count());
  run([&](RedisConnection& connection) {
    // One round trip: the head of the value (to recognise a manifest) and
    // one script giving the key, its companion and its lease marker the
    // TTL (the marker lets a future's result, written later, carry it); a
    // chunked value's chunks get theirs in a second one.
    RedisArgs expire = eval_on_key(expire_script, redis_key, ready, lease, {millis});
    const std::optional<ChunkManifest> manifest =
        command_and_head(connection, redis_key, expire, RedisOperation{"PEXPIRE", redis_key});
    if (!manifest)
      return;
    const RedisOperation chunks_op{"PEXPIRE chunks of", redis_key};
    walk_chunks(*manifest, [&](std::uint64_t first, std::uint64_t end) {
      for (std::uint64_t i = first; i < end; ++i) {
        RedisArgs args(3);
        args.add("PEXPIRE").add_owned(chunk_key(redis_key, i)).add(millis);
        connection.append(chunks_op, args);
      }
      std::vector<RedisReplyPtr> replies =
          connection.replies(chunks_op, static_cast<std::size_t>(end - first));
      long long expired = 0;
      std::exception_ptr error;
      for (RedisReplyPtr& reply : replies) {
        if (!error && reply->type == REDIS_REPLY_INTEGER)
          expired += reply->integer;
      }
      check_all(connection, chunks_op, std::move(replies), REDIS_REPLY_INTEGER, error);
      if (error)
        std::rethrow_exception(error);
      return expired;
    });
  });
}

std::optional<Bytes> RedisNode::wait_get(const std::string& redis_key,
                                         std::chrono::milliseconds timeout,
                                         const std::function<std::optional<Bytes>()>& get) {
  const std::string ready = ready_key(redis_key);
  // A connection of its own, whose read timeout covers the whole wait: a
  // pooled one would be held (and time out) for as long as we block.
  std::unique_ptr<RedisConnection> connection;
  RedisEndpoint own = endpoint();
  if (own.command_timeout.count() > 0)
    own.command_timeout += timeout;
  return wait_for_value(timeout, get, [&](std::chrono::milliseconds left) {
    if (!connection)
      connection = RedisConnection::open(own);
    // From the list to itself: the token stays for every other waiter,
    // and the list keeps its TTL (nothing is ever pushed back).
    const RedisOperation op{"BRPOPLPUSH", ready};
    RedisArgs args(4);
    args.add("BRPOPLPUSH").add(ready).add(ready).add_owned(blocking_seconds(left));
    const RedisReplyPtr reply =
        connection->check(op, connection->command(op, args), REDIS_REPLY_STRING, /*nil_ok=*/true);
    return reply->type == REDIS_REPLY_NIL ? TokenWait::timed_out : TokenWait::woken;
  });
}

void RedisNode::ping() {
  run([](RedisConnection& connection) { detail::ping(connection); });
}

void RedisNode::put_batch(const std::vector<PutItem>& items, std::string_view px) {
  if (items.empty())
    return;
  run([&](RedisConnection& connection) { put(connection, items, px); });
}

}  // namespace proxystore::detail
