// SPDX-License-Identifier: Apache-2.0
#include "detail/cluster_pipeline.hpp"

#include <proxystore/errors.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <map>
#include <numeric>
#include <optional>
#include <thread>
#include <utility>

namespace proxystore::detail {
namespace {

using Clock = std::chrono::steady_clock;

/// Rounds in a row that only followed redirections (no pause, no map
/// reload) before giving up: a healthy cluster needs one or two.
constexpr int max_redirect_rounds = 16;

/// A run carrying more bytes than this writes each node from a thread of
/// its own (one thread blocked in one node's write would leave the others
/// idle); below it, the pipelines are driven from the calling thread.
constexpr std::size_t threaded_bytes = std::size_t{4} << 20U;

/// The commands one node gets in one round, and how sending them went.
struct Bucket {
  std::shared_ptr<ClusterNode> node;
  std::vector<std::size_t> indices;                 // into the commands
  std::vector<bool> asking;                         // per index: ASKING first (an ASK redirection)
  std::exception_ptr unreachable;                   // a ConnectionError/TimeoutError: retried
  std::exception_ptr fatal;                         // anything else: thrown
  std::optional<RedisConnectionPool::Lease> lease;  // between writing and reading
  std::size_t sent = 0;                             // commands written
  RedisArgs wait_args;                              // WAIT, when written
};

/// Keeps a failure in the bucket (a phase may run on a thread).
void keep_failure(Bucket& bucket) noexcept {
  try {
    throw;
  } catch (const ConnectionError&) {
    bucket.unreachable = std::current_exception();
  } catch (...) {
    bucket.fatal = std::current_exception();
  }
}

std::string_view error_text(const redisReply& reply) {
  return {reply.str != nullptr ? reply.str : "", reply.len};
}

/// Writes a bucket's commands (then WAIT, for writes with wait_replicas)
/// on one pooled connection, kept in the bucket for read_bucket.
/// Never throws: failures are kept in the bucket.
void write_bucket(Bucket& bucket, std::vector<ClusterCommand>& commands,
                  const RedisOperation& operation, const ClusterRunOptions& options,
                  bool writes) noexcept {
  try {
    bucket.lease.emplace(bucket.node->pool().borrow());
    RedisConnection& connection = **bucket.lease;
    for (std::size_t k = 0; k < bucket.indices.size(); ++k) {
      if (bucket.asking[k]) {
        RedisArgs asking(1);
        asking.add("ASKING");
        connection.append(operation, asking);
        ++bucket.sent;
      }
      connection.append(operation, commands[bucket.indices[k]].args);
      ++bucket.sent;
    }
    if (writes && options.wait_replicas > 0) {
      bucket.wait_args.add("WAIT")
          .add_owned(std::to_string(options.wait_replicas))
          .add_owned(std::to_string(options.wait_timeout.count()));
      connection.append(operation, bucket.wait_args);
      ++bucket.sent;
    }
    connection.send_queued(operation);
  } catch (...) {
    keep_failure(bucket);
  }
}

/// Reads the replies to what write_bucket wrote and stores each with its
/// command. Never throws: failures are kept in the bucket.
void read_bucket(Bucket& bucket, std::vector<ClusterCommand>& commands,
                 const RedisOperation& operation, const ClusterRunOptions& options,
                 bool writes) noexcept {
  if (bucket.unreachable || bucket.fatal)
    return;
  try {
    RedisConnection& connection = **bucket.lease;
    std::vector<RedisReplyPtr> replies = connection.replies(operation, bucket.sent);
    std::size_t r = 0;
    for (std::size_t k = 0; k < bucket.indices.size(); ++k) {
      if (bucket.asking[k])
        ++r;  // ASKING's +OK (an error would show in the command's own reply)
      ClusterCommand& command = commands[bucket.indices[k]];
      command.reply = std::move(replies[r++]);
      command.node = bucket.node;
    }
    // A node that wrote nothing (every command redirected: after a
    // failover it may be a replica, which refuses WAIT) has nothing to
    // wait for; the commands go, with a WAIT, to the node that owns them.
    const bool wait = writes && options.wait_replicas > 0;
    const bool wrote =
        std::any_of(bucket.indices.begin(), bucket.indices.end(),
                    [&](std::size_t i) { return commands[i].reply->type != REDIS_REPLY_ERROR; });
    if (wait && wrote) {
      const RedisOperation wait_op{"WAIT after", operation.key, operation.count};
      // The reply is held while read: a reference into a temporary would dangle.
      const RedisReplyPtr acks =
          connection.check(wait_op, std::move(replies[r]), REDIS_REPLY_INTEGER);
      if (acks->integer < options.wait_replicas) {
        throw StoreOperationError(fmt::format(
            "{}: {} failed: the write reached {} of {} required replicas within {} ms (WAIT); "
            "it is stored on the primary but may be lost if the primary fails",
            bucket.node->endpoint().subject(), operation.describe(), acks->integer,
            options.wait_replicas, options.wait_timeout.count()));
      }
    }
  } catch (...) {
    keep_failure(bucket);
  }
  bucket.lease.reset();  // back to the pool (closed if it failed or owes replies)
}

/// Bytes of arguments a bucket sends.
std::size_t bytes_of(const Bucket& bucket, const std::vector<ClusterCommand>& commands) {
  std::size_t total = 0;
  for (const std::size_t i : bucket.indices) {
    const RedisArgs& args = commands[i].args;
    for (std::size_t a = 0; a < args.size(); ++a)
      total += args.lengths()[a];
  }
  return total;
}

/// Sends every bucket, so a batch spanning three primaries costs one round
/// trip: every node's pipeline written, then every node's replies read,
/// from this thread — the servers work in parallel meanwhile. A run of
/// many megabytes gives each node but the first a thread (write and read).
void send_buckets(std::vector<Bucket>& buckets, std::vector<ClusterCommand>& commands,
                  const RedisOperation& operation, const ClusterRunOptions& options, bool writes) {
  std::size_t total = 0;
  for (const Bucket& bucket : buckets)
    total += bytes_of(bucket, commands);
  auto one = [&](Bucket& bucket) {
    write_bucket(bucket, commands, operation, options, writes);
    read_bucket(bucket, commands, operation, options, writes);
  };
  if (total < threaded_bytes || buckets.size() < 2) {
    for (Bucket& bucket : buckets)
      write_bucket(bucket, commands, operation, options, writes);
    for (Bucket& bucket : buckets)
      read_bucket(bucket, commands, operation, options, writes);
    return;
  }
  std::vector<std::thread> threads;
  threads.reserve(buckets.size());
  try {
    for (std::size_t b = 1; b < buckets.size(); ++b)
      threads.emplace_back([&one, &buckets, b] { one(buckets[b]); });
  } catch (...) {
    for (std::thread& thread : threads)
      thread.join();
    throw;
  }
  one(buckets.front());
  for (std::thread& thread : threads)
    thread.join();
}

}  // namespace

void run_cluster_commands(ClusterTopology& topology, std::vector<ClusterCommand>& commands,
                          const RedisOperation& operation, const ClusterRunOptions& options,
                          bool writes) {
  const auto deadline = Clock::now() + options.retry_budget;
  std::vector<std::size_t> pending(commands.size());
  std::iota(pending.begin(), pending.end(), std::size_t{0});
  std::vector<std::shared_ptr<ClusterNode>> ask_target(commands.size());
  std::chrono::milliseconds pause(10);
  int redirect_rounds = 0;
  while (!pending.empty()) {
    std::exception_ptr unreachable;  // this round's last connection failure
    int uncovered_slot = -1;
    bool reload = false;
    bool wait = false;
    std::vector<std::size_t> next;

    // 1. Route each pending command to a node.
    std::vector<Bucket> buckets;
    std::map<const ClusterNode*, std::size_t> bucket_of;
    for (const std::size_t i : pending) {
      std::shared_ptr<ClusterNode> node = std::exchange(ask_target[i], nullptr);
      const bool asking = node != nullptr;
      if (!node) {
        try {
          node = topology.owner(commands[i].slot);
        } catch (const ConnectionError&) {  // no map could be loaded yet
          unreachable = std::current_exception();
          reload = wait = true;
          next.push_back(i);
          continue;
        }
      }
      if (!node) {
        uncovered_slot = commands[i].slot;
        reload = wait = true;
        next.push_back(i);
        continue;
      }
      auto [it, added] = bucket_of.try_emplace(node.get(), buckets.size());
      if (added)
        buckets.push_back(Bucket{node, {}, {}, {}, {}, std::nullopt, 0, RedisArgs(3)});
      buckets[it->second].indices.push_back(i);
      buckets[it->second].asking.push_back(asking);
    }

    // 2. Send; 3. sort the replies into done and to-retry.
    send_buckets(buckets, commands, operation, options, writes);
    for (Bucket& bucket : buckets) {
      if (bucket.fatal)
        std::rethrow_exception(bucket.fatal);
      if (bucket.unreachable) {
        unreachable = bucket.unreachable;
        reload = wait = true;
        if (bucket.sent != 0 && options.resent != nullptr)
          *options.resent = true;
        next.insert(next.end(), bucket.indices.begin(), bucket.indices.end());
        continue;
      }
      for (const std::size_t i : bucket.indices) {
        const redisReply& reply = *commands[i].reply;
        if (reply.type != REDIS_REPLY_ERROR)
          continue;
        const std::string_view text = error_text(reply);
        if (unstable_multi_key(commands[i]))
          continue;  // the caller splits it into single-key commands
        if (std::optional<ClusterRedirect> redirect = parse_redirect(text)) {
          std::shared_ptr<ClusterNode> target = topology.node(redirect->target);
          if (redirect->kind == ClusterRedirect::Kind::moved) {
            topology.moved(redirect->slot, target);
          } else {
            ask_target[i] = std::move(target);
          }
          next.push_back(i);
        } else if (is_transient_cluster_error(text)) {
          wait = true;
          next.push_back(i);
        }
      }
    }
    if (next.empty())
      return;

    // 4. Give up past the budget (or in a redirection loop) ...
    redirect_rounds = wait || reload ? 0 : redirect_rounds + 1;
    if (Clock::now() >= deadline || redirect_rounds > max_redirect_rounds) {
      if (unreachable)
        std::rethrow_exception(unreachable);
      if (uncovered_slot >= 0) {
        throw ConnectionError(fmt::format(
            "redis cluster store \"{}\": slot {} is not served by any node (the cluster is "
            "down or still failing over); gave up after {} ms",
            topology.base().store_name, uncovered_slot, options.retry_budget.count()));
      }
      return;  // redirections or TRYAGAIN/CLUSTERDOWN: the caller reports Redis's reply
    }
    // ... else pause, reload the map if the cluster changed, and resend.
    if (wait) {
      std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
      pause = std::min(pause * 2, std::chrono::milliseconds(250));
    }
    if (reload) {
      try {
        topology.refresh();
      } catch (const ConnectionError&) {  // NOLINT(bugprone-empty-catch): retried next round
      }
    }
    pending = std::move(next);
  }
}

bool unstable_multi_key(const ClusterCommand& command) {
  if (!command.multi_key || !command.reply || command.reply->type != REDIS_REPLY_ERROR)
    return false;
  const std::string_view text = error_text(*command.reply);
  const std::optional<ClusterRedirect> redirect = parse_redirect(text);
  if (redirect)
    return redirect->kind == ClusterRedirect::Kind::ask;
  return text.substr(0, 8) == "TRYAGAIN";
}

const redisReply& check_cluster_reply(const ClusterCommand& command,
                                      const RedisOperation& operation, int expected, bool nil_ok) {
  const redisReply& reply = *command.reply;
  if (reply.type == REDIS_REPLY_ERROR)
    throw_reply_error(command.node->endpoint(), operation, reply);
  if (reply.type != expected && !(nil_ok && reply.type == REDIS_REPLY_NIL))
    throw_unexpected_reply(command.node->endpoint(), operation, reply);
  return reply;
}

}  // namespace proxystore::detail
