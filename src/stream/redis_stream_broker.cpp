// SPDX-License-Identifier: Apache-2.0
// RedisStreamBroker: one Redis Stream per topic, over the library's own
// Redis connection layer (RedisConnectionPool, RedisConnection, the one
// error mapping in redis_connection.cpp) — no second client. On a Redis
// Cluster the same commands go through the cluster layer (ClusterTopology,
// run_cluster_commands: slot routing, MOVED/ASK, retries) that
// RedisClusterStore uses; every command of a topic names one key, so a
// pipeline goes to one node.
//
// Entries: `d <event>` for an item, `end 1` for end-of-stream. Every reply
// is checked for shape before use: a server (or whoever wrote to the
// stream) may send anything; an entry that is neither becomes a message
// whose data the consumer refuses to decode (a SerializationError naming
// the topic and the id), never a crash.
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stream.hpp>

#include "detail/cluster_pipeline.hpp"
#include "detail/cluster_replies.hpp"
#include "detail/cluster_slots.hpp"
#include "detail/cluster_topology.hpp"
#include "detail/redis_connection.hpp"
#include "detail/redis_node.hpp"
#include "detail/redis_pool.hpp"
#include "detail/redis_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <iterator>
#include <numeric>
#include <optional>
#include <thread>
#include <utility>

namespace proxystore {

using detail::ClusterCommand;
using detail::HostPort;
using detail::RedisArgs;
using detail::RedisConnection;
using detail::RedisEndpoint;
using detail::RedisFailure;
using detail::RedisOperation;
using detail::RedisReplyPtr;
using detail::view_of;

namespace {

using Clock = std::chrono::steady_clock;

/// How often a member re-checks a closed topic whose earlier items other
/// members still hold (they acknowledge, or we claim them).
constexpr std::chrono::milliseconds closed_poll{50};
/// Retries of transient refusals when the command timeout is 0 ("no
/// bound"): a server that stays unavailable must still end in an error.
constexpr std::chrono::milliseconds unbounded_retry_budget{30000};
/// The pause between retries starts here and doubles up to max_pause.
constexpr std::chrono::milliseconds first_pause{10};
constexpr std::chrono::milliseconds max_pause{250};

/// The most a thread keeps of its XADD formatting buffer between calls.
constexpr std::size_t kept_buffer_bytes = std::size_t{1} << 20U;

/// Nothing to acknowledge.
const std::vector<std::string> no_ids;

/// A stream id "<ms>-<seq>" as its two numbers; nothing for anything else
/// (a server's reply is not trusted to hold well-formed ids).
std::optional<std::pair<std::uint64_t, std::uint64_t>> parse_stream_id(std::string_view id) {
  const std::size_t dash = id.find('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  std::uint64_t ms = 0;
  std::uint64_t seq = 0;
  const char* end = id.data() + id.size();
  const auto first = std::from_chars(id.data(), id.data() + dash, ms);
  const auto second = std::from_chars(id.data() + dash + 1, end, seq);
  if (first.ec != std::errc() || first.ptr != id.data() + dash || second.ec != std::errc() ||
      second.ptr != end)
    return std::nullopt;
  return std::make_pair(ms, seq);
}

/// Whether `a` is a well-formed stream id before the well-formed id `b`.
bool stream_id_before(std::string_view a, std::string_view b) {
  const auto first = parse_stream_id(a);
  const auto second = parse_stream_id(b);
  return first && second && *first < *second;
}

constexpr std::string_view data_field = "d";
constexpr std::string_view end_field = "end";

bool is_string(const redisReply* reply) {
  return reply != nullptr &&
         (reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS);
}

}  // namespace

struct RedisStreamBroker::Impl {
  /// A single server.
  Impl(std::string host, int port, RedisOptions opts, RedisStreamOptions stream_opts)
      : options(std::move(opts)), stream_options(stream_opts) {
    RedisEndpoint base = base_endpoint();
    base.host = std::move(host);
    base.port = port;
    pool = std::make_unique<detail::RedisConnectionPool>(base, options.pool_size);
    base.command_timeout = blocking_timeout(base.command_timeout);
    blocking_pool = std::make_unique<detail::RedisConnectionPool>(
        std::move(base), stream_options.blocking_pool_size);
  }

  /// A Redis Cluster reached through `seeds`.
  Impl(std::vector<HostPort> seeds, RedisOptions opts, RedisStreamOptions stream_opts)
      : options(std::move(opts)), stream_options(stream_opts) {
    RedisEndpoint base = base_endpoint();
    topology = std::make_unique<detail::ClusterTopology>(base, seeds, options.pool_size);
    base.command_timeout = blocking_timeout(base.command_timeout);
    blocking_topology = std::make_unique<detail::ClusterTopology>(
        std::move(base), std::move(seeds), stream_options.blocking_pool_size);
  }

  RedisOptions options;  // the password lives only in the endpoints below
  const RedisStreamOptions stream_options;
  // One server: publish, ack, claim, checks on `pool`; XREAD/XREADGROUP
  // BLOCK on `blocking_pool` (a longer read timeout).
  std::unique_ptr<detail::RedisConnectionPool> pool;
  std::unique_ptr<detail::RedisConnectionPool> blocking_pool;
  // A cluster: the same split, one pool of each kind per node.
  std::unique_ptr<detail::ClusterTopology> topology;
  std::unique_ptr<detail::ClusterTopology> blocking_topology;

  RedisEndpoint base_endpoint() {
    return RedisEndpoint{"stream-broker",
                         "",
                         0,
                         options.username,
                         std::exchange(options.password, std::string()),
                         options.db,
                         options.connect_timeout,
                         options.command_timeout};
  }

  /// A blocking read's read timeout: the command timeout plus the longest
  /// wait, unless unbounded.
  std::chrono::milliseconds blocking_timeout(std::chrono::milliseconds command_timeout) const {
    return command_timeout.count() > 0
               ? command_timeout + stream_options.max_block + std::chrono::seconds(1)
               : command_timeout;
  }

  /// How long transient refusals (LOADING, a cluster's MOVED/TRYAGAIN/
  /// CLUSTERDOWN, a node unreachable) are retried: the command timeout.
  std::chrono::milliseconds retry_budget() const {
    return options.command_timeout.count() > 0 ? options.command_timeout : unbounded_retry_budget;
  }

  std::string key(const std::string& topic) const { return options.key_prefix + "stream:" + topic; }

  /// One reply and the node that gave it (messages name it).
  struct Reply {
    RedisReplyPtr reply;
    const RedisEndpoint* endpoint = nullptr;
    std::shared_ptr<detail::ClusterNode> node;  // a cluster's: keeps `endpoint` alive
  };

  /// Runs `commands` (all on the key `stream`) as one pipeline on the node
  /// holding `stream` (`blocking`: on a connection for blocking reads) and
  /// returns their replies in order. Server error replies are returned
  /// (see `checked`), except transient ones: LOADING (a restarted server
  /// loading its data) and, on a cluster, redirections, TRYAGAIN,
  /// CLUSTERDOWN and unreachable nodes are retried — only the commands
  /// they refused — within retry_budget().
  ///
  /// `resent` (when not null) is set when a command may have run twice: sent
  /// again after its connection failed.
  std::vector<Reply> exec(const std::string& stream, std::vector<RedisArgs>& commands,
                          const RedisOperation& op, bool blocking, bool* resent = nullptr) {
    if (topology)
      return exec_cluster(stream, commands, op, blocking, resent);
    return exec_single(commands, op, blocking, resent);
  }

  std::vector<Reply> exec_single(std::vector<RedisArgs>& commands, const RedisOperation& op,
                                 bool blocking, bool* resent) {
    return exec_single_with(
        commands.size(), op, blocking,
        [&](RedisConnection& connection, const std::vector<std::size_t>& todo) {
          for (const std::size_t i : todo)
            connection.append(op, commands[i]);
        },
        resent);
  }

  /// exec_single of `count` commands that `append(connection, todo)`
  /// queues (those numbered in `todo`, in order).
  template <class Append>
  std::vector<Reply> exec_single_with(std::size_t count, const RedisOperation& op, bool blocking,
                                      Append&& append, bool* resent = nullptr) {
    detail::RedisConnectionPool& from = blocking ? *blocking_pool : *pool;
    const auto deadline = Clock::now() + retry_budget();
    std::vector<Reply> out(count);
    std::vector<std::size_t> todo(count);
    std::iota(todo.begin(), todo.end(), std::size_t{0});
    std::chrono::milliseconds pause = first_pause;
    for (;;) {
      std::vector<RedisReplyPtr> got = run(
          from,
          [&](RedisConnection& connection) {
            append(connection, todo);
            std::vector<RedisReplyPtr> replies = connection.replies(op, todo.size());
            for (const RedisReplyPtr& reply : replies) {
              if (reply->type == REDIS_REPLY_ERROR && detail::is_auth_refusal(*reply))
                connection.discard();  // reconnect (and AUTH again) next time
            }
            return replies;
          },
          resent);
      std::vector<std::size_t> again;
      for (std::size_t k = 0; k < todo.size(); ++k) {
        if (got[k]->type == REDIS_REPLY_ERROR &&
            detail::is_transient_cluster_error(view_of(*got[k])))
          again.push_back(todo[k]);
        out[todo[k]] = Reply{std::move(got[k]), &from.endpoint(), nullptr};
      }
      if (again.empty() || Clock::now() >= deadline)
        return out;
      std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
      pause = std::min(pause * 2, max_pause);
      todo = std::move(again);
    }
  }

  std::vector<Reply> exec_cluster(const std::string& stream, std::vector<RedisArgs>& commands,
                                  const RedisOperation& op, bool blocking, bool* resent) {
    const int slot = detail::key_slot(stream);
    std::vector<ClusterCommand> routed;
    routed.reserve(commands.size());
    for (RedisArgs& args : commands)
      routed.emplace_back(slot, std::move(args));
    detail::ClusterRunOptions run_options;
    run_options.retry_budget = retry_budget();
    run_options.resent = resent;
    detail::run_cluster_commands(blocking ? *blocking_topology : *topology, routed, op, run_options,
                                 false);
    std::vector<Reply> out;
    out.reserve(routed.size());
    for (ClusterCommand& command : routed) {
      const RedisEndpoint* endpoint = &command.node->endpoint();
      out.push_back(Reply{std::move(command.reply), endpoint, std::move(command.node)});
    }
    return out;
  }

  /// One command.
  Reply exec1(const std::string& stream, RedisArgs args, const RedisOperation& op,
              bool blocking = false) {
    std::vector<RedisArgs> commands;
    commands.push_back(std::move(args));
    return std::move(exec(stream, commands, op, blocking).front());
  }

  /// The reply, or the error it carries thrown (StoreOperationError; a
  /// refusal of our credentials, or a server still LOADING past the retry
  /// budget, as ConnectionError) naming the node; a reply of another type
  /// than `expected` is a StoreOperationError too.
  static const redisReply& checked(const Reply& reply, const RedisOperation& op, int expected) {
    const redisReply& r = *reply.reply;
    if (r.type == REDIS_REPLY_ERROR) {
      if (view_of(r).substr(0, 7) == "LOADING") {
        throw ConnectionError(
            fmt::format("{}: {} failed: the server is still loading its data "
                        "(server replied: {})",
                        reply.endpoint->subject(), op.describe(), detail::printable(view_of(r))));
      }
      detail::throw_reply_error(*reply.endpoint, op, r);
    }
    if (r.type != expected)
      detail::throw_unexpected_reply(*reply.endpoint, op, r);
    return r;
  }

  /// Runs `body` on a connection of `from`; once more on a fresh one when a
  /// connection that sat idle had been dropped by the server (a restart).
  /// `resent` (when not null) is set when it does (the commands may have
  /// reached the server before the connection dropped).
  template <class Body>
  auto run(detail::RedisConnectionPool& from, Body&& body, bool* resent = nullptr)
      -> decltype(body(std::declval<RedisConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      detail::RedisConnectionPool::Lease lease = from.borrow();
      try {
        return body(*lease);
      } catch (const ConnectionError&) {
        if (attempt == 0 && lease.reused() && lease->failure() == RedisFailure::dropped) {
          if (resent != nullptr)
            *resent = true;
          continue;
        }
        throw;
      }
    }
  }

  [[noreturn]] void malformed(const Reply& reply, const RedisOperation& op,
                              std::string_view what) const {
    throw StoreOperationError(fmt::format("{}: {} returned a malformed reply: {}",
                                          reply.endpoint->subject(), op.describe(), what));
  }

  /// Reads one entry `[id, [field, value, ...]]` (fields nil: deleted)
  /// into `out` (data left empty for an entry with no item field: the
  /// consumer's decoder refuses it); returns whether it is end-of-stream.
  bool parse_entry(const Reply& reply, const RedisOperation& op, const redisReply* entry,
                   BrokerMessage& out) const {
    if (entry == nullptr || entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 ||
        !is_string(entry->element[0])) {
      malformed(reply, op, "an entry is not [id, fields]");
    }
    out.id.assign(view_of(*entry->element[0]));
    bool end = false;
    const redisReply* fields = entry->element[1];
    if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY)
      return end;  // deleted (trimmed) while pending, or not an array: refused later
    for (std::size_t i = 0; i + 1 < fields->elements; i += 2) {
      const redisReply* name = fields->element[i];
      const redisReply* value = fields->element[i + 1];
      if (!is_string(name) || !is_string(value))
        continue;
      if (view_of(*name) == data_field)
        out.data.assign(view_of(*value));
      else if (view_of(*name) == end_field)
        end = true;
    }
    return end;
  }

  /// The entries of `list` (an array of entries) appended to `messages`,
  /// straight from the reply: item entries become messages; an end entry
  /// marks the cursor closed — fan-out stops before it (the position stays
  /// before it; it ends the next call), a group collects its id in
  /// `end_ids` to acknowledge (it is nobody's work). Nil elements are
  /// skipped where `nil_ok` (Redis 6.2's XAUTOCLAIM: entries deleted while
  /// pending), malformed otherwise. The cursor changes only once the whole
  /// list has been read: a malformed reply moves nothing.
  ///
  /// With `deleted` set, entries deleted while pending (an id without
  /// fields, as a read of one's own pending entries returns them) go there
  /// instead of becoming messages.
  void take(BrokerCursor& cursor, const Reply& reply, const RedisOperation& op,
            const redisReply* list, bool nil_ok, std::vector<BrokerMessage>& messages,
            std::vector<std::string>& end_ids, bool& end_seen,
            std::vector<std::string>* deleted = nullptr) const {
    const bool group = !cursor.group.empty();
    const std::size_t first = messages.size();
    const std::size_t first_end = end_ids.size();
    const std::size_t first_deleted = deleted != nullptr ? deleted->size() : 0;
    bool end = false;
    messages.reserve(first + list->elements);
    for (std::size_t i = 0; i < list->elements && !(end && !group); ++i) {
      const redisReply* entry = list->element[i];
      if (nil_ok && (entry == nullptr || entry->type == REDIS_REPLY_NIL))
        continue;
      BrokerMessage& message = messages.emplace_back();
      try {
        if (!parse_entry(reply, op, entry, message)) {
          const redisReply* fields = entry->element[1];
          if (deleted != nullptr && (fields == nullptr || fields->type != REDIS_REPLY_ARRAY)) {
            deleted->push_back(std::move(message.id));
            messages.pop_back();
          }
          continue;
        }
      } catch (...) {
        messages.resize(first);
        end_ids.resize(first_end);
        if (deleted != nullptr)
          deleted->resize(first_deleted);
        throw;
      }
      end = true;
      if (group)
        end_ids.push_back(std::move(message.id));
      messages.pop_back();
    }
    if (!group && messages.size() > first)
      cursor.position = messages.back().id;
    if (end) {
      end_seen = true;
      cursor.closed = true;
    }
  }

  /// The messages of an XREAD/XREADGROUP reply for our one stream (nil:
  /// none); see take().
  std::vector<BrokerMessage> parse_read(BrokerCursor& cursor, const Reply& reply,
                                        const RedisOperation& op, std::vector<std::string>& end_ids,
                                        bool& end_seen,
                                        std::vector<std::string>* deleted = nullptr) const {
    std::vector<BrokerMessage> messages;
    const redisReply& r = *reply.reply;
    if (r.type == REDIS_REPLY_NIL)
      return messages;
    if (r.type != REDIS_REPLY_ARRAY)
      malformed(reply, op, "not an array");
    for (std::size_t s = 0; s < r.elements; ++s) {
      const redisReply* stream = r.element[s];
      if (stream == nullptr || stream->type != REDIS_REPLY_ARRAY || stream->elements != 2 ||
          stream->element[1] == nullptr || stream->element[1]->type != REDIS_REPLY_ARRAY) {
        malformed(reply, op, "a stream is not [key, entries]");
      }
      take(cursor, reply, op, stream->element[1], false, messages, end_ids, end_seen, deleted);
      if (end_seen && cursor.group.empty())
        break;
    }
    return messages;
  }

  /// XACK of `ids` (views: they must outlive the command).
  static RedisArgs xack_args(const std::string& stream, const std::string& group,
                             const std::vector<std::string>& ids) {
    RedisArgs args(3 + ids.size());
    args.add("XACK").add(stream).add(group);
    for (const std::string& id : ids)
      args.add(id);
    return args;
  }

  void xack(const std::string& stream, const std::string& group,
            const std::vector<std::string>& ids) {
    if (ids.empty())
      return;
    const RedisOperation op{"XACK", stream, ids.size()};
    checked(exec1(stream, xack_args(stream, group, ids), op), op, REDIS_REPLY_INTEGER);
  }

  void create_group(const std::string& stream, const std::string& group) {
    const RedisOperation op{"XGROUP CREATE", stream};
    RedisArgs args(6);
    args.add("XGROUP").add("CREATE").add(stream).add(group).add("0").add("MKSTREAM");
    const Reply reply = exec1(stream, std::move(args), op);
    if (reply.reply->type == REDIS_REPLY_ERROR && view_of(*reply.reply).substr(0, 9) == "BUSYGROUP")
      return;  // it exists: keep its position
    checked(reply, op, REDIS_REPLY_STATUS);
  }

  /// XREAD / XREADGROUP (group empty: XREAD) on a blocking connection;
  /// for a group, `acks` are acknowledged first in the same round trip
  /// (XACK pipelined before the read).
  ///
  /// A group member's XREADGROUP is not idempotent: the server records what
  /// it delivers as pending for the member before the reply leaves. A read
  /// that fails (or is sent again after its connection failed) can leave
  /// messages pending for this member that never reached it; other members
  /// would claim them only after claim_after. So the member reads them back
  /// itself: its pending messages newer than the newest it received
  /// (`cursor.delivered`) are exactly those — XREADGROUP with that id
  /// instead of ">" — at once when the read was resent, on the next read
  /// when it failed (`cursor.recover`).
  std::vector<BrokerMessage> read(BrokerCursor& cursor, const std::string& stream, std::size_t max,
                                  std::chrono::milliseconds wait,
                                  const std::vector<std::string>& acks, bool& end_seen) {
    if (cursor.group.empty())
      return read_once(cursor, stream, max, wait, acks, end_seen, nullptr);
    // A member that has received nothing yet cannot tell what a lost read
    // left pending for it from what a predecessor of the same name left:
    // those are claimed after claim_after, as before.
    if (cursor.delivered.empty())
      cursor.recover = false;
    const std::string delivered_before = cursor.delivered;  // restored on failure
    try {
      const std::vector<std::string>* pending_acks = &acks;
      if (cursor.recover) {
        const std::string after = cursor.delivered;  // read_once moves the cursor's
        std::vector<BrokerMessage> missed =
            read_once(cursor, stream, max, wait, acks, end_seen, &after);
        pending_acks = nullptr;  // sent with the recovery read
        note_delivered(cursor, missed);
        // Fewer than asked for: none are left behind.
        cursor.recover = missed.size() >= std::max<std::size_t>(1, max);
        if (!missed.empty() || end_seen)
          return missed;
      }
      const std::string before = cursor.delivered;
      bool resent = false;
      std::vector<BrokerMessage> messages =
          read_once(cursor, stream, max, wait, pending_acks != nullptr ? *pending_acks : no_ids,
                    end_seen, nullptr, &resent);
      const bool reset = std::any_of(messages.begin(), messages.end(), [&](const BrokerMessage& m) {
        return !before.empty() && stream_id_before(m.id, before);
      });
      if (reset) {
        // Older than what we had: the group was made again (NOGROUP after
        // a server restart) and delivers from the start.
        cursor.delivered.clear();
      } else if (resent && !before.empty()) {
        // The first send may have delivered messages whose reply was lost:
        // pending for us, newer than `before`, and not among these.
        std::vector<BrokerMessage> again =
            read_once(cursor, stream, 2 * std::max<std::size_t>(1, max),
                      std::chrono::milliseconds(0), no_ids, end_seen, &before);
        std::vector<BrokerMessage> missed;
        for (BrokerMessage& message : again) {
          const bool have = std::any_of(messages.begin(), messages.end(),
                                        [&](const BrokerMessage& m) { return m.id == message.id; });
          if (!have)
            missed.push_back(std::move(message));
        }
        missed.insert(missed.end(), std::make_move_iterator(messages.begin()),
                      std::make_move_iterator(messages.end()));
        messages = std::move(missed);
      }
      note_delivered(cursor, messages);
      return messages;
    } catch (...) {
      // Whatever the server delivered is read back next time, from where
      // this call began.
      cursor.delivered = delivered_before;
      cursor.recover = true;
      throw;
    }
  }

  /// One XREAD / XREADGROUP round trip (see read()). A group member reads
  /// new messages (">"), or with `pending_after` set, its own pending
  /// messages newer than that id ("" for all of them; never blocks).
  std::vector<BrokerMessage> read_once(BrokerCursor& cursor, const std::string& stream,
                                       std::size_t max, std::chrono::milliseconds wait,
                                       const std::vector<std::string>& acks, bool& end_seen,
                                       const std::string* pending_after, bool* resent = nullptr) {
    const bool group = !cursor.group.empty();
    const RedisOperation op{group ? "XREADGROUP" : "XREAD", stream, max};
    const std::string count = std::to_string(std::max<std::size_t>(1, max));
    const std::string block = std::to_string(std::min(wait, stream_options.max_block).count());
    const bool acking = group && !acks.empty();
    std::string_view from = group ? std::string_view(">") : std::string_view(cursor.position);
    if (pending_after != nullptr)
      from = pending_after->empty() ? std::string_view("0") : std::string_view(*pending_after);
    for (int attempt = 0;; ++attempt) {
      std::vector<RedisArgs> commands;
      if (acking && attempt == 0)
        commands.push_back(xack_args(stream, cursor.group, acks));
      RedisArgs args(12);
      if (group)
        args.add("XREADGROUP").add("GROUP").add(cursor.group).add(cursor.consumer);
      else
        args.add("XREAD");
      args.add("COUNT").add(count);
      if (wait.count() > 0 && pending_after == nullptr)
        args.add("BLOCK").add(block);
      args.add("STREAMS").add(stream).add(from);
      commands.push_back(std::move(args));
      std::vector<Reply> replies = exec(stream, commands, op, true, resent);
      if (commands.size() == 2) {
        const RedisOperation ack_op{"XACK", stream, acks.size()};
        checked(replies.front(), ack_op, REDIS_REPLY_INTEGER);
      }
      const Reply& reply = replies.back();
      if (group && attempt == 0 && reply.reply->type == REDIS_REPLY_ERROR &&
          view_of(*reply.reply).substr(0, 7) == "NOGROUP") {
        // The server lost the group (restarted without its data): make it
        // again, from what the stream still holds.
        create_group(stream, cursor.group);
        continue;
      }
      if (reply.reply->type == REDIS_REPLY_ERROR)
        checked(reply, op, REDIS_REPLY_ARRAY);
      std::vector<std::string> end_ids;
      // Reading its own pending entries, a member gets those deleted
      // (trimmed) meanwhile as ids without fields: acknowledged with the
      // end-of-stream ids and skipped, as a claim skips them.
      std::vector<BrokerMessage> messages = parse_read(
          cursor, reply, op, end_ids, end_seen, pending_after != nullptr ? &end_ids : nullptr);
      if (group) {
        xack(stream, cursor.group, end_ids);
        for (const std::string& id : end_ids)
          note_delivered(cursor, id);
      }
      return messages;
    }
  }

  /// Moves `cursor.delivered` up to `id` (stream ids compare as two
  /// numbers; a malformed one is never used as a read's start).
  static void note_delivered(BrokerCursor& cursor, const std::string& id) {
    if (parse_stream_id(id) && (cursor.delivered.empty() || stream_id_before(cursor.delivered, id)))
      cursor.delivered = id;
  }

  static void note_delivered(BrokerCursor& cursor, const std::vector<BrokerMessage>& messages) {
    for (const BrokerMessage& message : messages)
      note_delivered(cursor, message.id);
  }

  /// Whether the newest entry of the stream is end-of-stream.
  bool ends(const std::string& stream) {
    const RedisOperation op{"XREVRANGE", stream};
    RedisArgs args(6);
    args.add("XREVRANGE").add(stream).add("+").add("-").add("COUNT").add("1");
    const Reply reply = exec1(stream, std::move(args), op);
    const redisReply& r = checked(reply, op, REDIS_REPLY_ARRAY);
    BrokerMessage last;
    return r.elements > 0 && parse_entry(reply, op, r.element[0], last);
  }

  /// Deliveries of `group` not yet acknowledged (XPENDING summary).
  long long pending(const std::string& stream, const std::string& group) {
    const RedisOperation op{"XPENDING", stream};
    RedisArgs args(3);
    args.add("XPENDING").add(stream).add(group);
    const Reply reply = exec1(stream, std::move(args), op);
    const redisReply& r = checked(reply, op, REDIS_REPLY_ARRAY);
    if (r.elements < 1 || r.element[0]->type != REDIS_REPLY_INTEGER)
      malformed(reply, op, "no pending count");
    return r.element[0]->integer;
  }

  /// XADDs of messages[first, end) on the single server, formatted here
  /// into one buffer (reused by the thread from one window to the next)
  /// rather than by hiredis argument by argument: the same bytes on the
  /// wire, a fraction of the work per item. `max_length` empty: no trim.
  std::vector<Reply> xadd_single(const std::string& stream,
                                 const std::vector<std::string_view>& messages, std::size_t first,
                                 std::size_t end, std::string_view field,
                                 std::string_view max_length) {
    thread_local std::string buffer;
    thread_local std::vector<std::size_t> ends;  // where each command's bytes end
    buffer.clear();
    ends.clear();
    for (std::size_t i = first; i < end; ++i) {
      if (max_length.empty())
        detail::append_resp_command(buffer, {"XADD", stream, "*", field, messages[i]});
      else
        detail::append_resp_command(
            buffer, {"XADD", stream, "MAXLEN", "~", max_length, "*", field, messages[i]});
      ends.push_back(buffer.size());
    }
    const RedisOperation op{"XADD", stream, end - first};
    std::vector<Reply> replies =
        exec_single_with(end - first, op, false,
                         [&](RedisConnection& connection, const std::vector<std::size_t>& todo) {
                           if (todo.size() == ends.size()) {
                             connection.append_formatted(op, buffer, todo.size());
                             return;
                           }
                           for (const std::size_t i : todo) {  // a retry of some of them
                             const std::size_t from = i == 0 ? 0 : ends[i - 1];
                             connection.append_formatted(
                                 op, std::string_view(buffer).substr(from, ends[i] - from), 1);
                           }
                         });
    if (buffer.capacity() > kept_buffer_bytes)
      std::string().swap(buffer);  // a window of large items leaves no large buffer behind
    return replies;
  }

  /// Appends one XADD per message (`field` `message`), in windows of about
  /// detail::window_bytes (the node layer's bound on one pipeline: Redis
  /// caps a client's query buffer at 1 GB), each window one round trip.
  void xadd(const std::string& stream, const std::vector<std::string_view>& messages,
            std::string_view field) {
    const std::string max_length = std::to_string(stream_options.max_length);
    const bool trim = stream_options.max_length > 0;
    const RedisOperation op{"XADD", stream, messages.size()};
    std::size_t first = 0;
    while (first < messages.size()) {
      std::size_t bytes = 0;
      std::size_t end = first;
      while (end < messages.size() && (end == first || bytes < detail::window_bytes)) {
        bytes += messages[end].size();
        ++end;
      }
      std::vector<Reply> replies;
      if (topology) {
        std::vector<RedisArgs> commands;
        commands.reserve(end - first);
        for (std::size_t i = first; i < end; ++i) {
          RedisArgs& args = commands.emplace_back(8);
          args.add("XADD").add(stream);
          if (trim)
            args.add("MAXLEN").add("~").add(max_length);
          args.add("*").add(field).add(messages[i]);
        }
        replies = exec(stream, commands, op, false);
      } else {
        replies = xadd_single(stream, messages, first, end, field, trim ? max_length : "");
      }
      for (const Reply& reply : replies)
        checked(reply, op, REDIS_REPLY_STRING);
      first = end;
    }
  }
};

// --- RedisStreamBroker -------------------------------------------------------

namespace {

/// Checks what both constructors' options must satisfy.
void check_broker_options(const RedisOptions& options, const RedisStreamOptions& stream_options,
                          const std::function<Error(std::string_view)>& invalid) {
  if (options.connect_timeout.count() < 0 || options.command_timeout.count() < 0)
    throw invalid("timeouts must not be negative");
  if (options.pool_size == 0 || stream_options.blocking_pool_size == 0)
    throw invalid("pool sizes must be at least 1");
  if (stream_options.max_block.count() < 1)
    throw invalid("max_block must be at least 1 ms");
}

}  // namespace

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
  check_broker_options(options, stream_options, invalid);
  impl_ = std::make_unique<Impl>(std::move(hostname), port, std::move(options), stream_options);
}

// By value, as RedisClusterStore takes its seeds (the public shape of both).
// NOLINTNEXTLINE(performance-unnecessary-value-param)
RedisStreamBroker::RedisStreamBroker(std::vector<std::string> cluster_seeds, RedisOptions options,
                                     RedisStreamOptions stream_options) {
  const std::string subject = "redis stream broker on a cluster";
  auto invalid = [&](std::string_view what) {
    return Error(fmt::format("{}: invalid options: {}", subject, what));
  };
  std::vector<HostPort> seeds = detail::parse_seed_nodes(subject, cluster_seeds);
  if (options.db != 0) {
    throw invalid(
        fmt::format("db {} requested, but a Redis Cluster has only database 0", options.db));
  }
  if (options.key_prefix.find_first_of("{}") != std::string::npos) {
    throw invalid(fmt::format(
        "key_prefix \"{}\" contains '{{' or '}}' (it would decide the slot of every topic)",
        detail::printable(options.key_prefix)));
  }
  check_broker_options(options, stream_options, invalid);
  impl_ = std::make_unique<Impl>(std::move(seeds), std::move(options), stream_options);
}

RedisStreamBroker::~RedisStreamBroker() = default;

std::string RedisStreamBroker::stream_key(const std::string& topic) const {
  return impl_->key(topic);
}

void RedisStreamBroker::remove_topic(const std::string& topic) {
  const std::string stream = impl_->key(topic);
  const RedisOperation op{"UNLINK", stream};
  RedisArgs args(2);
  args.add("UNLINK").add(stream);
  Impl::checked(impl_->exec1(stream, std::move(args), op), op, REDIS_REPLY_INTEGER);
}

void RedisStreamBroker::publish(const std::string& topic,
                                const std::vector<std::string>& messages) {
  if (messages.empty())
    return;
  std::vector<std::string_view> views(messages.begin(), messages.end());
  impl_->xadd(impl_->key(topic), views, data_field);
}

void RedisStreamBroker::close(const std::string& topic) {
  impl_->xadd(impl_->key(topic), {std::string_view("1")}, end_field);
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
  return ack_and_receive(cursor, {}, max, wait);
}

BrokerBatch RedisStreamBroker::ack_and_receive(BrokerCursor& cursor,
                                               const std::vector<std::string>& ids, std::size_t max,
                                               std::chrono::milliseconds wait) {
  const std::string stream = impl_->key(cursor.topic);
  BrokerBatch batch;
  bool end_seen = false;
  if (cursor.group.empty()) {
    if (cursor.closed) {
      batch.end = true;
      return batch;
    }
    batch.messages = impl_->read(cursor, stream, max, wait, ids, end_seen);
    batch.end = batch.messages.empty() && end_seen;
    return batch;
  }
  // A group: items first; end-of-stream once the stream ends and nothing
  // is left undelivered or unacknowledged in the group.
  const auto block = cursor.closed ? std::chrono::milliseconds(0) : wait;
  batch.messages = impl_->read(cursor, stream, max, block, ids, end_seen);
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
  RedisArgs args(8);
  args.add("XAUTOCLAIM").add(stream).add(cursor.group).add(cursor.consumer);
  args.add_owned(std::to_string(min_idle.count())).add("0-0").add("COUNT");
  args.add_owned(std::to_string(std::max<std::size_t>(1, max)));
  const Impl::Reply reply = impl_->exec1(stream, std::move(args), op);
  const redisReply& r = Impl::checked(reply, op, REDIS_REPLY_ARRAY);
  if (r.elements < 2 || r.element[1] == nullptr || r.element[1]->type != REDIS_REPLY_ARRAY)
    impl_->malformed(reply, op, "not [next, entries, ...]");
  std::vector<std::string> end_ids;
  bool end_seen = false;
  impl_->take(cursor, reply, op, r.element[1], true, batch.messages, end_ids, end_seen);
  impl_->xack(stream, cursor.group, end_ids);
  // Claimed messages are this member's now: a recovery read must not
  // deliver them again.
  Impl::note_delivered(cursor, batch.messages);
  for (const std::string& id : end_ids)
    Impl::note_delivered(cursor, id);
  return batch;
}

void RedisStreamBroker::ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) {
  if (cursor.group.empty())
    return;
  impl_->xack(impl_->key(cursor.topic), cursor.group, ids);
}

}  // namespace proxystore
