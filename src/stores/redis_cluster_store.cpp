// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include "detail/cluster_pipeline.hpp"
#include "detail/cluster_slots.hpp"
#include "detail/cluster_topology.hpp"
#include "detail/redis_chunks.hpp"
#include "detail/redis_connection.hpp"
#include "detail/redis_credentials.hpp"
#include "detail/redis_node.hpp"
#include "detail/redis_values.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <exception>
#include <limits>
#include <map>
#include <thread>
#include <typeinfo>
#include <utility>

namespace proxystore {

using detail::ChunkManifest;
using detail::ChunkRead;
using detail::ClusterCommand;
using detail::HostPort;
using detail::key_slot;
using detail::RedisArgs;
using detail::RedisConnection;
using detail::RedisEndpoint;
using detail::RedisOperation;
using detail::RedisReplyPtr;
using detail::view_of;

namespace {

/// Bound on retries when the command timeout is 0 ("no bound"): a cluster
/// that stays down must still end in an error.
constexpr std::chrono::milliseconds unbounded_retry_budget{30000};
/// Bytes of chunks one batch of a chunked read asks for (past its first
/// chunk): each batch is read from all primaries in parallel.
constexpr std::size_t chunk_batch_bytes = std::size_t{512} << 20U;
/// Chunk keys per command batch when evicting or expiring a chunked value.
constexpr std::uint64_t chunk_keys_per_batch = 1024;
/// Bound on retries of the cleanup after a failed write: the caller is
/// already owed an error, it must not wait long for the cleanup too.
constexpr std::chrono::milliseconds cleanup_retry_budget{1000};

/// A command on one key: its slot comes from the key.
ClusterCommand key_command(std::string_view command, const std::string& key,
                           std::initializer_list<std::string_view> more = {}) {
  RedisArgs args(2 + more.size());
  args.add(command).add(key);
  for (std::string_view arg : more)
    args.add(arg);
  return {key_slot(key), std::move(args)};
}

/// A command on a key the command itself keeps (chunk keys made on the fly).
ClusterCommand owned_key_command(std::string_view command, std::string key,
                                 std::string_view value = {}, bool with_value = false) {
  const int slot = key_slot(key);
  RedisArgs args(3);
  args.add(command).add_owned(std::move(key));
  if (with_value)
    args.add(value);
  return {slot, std::move(args)};
}

/// One value to write: its Redis key, the base its chunk keys derive
/// from, and the bytes.
struct PutItem {
  std::string key;
  std::string chunk_base;
  std::string_view value;
};

/// A value read as a manifest: where its chunks are and their layout.
struct ChunkedValue {
  std::string key;
  std::string chunk_base;
  ChunkManifest manifest;
};

}  // namespace

struct RedisClusterStore::Impl {
  Impl(const std::string& store_name, std::vector<std::string> seeds_given,
       std::vector<HostPort> seeds, RedisOptions opts, RedisClusterOptions cluster_opts)
      : seed_nodes(std::move(seeds_given)),
        options(std::move(opts)),
        cluster(cluster_opts),
        topology(RedisEndpoint{store_name, "", 0, options.username,
                               std::exchange(options.password, std::string()), 0,
                               options.connect_timeout, options.command_timeout},
                 std::move(seeds), options.pool_size,
                 detail::RedisValueLimits{options.chunk_size, options.store.max_object_size}) {}

  const std::vector<std::string> seed_nodes;
  RedisOptions options;  // the password lives only in the topology's endpoints
  const RedisClusterOptions cluster;
  detail::ClusterTopology topology;

  /// `<prefix>{<id>}`: the id is the hash tag, shared with `:ready`.
  std::string redis_key(const Key& key) const {
    std::string out;
    out.reserve(options.key_prefix.size() + key.id.size() + 2);
    out.append(options.key_prefix).append("{").append(key.id).append("}");
    return out;
  }
  /// `<prefix><id>`: chunk keys derive from it untagged, so they spread.
  std::string chunk_base(const Key& key) const { return options.key_prefix + key.id; }

  std::string subject() const {
    return fmt::format("redis cluster store \"{}\"", topology.base().store_name);
  }

  /// WAIT's timeout: its answer must come before the connection's read
  /// timeout (else too few replicas would read as a dead primary, and be
  /// retried), and never 0, which Redis takes as "forever".
  std::chrono::milliseconds wait_bound() const {
    std::chrono::milliseconds bound = cluster.wait_timeout;
    if (options.command_timeout.count() > 0)
      bound = std::min(bound, options.command_timeout / 2);
    return std::max(bound, std::chrono::milliseconds(1));
  }

  void run(std::vector<ClusterCommand>& commands, const RedisOperation& op, bool writes,
           std::optional<std::chrono::milliseconds> budget = std::nullopt) {
    detail::ClusterRunOptions run_options;
    run_options.retry_budget =
        options.command_timeout.count() > 0 ? options.command_timeout : unbounded_retry_budget;
    if (budget)
      run_options.retry_budget = std::min(run_options.retry_budget, *budget);
    run_options.wait_replicas = cluster.wait_replicas;
    run_options.wait_timeout = wait_bound();
    detail::run_cluster_commands(topology, commands, op, run_options, writes);
  }

  /// Runs commands that all answer `expected`, throwing the first failure.
  void run_checked(std::vector<ClusterCommand>& commands, const RedisOperation& op, bool writes,
                   int expected) {
    if (commands.empty())
      return;
    run(commands, op, writes);
    for (const ClusterCommand& command : commands)
      detail::check_cluster_reply(command, op, expected);
  }

  /// Best effort after a failed write: drop the keys it wrote (or may
  /// have written), within cleanup_retry_budget. Whether that worked.
  bool remove_quietly(const std::vector<std::string>& keys) noexcept {
    try {
      std::vector<ClusterCommand> commands;
      commands.reserve(keys.size());
      for (const std::string& key : keys)
        commands.push_back(key_command("UNLINK", key));
      if (commands.empty())
        return true;
      const RedisOperation op{"UNLINK after a failed write", std::string_view(), keys.size()};
      run(commands, op, false, cleanup_retry_budget);
      for (const ClusterCommand& command : commands)
        detail::check_cluster_reply(command, op, REDIS_REPLY_INTEGER);
      return true;
    } catch (...) {  // NOLINT(bugprone-empty-catch): the write's own error is what is thrown
      return false;
    }
  }

  /// After a write failed (e.g. WAIT found too few replicas, or a node
  /// went away): removes `written` — the caller never learns the keys, so
  /// nobody else ever would — and rethrows. A StoreOperationError is
  /// rethrown naming the keys and whether they were removed.
  [[noreturn]] void fail_write(const std::vector<std::string>& written) {
    const bool removed = remove_quietly(written);
    try {
      throw;
    } catch (const StoreOperationError& e) {
      std::string names;
      const std::size_t shown = std::min<std::size_t>(written.size(), 3);
      for (std::size_t i = 0; i < shown; ++i)
        names += fmt::format("{}\"{}\"", i == 0 ? "" : ", ", detail::printable(written[i]));
      if (written.size() > shown)
        names += fmt::format(" and {} more", written.size() - shown);
      throw StoreOperationError(fmt::format(
          "{}; {} the key(s) it wrote: {}", e.what(),
          removed ? "removed" : "could not remove (they may stay until evicted)", names));
    }
  }

  // --- writes --------------------------------------------------------------

  /// Writes every item: chunks of large (or manifest-like) values first,
  /// spread over the slots, then values and manifests (write_values) — so
  /// a reader never sees a manifest whose chunks are not all there yet.
  ///
  /// With `px` (a TTL in ms) every key, chunks included, is written with
  /// `SET ... PX`. When the write fails (WAIT, a node gone) every key it
  /// may have written is removed before the error is thrown (fail_write).
  void put(const std::vector<PutItem>& items, std::string_view px = {}) {
    std::vector<ClusterCommand> chunks;
    std::vector<std::string> chunk_keys;
    std::vector<detail::DirectItem> values;
    values.reserve(items.size());
    std::deque<std::string> manifests;  // stable addresses: commands view them
    for (const PutItem& item : items) {
      if (item.value.size() <= options.chunk_size && !detail::is_chunk_manifest(item.value)) {
        values.push_back(detail::DirectItem{item.key, item.value});
        continue;
      }
      const ChunkManifest manifest =
          detail::make_chunk_manifest(item.value.size(), options.chunk_size);
      for (std::uint64_t i = 0; i < manifest.count; ++i) {
        chunk_keys.push_back(detail::chunk_key(item.chunk_base, i));
        ClusterCommand chunk =
            owned_key_command("SET", chunk_keys.back(),
                              item.value.substr(static_cast<std::size_t>(i * manifest.chunk_size),
                                                static_cast<std::size_t>(manifest.size_of(i))),
                              true);
        if (!px.empty())
          chunk.args.add("PX").add(px);
        chunks.push_back(std::move(chunk));
      }
      manifests.push_back(detail::encode_chunk_manifest(manifest));
      values.push_back(detail::DirectItem{item.key, manifests.back()});
    }
    const bool single = items.size() == 1;
    try {
      run_checked(chunks,
                  RedisOperation{single ? "SET chunks of" : "SET chunks",
                                 single ? std::string_view(items.front().key) : std::string_view(),
                                 items.size()},
                  true, REDIS_REPLY_STATUS);
      write_values(values, px,
                   RedisOperation{single ? "SET" : (px.empty() ? "MSET" : "SET batch"),
                                  single ? std::string_view(items.front().key) : std::string_view(),
                                  single ? 0 : items.size()});
    } catch (const Error&) {
      std::vector<std::string> written = std::move(chunk_keys);
      for (const PutItem& item : items)
        written.push_back(item.key);
      fail_write(written);
    }
  }

  /// The commands writing `items`: one MSET per slot (split in windows of
  /// window_bytes; SET where a slot has one value) — a batch minted by
  /// do_new_keys has one slot per primary, so that is one MSET per node;
  /// with `px`, one `SET ... PX` each (MSET takes no TTL).
  static std::vector<ClusterCommand> set_commands(const std::vector<detail::DirectItem>& items,
                                                  std::string_view px) {
    std::vector<ClusterCommand> out;
    if (!px.empty()) {
      out.reserve(items.size());
      for (const detail::DirectItem& item : items) {
        RedisArgs args(5);
        args.add("SET").add(item.key).add(item.value).add("PX").add(px);
        out.emplace_back(key_slot(item.key), std::move(args));
      }
      return out;
    }
    std::map<int, std::vector<std::size_t>> by_slot;
    for (std::size_t i = 0; i < items.size(); ++i)
      by_slot[key_slot(items[i].key)].push_back(i);
    for (const auto& entry : by_slot) {
      const std::vector<std::size_t>& of = entry.second;
      for (std::size_t begin = 0; begin < of.size();) {
        std::size_t end = begin;
        std::size_t bytes = 0;
        while (end < of.size() &&
               (end == begin || bytes + items[of[end]].value.size() <= detail::window_bytes)) {
          bytes += items[of[end]].value.size();
          ++end;
        }
        RedisArgs args(1 + 2 * (end - begin));
        args.add(end - begin == 1 ? "SET" : "MSET");
        for (std::size_t i = begin; i < end; ++i)
          args.add(items[of[i]].key).add(items[of[i]].value);
        out.emplace_back(entry.first, std::move(args));
        out.back().multi_key = end - begin > 1;
        begin = end;
      }
    }
    return out;
  }

  /// Writes values (set_commands). An MSET Redis refuses because its slot
  /// is being migrated (ASK, TRYAGAIN) is written again key by key: single
  /// SETs follow ASK to the importing node.
  void write_values(const std::vector<detail::DirectItem>& items, std::string_view px,
                    const RedisOperation& op) {
    std::vector<ClusterCommand> commands = set_commands(items, px);
    if (commands.empty())
      return;
    run(commands, op, true);
    std::vector<ClusterCommand> singles;
    for (ClusterCommand& command : commands) {
      if (!detail::unstable_multi_key(command)) {
        detail::check_cluster_reply(command, op, REDIS_REPLY_STATUS);
        continue;
      }
      const char** argv = command.args.argv();
      const std::size_t* length = command.args.lengths();
      for (std::size_t a = 1; a + 1 < command.args.size(); a += 2) {
        RedisArgs args(3);
        args.add("SET").add({argv[a], length[a]}).add({argv[a + 1], length[a + 1]});
        singles.emplace_back(command.slot, std::move(args));
      }
    }
    run_checked(singles, op, true, REDIS_REPLY_STATUS);
  }

  /// Writes one value straight to its slot's primary from its own memory
  /// (send_set_direct: one writev of `head` and `body`, no copy). False
  /// when this way cannot, and the general path must: a value too small or
  /// to be chunked, replicas to wait for (WAIT goes the general way), no
  /// slot map yet, a redirection, a broken pooled connection. A timeout is
  /// thrown: the node already had its bound.
  bool put_directly(const std::string& k, std::string_view head, std::string_view body,
                    std::string_view px) {
    if (cluster.wait_replicas > 0 ||
        !detail::writes_direct(head.size() + body.size(), head, body, options.chunk_size))
      return false;
    std::shared_ptr<detail::ClusterNode> node;
    RedisReplyPtr reply;
    const RedisOperation op{"SET", k};
    try {
      node = topology.owner(key_slot(k));
      if (!node)
        return false;
      detail::RedisConnectionPool::Lease lease = node->pool().borrow();
      detail::send_set_direct(*lease, op, k, head, body, px);
      reply = lease->reply(op);
    } catch (const TimeoutError&) {
      throw;
    } catch (const ConnectionError&) {
      return false;
    }
    if (reply->type == REDIS_REPLY_ERROR && (detail::parse_redirect(view_of(*reply)) ||
                                             detail::is_transient_cluster_error(view_of(*reply))))
      return false;
    if (reply->type == REDIS_REPLY_ERROR)
      detail::throw_reply_error(node->endpoint(), op, *reply);
    if (reply->type != REDIS_REPLY_STATUS)
      detail::throw_unexpected_reply(node->endpoint(), op, *reply);
    return true;
  }

  /// Many values, each written with `px` (a TTL in ms) when it is set.
  void put_batch(const std::vector<std::pair<Key, std::string_view>>& items, std::string_view px) {
    if (items.empty())
      return;
    std::vector<PutItem> puts;
    puts.reserve(items.size());
    for (const auto& [key, bytes] : items)
      puts.push_back(PutItem{redis_key(key), chunk_base(key), bytes});
    put(puts, px);
  }

  /// A future's result with `ttl` (zero: the lease marker's, if any):
  /// chunks first (if large), then the value or manifest, each with
  /// SET ... PX when there is a TTL, then the wake-up token with the same
  /// TTL in one single-key script (token_script) — followed by WAIT like
  /// any write; on failure everything is removed (fail_write). Only
  /// single-key commands, so a slot being migrated (ASK) serves them; a
  /// writer killed between them leaves keys that all expire.
  void put_result(const Key& key, std::string_view bytes, std::chrono::milliseconds ttl) {
    const std::string k = redis_key(key);
    const std::string ready = detail::ready_key(k);
    const std::string lease = detail::lease_key(k);
    long long millis = std::max<long long>(ttl.count(), 0);
    if (millis == 0) {
      std::vector<ClusterCommand> pttl;
      pttl.push_back(key_command("PTTL", lease));
      const RedisOperation pttl_op{"PTTL", lease};
      run(pttl, pttl_op, false);
      millis = std::max(
          detail::check_cluster_reply(pttl.front(), pttl_op, REDIS_REPLY_INTEGER).integer, 0LL);
    }
    const std::string px = std::to_string(millis);
    std::string_view value = bytes;
    std::string manifest_bytes;
    std::vector<std::string> written;
    std::vector<ClusterCommand> chunks;
    if (bytes.size() > options.chunk_size || detail::is_chunk_manifest(bytes)) {
      const ChunkManifest manifest = detail::make_chunk_manifest(bytes.size(), options.chunk_size);
      manifest_bytes = detail::encode_chunk_manifest(manifest);
      const std::string base = chunk_base(key);
      for (std::uint64_t i = 0; i < manifest.count; ++i) {
        written.push_back(detail::chunk_key(base, i));
        ClusterCommand chunk =
            owned_key_command("SET", written.back(),
                              bytes.substr(static_cast<std::size_t>(i * manifest.chunk_size),
                                           static_cast<std::size_t>(manifest.size_of(i))),
                              true);
        if (millis > 0)
          chunk.args.add("PX").add_owned(px);
        chunks.push_back(std::move(chunk));
      }
      value = manifest_bytes;
    }
    written.push_back(k);
    written.push_back(ready);
    std::vector<ClusterCommand> set;
    set.push_back(key_command("SET", k, {value}));
    if (millis > 0)
      set.front().args.add("PX").add(px);
    RedisArgs token(5);
    token.add("EVAL").add(detail::token_script).add("1").add(ready).add(px);
    std::vector<ClusterCommand> push;
    push.emplace_back(key_slot(ready), std::move(token));
    try {
      run_checked(chunks, RedisOperation{"SET chunks of", k}, true, REDIS_REPLY_STATUS);
      // The value first: a woken waiter must find it.
      run_checked(set, RedisOperation{"SET", k}, true, REDIS_REPLY_STATUS);
      run_checked(push, RedisOperation{"EVAL wake-up token", ready}, true, REDIS_REPLY_INTEGER);
    } catch (const Error&) {
      fail_write(written);
    }
  }

  // --- reads ---------------------------------------------------------------

  /// One value of a GET or MGET reply under `keys[i]`: a view of the reply
  /// (kept alive by `owner`; no copy) into `values[i]`, nothing for nil, or
  /// — for a manifest — nothing yet: it is added to `chunked`.
  void take_value(const redisReply& element, const std::shared_ptr<const void>& owner,
                  const detail::ClusterNode& node, const std::vector<Key>& keys,
                  const std::vector<std::string>& redis_keys, std::size_t i,
                  std::vector<std::optional<Bytes>>& values, std::vector<ChunkedValue>& chunked,
                  std::vector<std::size_t>& chunked_at) const {
    if (element.type == REDIS_REPLY_NIL)
      return;
    if (element.type != REDIS_REPLY_STRING) {
      throw StoreOperationError(
          fmt::format("{}: MGET \"{}\" failed: the key holds a non-string value",
                      node.endpoint().subject(), detail::printable(redis_keys[i])));
    }
    if (detail::is_chunk_manifest(view_of(element))) {
      chunked.push_back(
          ChunkedValue{redis_keys[i], chunk_base(keys[i]),
                       detail::checked_manifest(node.endpoint().subject(), redis_keys[i],
                                                view_of(element), options.store.max_object_size)});
      chunked_at.push_back(i);
      return;
    }
    values[i].emplace(element.str, element.len, owner);
  }

  /// The fast path for large values: each primary's chunks are read on
  /// one of its pooled connections, one after another, every payload
  /// received straight into its place in the value (no staging in
  /// hiredis, no copy), the primaries in parallel (detail::
  /// read_chunks_directly on each). Best effort: a chunk it cannot read so
  /// (a redirection, a broken connection) stays pending for the general
  /// path, which retries and reports. A timeout is thrown, though (that
  /// node already had its bound), and so is a chunk of the wrong size.
  void read_directly(std::vector<ChunkRead>& chunks) {
    std::map<std::shared_ptr<detail::ClusterNode>, std::vector<std::size_t>> by_node;
    try {
      for (std::size_t c = 0; c < chunks.size(); ++c) {
        if (std::shared_ptr<detail::ClusterNode> node = topology.owner(key_slot(chunks[c].key)))
          by_node[node].push_back(c);
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): no map yet; the general path loads it
      return;
    }
    std::vector<std::exception_ptr> failures(by_node.size());
    auto read_node = [&chunks](detail::ClusterNode& node, const std::vector<std::size_t>& mine,
                               std::exception_ptr& failure) noexcept {
      try {
        detail::RedisConnectionPool::Lease lease = node.pool().borrow();
        detail::read_chunks_directly(*lease, chunks, mine);
      } catch (const TimeoutError&) {
        failure = std::current_exception();
      } catch (const StoreOperationError&) {  // a chunk of the wrong size
        failure = std::current_exception();
      } catch (...) {  // NOLINT(bugprone-empty-catch): what is left pending goes the general way
      }
    };
    if (by_node.empty())
      return;
    std::vector<std::thread> threads;
    const auto first = by_node.begin();
    try {
      std::size_t n = 1;
      for (auto other = std::next(first); other != by_node.end(); ++other, ++n) {
        threads.emplace_back(
            [&, other, n] { read_node(*other->first, other->second, failures[n]); });
      }
    } catch (...) {  // NOLINT(bugprone-empty-catch): no thread: those nodes go the general way
    }
    read_node(*first->first, first->second, failures.front());
    for (std::thread& thread : threads)
      thread.join();
    for (const std::exception_ptr& failure : failures) {
      if (failure)
        std::rethrow_exception(failure);
    }
  }

  /// Reads every pending chunk of `chunks`: each primary's directly
  /// (read_directly, the primaries in parallel), whatever that left
  /// pipelined, with redirections and retries, copied into place. A chunk
  /// of another size or an error reply is thrown.
  void fetch_chunks(std::vector<ChunkRead>& chunks, const RedisOperation& op) {
    read_directly(chunks);
    std::vector<ClusterCommand> commands;
    std::vector<std::size_t> of;  // chunk index per command
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      if (chunks[c].state == ChunkRead::State::pending) {
        commands.push_back(key_command("GET", chunks[c].key));
        of.push_back(c);
      }
    }
    run(commands, op, false);
    for (std::size_t k = 0; k < commands.size(); ++k)
      detail::take_chunk_reply(commands[k].node->endpoint(), op, *commands[k].reply, chunks[of[k]]);
  }

  /// Reads the chunks of every value — each batch from all primaries at
  /// once (fetch_chunks) — into one buffer per value that grows with the
  /// bytes received (detail::ChunkAssembler: batches double, so a forged
  /// manifest whose chunks do not exist costs one GET). A missing chunk
  /// means the value was evicted meanwhile: nullopt, and no further GET.
  std::vector<std::optional<Bytes>> read_chunks(const std::vector<ChunkedValue>& values) {
    const bool single = values.size() == 1;
    const RedisOperation op{single ? "GET chunks of" : "GET chunks",
                            single ? std::string_view(values.front().key) : std::string_view(),
                            values.size()};
    std::vector<std::optional<Bytes>> out(values.size());
    for (std::size_t v = 0; v < values.size(); ++v) {
      detail::ChunkAssembler assembler(values[v].manifest, chunk_batch_bytes);
      for (;;) {
        const auto [first, end] = assembler.next_batch();
        if (first == end)
          break;
        std::vector<ChunkRead> chunks;
        chunks.reserve(static_cast<std::size_t>(end - first));
        for (std::uint64_t i = first; i < end; ++i) {
          chunks.push_back(ChunkRead{i, detail::chunk_key(values[v].chunk_base, i),
                                     assembler.slot(i), assembler.size_of(i)});
        }
        fetch_chunks(chunks, op);
        for (const ChunkRead& chunk : chunks) {
          if (chunk.state == ChunkRead::State::absent)
            assembler.mark_missing();
        }
      }
      out[v] = assembler.take();
    }
    return out;
  }

  /// A GET started on the primary of a key's slot, on one of its pooled
  /// connections, with a direct read (start_direct_get): a large payload
  /// is still on the socket, to land in its final buffer.
  struct Direct {
    detail::RedisConnectionPool::Lease lease;
    detail::RedisFound found;
  };

  /// start_direct_get on the primary of `k`'s slot; nullopt when this way
  /// cannot answer — no slot map yet, a redirection or other error reply,
  /// a broken connection — and the general path must (it follows,
  /// retries and reports). A timeout is thrown: the node already had its
  /// bound; so is a value over the maximum object size.
  std::optional<Direct> start_directly(const std::string& k) {
    try {
      std::shared_ptr<detail::ClusterNode> node = topology.owner(key_slot(k));
      if (!node)
        return std::nullopt;
      detail::RedisConnectionPool::Lease lease = node->pool().borrow();
      if (!lease->quiescent())
        return std::nullopt;
      detail::RedisFound found = detail::start_direct_get(*lease, k, RedisOperation{"GET", k},
                                                          options.store.max_object_size);
      return Direct{std::move(lease), std::move(found)};
    } catch (const TimeoutError&) {
      throw;
    } catch (const SerializationError&) {
      throw;  // the general path would only read the same claim again
    } catch (const Error&) {
      return std::nullopt;
    }
  }

  /// A small value read whole: itself, or the value its manifest announces
  /// (chunks read from all primaries), nullopt when a chunk is gone.
  std::optional<Bytes> unless_manifest(const std::string& k, const Key& key, Bytes value) {
    if (!detail::is_chunk_manifest(value.view()))
      return value;
    const std::vector<ChunkedValue> chunked{ChunkedValue{
        k, chunk_base(key),
        detail::checked_manifest(subject(), k, value.view(), options.store.max_object_size)}};
    return std::move(read_chunks(chunked).front());
  }

  /// One value: directly if possible (start_directly: a large payload is
  /// received straight into the value's buffer), else the general way.
  std::optional<Bytes> get_one(const Key& key) {
    const std::string k = redis_key(key);
    std::optional<Direct> direct = start_directly(k);
    if (!direct)
      return std::move(get({key}).front());
    if (direct->found.kind == detail::RedisFound::Kind::absent)
      return std::nullopt;
    if (direct->found.kind == detail::RedisFound::Kind::pending) {
      try {
        return detail::receive_value(*direct->lease, RedisOperation{"GET", k}, direct->found.size);
      } catch (const TimeoutError&) {
        throw;
      } catch (const Error&) {
        direct.reset();  // the connection is dropped; the general path retries
        return std::move(get({key}).front());
      }
    }
    Bytes value = std::move(*direct->found.bytes);
    direct.reset();  // its connection back to the pool before the chunks are read
    return unless_manifest(k, key, std::move(value));
  }

  /// Values of many keys: one MGET per slot (GET where a slot has one key)
  /// — a batch minted by do_new_keys has one slot per primary, so that is
  /// one MGET per node — all nodes at once; then the chunks of any chunked
  /// ones. An MGET refused mid-migration (ASK, TRYAGAIN) is asked again
  /// key by key: single GETs follow ASK.
  std::vector<std::optional<Bytes>> get(const std::vector<Key>& keys) {
    std::vector<std::string> redis_keys;
    redis_keys.reserve(keys.size());
    for (const Key& key : keys)
      redis_keys.push_back(redis_key(key));
    const bool single = keys.size() == 1;
    const RedisOperation op{single ? "GET" : "MGET",
                            single ? std::string_view(redis_keys.front()) : std::string_view(),
                            single ? 0 : keys.size()};
    std::map<int, std::vector<std::size_t>> by_slot;
    for (std::size_t i = 0; i < redis_keys.size(); ++i)
      by_slot[key_slot(redis_keys[i])].push_back(i);
    std::vector<ClusterCommand> commands;
    std::vector<std::vector<std::size_t>> of;  // key indices per command
    for (const auto& entry : by_slot) {
      RedisArgs args(1 + entry.second.size());
      args.add(entry.second.size() == 1 ? "GET" : "MGET");
      for (const std::size_t i : entry.second)
        args.add(redis_keys[i]);
      commands.emplace_back(entry.first, std::move(args));
      commands.back().multi_key = entry.second.size() > 1;
      of.push_back(entry.second);
    }
    std::vector<std::optional<Bytes>> values(keys.size());
    std::vector<ChunkedValue> chunked;
    std::vector<std::size_t> chunked_at;
    while (!commands.empty()) {
      run(commands, op, false);
      std::vector<ClusterCommand> singles;
      std::vector<std::vector<std::size_t>> single_of;
      for (std::size_t c = 0; c < commands.size(); ++c) {
        ClusterCommand& command = commands[c];
        if (detail::unstable_multi_key(command)) {
          for (const std::size_t i : of[c]) {
            singles.push_back(key_command("GET", redis_keys[i]));
            single_of.push_back({i});
          }
          continue;
        }
        const int expected = command.multi_key ? REDIS_REPLY_ARRAY : REDIS_REPLY_STRING;
        const redisReply& reply = detail::check_cluster_reply(command, op, expected, true);
        const std::shared_ptr<detail::ClusterNode> node = command.node;
        const std::shared_ptr<const void> owner = detail::share(std::move(command.reply));
        if (!command.multi_key) {
          take_value(reply, owner, *node, keys, redis_keys, of[c].front(), values, chunked,
                     chunked_at);
          continue;
        }
        if (reply.type != REDIS_REPLY_ARRAY || reply.elements != of[c].size()) {
          throw StoreOperationError(fmt::format("{}: {} failed: {} values in the reply for {} keys",
                                                node->endpoint().subject(), op.describe(),
                                                reply.elements, of[c].size()));
        }
        for (std::size_t e = 0; e < of[c].size(); ++e) {
          take_value(*reply.element[e], owner, *node, keys, redis_keys, of[c][e], values, chunked,
                     chunked_at);
        }
      }
      commands = std::move(singles);
      of = std::move(single_of);
    }
    if (!chunked.empty()) {
      std::vector<std::optional<Bytes>> assembled = read_chunks(chunked);
      for (std::size_t j = 0; j < chunked.size(); ++j)
        values[chunked_at[j]] = std::move(assembled[j]);
    }
    return values;
  }

  /// `command` (UNLINK or PEXPIRE ... `argument`) on a key, its future
  /// companion and, when the value is chunked, every chunk. The value's
  /// head is read in the same round trip as the key's own command, to
  /// recognise a manifest without reading a whole value.
  /// PEXPIRE also sets the lease marker (first: a result written meanwhile
  /// finds it), UNLINK removes it too. Single-key commands only, pipelined
  /// to the slot's node in order, so a slot being migrated serves them.
  void on_every_part(const Key& key, const char* command, std::string_view argument) {
    const std::string k = redis_key(key);
    const std::string ready = detail::ready_key(k);
    const std::string lease = detail::lease_key(k);
    const bool expiring = std::strcmp(command, "PEXPIRE") == 0;
    const std::string last = std::to_string(detail::chunk_manifest_max_size - 1);
    // `command <key> [argument]`; the key is viewed (it outlives the run).
    auto on = [&](const std::string& target) {
      ClusterCommand made = key_command(command, target);
      if (!argument.empty())
        made.args.add(argument);
      return made;
    };
    std::vector<ClusterCommand> commands;
    commands.push_back(key_command("GETRANGE", k, {"0", last}));
    if (expiring)
      commands.push_back(key_command("SET", lease, {"1", "PX", argument}));
    else
      commands.push_back(on(lease));
    commands.push_back(on(k));
    commands.push_back(on(ready));
    const RedisOperation head_op{"GETRANGE", k};
    const RedisOperation op{command, k};
    run(commands, op, false);
    detail::check_cluster_reply(commands[1], op,
                                expiring ? REDIS_REPLY_STATUS : REDIS_REPLY_INTEGER);
    detail::check_cluster_reply(commands[2], op, REDIS_REPLY_INTEGER);
    detail::check_cluster_reply(commands[3], op, REDIS_REPLY_INTEGER);
    const redisReply& head = *commands[0].reply;
    if (head.type == REDIS_REPLY_ERROR && std::strncmp(head.str, "WRONGTYPE", 9) == 0)
      return;  // not a value of ours; the key itself was handled
    detail::check_cluster_reply(commands[0], head_op, REDIS_REPLY_STRING);
    if (!detail::is_chunk_manifest(view_of(head)))
      return;
    const std::optional<ChunkManifest> manifest = detail::decode_chunk_manifest(view_of(head));
    if (!manifest)
      return;  // not ours to interpret
    // In batches, until one finds none of its keys: a manifest (maybe
    // forged) claiming millions of chunks costs one batch past the chunks
    // that are really there.
    const std::string base = chunk_base(key);
    for (std::uint64_t first = 0; first < manifest->count; first += chunk_keys_per_batch) {
      const std::uint64_t end = std::min(manifest->count, first + chunk_keys_per_batch);
      std::vector<ClusterCommand> chunks;
      chunks.reserve(static_cast<std::size_t>(end - first));
      for (std::uint64_t i = first; i < end; ++i) {
        ClusterCommand chunk = owned_key_command(command, detail::chunk_key(base, i));
        if (!argument.empty())
          chunk.args.add(argument);
        chunks.push_back(std::move(chunk));
      }
      run_checked(chunks, RedisOperation{command, k, 0}, false, REDIS_REPLY_INTEGER);
      long long found = 0;
      for (const ClusterCommand& chunk : chunks)
        found += chunk.reply->integer;
      if (found == 0)
        return;
    }
  }
};

// --- RedisClusterStore -----------------------------------------------------------

RedisClusterStore::RedisClusterStore(std::string name, std::vector<std::string> seed_nodes,
                                     RedisOptions options, RedisClusterOptions cluster)
    : Store(std::move(name), options.store) {
  auto invalid = [&](std::string_view what) {
    return Error(
        fmt::format("redis cluster store \"{}\": invalid options: {}", this->name(), what));
  };
  std::vector<HostPort> seeds =
      detail::parse_seed_nodes(fmt::format("redis cluster store \"{}\"", this->name()), seed_nodes);
  if (options.db != 0) {
    throw invalid(
        fmt::format("db {} requested, but a Redis Cluster has only database 0", options.db));
  }
  if (options.key_prefix.find_first_of("{}") != std::string::npos) {
    throw invalid(fmt::format(
        "key_prefix \"{}\" contains '{{' or '}}' (the store puts each key's id in a hash tag)",
        options.key_prefix));
  }
  if (cluster.wait_timeout.count() < 0)
    throw invalid("timeouts must not be negative");
  detail::check_node_options(options, fmt::format("redis cluster store \"{}\"", this->name()));
  if (cluster.wait_replicas < 0)
    throw invalid(fmt::format("wait_replicas {} is negative", cluster.wait_replicas));
  impl_ = std::make_unique<Impl>(this->name(), std::move(seed_nodes), std::move(seeds),
                                 std::move(options), cluster);
}

RedisClusterStore::~RedisClusterStore() = default;

const std::vector<std::string>& RedisClusterStore::seed_nodes() const noexcept {
  return impl_->seed_nodes;
}

void RedisClusterStore::set_node_check(std::function<void(const std::string&, int)> check) {
  impl_->topology.set_node_check(std::move(check));
}

int RedisClusterStore::slot_for_key(const Key& key) const {
  return key_slot(impl_->redis_key(key));
}

std::string RedisClusterStore::node_for_key(const Key& key) {
  const int slot = slot_for_key(key);
  std::shared_ptr<detail::ClusterNode> node = impl_->topology.owner(slot);
  if (!node) {
    throw ConnectionError(fmt::format("{}: slot {} (key \"{}\") is not served by any node",
                                      impl_->subject(), slot, key.id));
  }
  return node->address();
}

std::vector<std::string> RedisClusterStore::primaries() {
  std::vector<std::string> out;
  for (const auto& node : impl_->topology.primaries())
    out.push_back(node->address());
  return out;
}

void RedisClusterStore::refresh_slot_map() {
  impl_->topology.refresh();
}

StoreConfig RedisClusterStore::config() const {
  std::string seeds;
  for (const std::string& seed : impl_->seed_nodes)
    seeds += (seeds.empty() ? "" : ",") + seed;
  StoreConfig config{"redis-cluster",
                     name(),
                     {{"seeds", seeds},
                      {"wait_replicas", std::to_string(impl_->cluster.wait_replicas)},
                      {"wait_timeout_ms", std::to_string(impl_->cluster.wait_timeout.count())}}};
  detail::add_common_redis_options(impl_->options, config.options);
  return config;
}

std::shared_ptr<RedisClusterStore> RedisClusterStore::from_config(const StoreConfig& config) {
  auto seeds_option = config.options.find("seeds");
  if (seeds_option == config.options.end() || seeds_option->second.empty()) {
    throw Error(
        fmt::format("redis cluster store \"{}\": config has no 'seeds' option", config.name));
  }
  std::vector<std::string> seeds;
  const std::string& text = seeds_option->second;
  for (std::size_t begin = 0; begin <= text.size();) {
    const std::size_t comma = std::min(text.find(',', begin), text.size());
    seeds.push_back(text.substr(begin, comma - begin));
    begin = comma + 1;
  }
  if (detail::integer_option(config, "db", 0, 0, 0) != 0) {
    throw Error(fmt::format("redis cluster store \"{}\": a cluster has only db 0", config.name));
  }
  RedisOptions options;
  detail::read_common_redis_options(config, options);
  RedisClusterOptions cluster;
  cluster.wait_replicas = static_cast<int>(detail::integer_option(
      config, "wait_replicas", 0, std::numeric_limits<int>::max(), cluster.wait_replicas));
  cluster.wait_timeout = std::chrono::milliseconds(detail::integer_option(
      config, "wait_timeout_ms", 0, std::numeric_limits<int>::max(), cluster.wait_timeout.count()));
  auto store = std::make_shared<RedisClusterStore>(config.name, std::move(seeds),
                                                   std::move(options), cluster);
  // Each node gets only the password bound to its own host:port, so a
  // forged seed list or slot map cannot collect it (redis_credentials.hpp).
  store->impl_->topology.set_node_credentials([](RedisEndpoint& endpoint) {
    detail::bind_redis_credentials(endpoint.host, endpoint.port, endpoint.username,
                                   endpoint.password);
  });
  return store;
}

bool RedisClusterStore::is_plain_cluster_store() const noexcept {
  return typeid(*this) == typeid(RedisClusterStore);
}

std::vector<Key> RedisClusterStore::do_new_keys(std::size_t count) {
  if (!is_plain_cluster_store())
    return Store::do_new_keys(count);  // a derived class may mint its own keys
  // One more id than asked: its bits choose the slots.
  std::vector<Key> keys = detail::random_ids(count + 1, impl_->subject());
  const std::uint64_t random = std::stoull(keys.back().id.substr(0, 16), nullptr, 16);
  keys.pop_back();
  if (count < 2)
    return keys;
  std::vector<int> slots;
  try {
    slots = impl_->topology.slot_per_primary(random);
  } catch (const ConnectionError&) {
    return keys;  // no slot map: untagged keys; the write reports the cluster
  }
  if (slots.empty())
    return keys;
  // One group per primary, as even as can be; each id starts with a hash
  // tag naming a slot of that primary: `<prefix>{<tag>}<random>}`.
  for (std::size_t k = 0; k < count; ++k) {
    const std::string& tag = detail::slot_tag(slots[k * slots.size() / count]);
    keys[k].id.insert(0, tag + "}");
  }
  return keys;
}

void RedisClusterStore::do_ping() {
  for (const std::shared_ptr<detail::ClusterNode>& node : impl_->topology.primaries())
    node->redis().ping();
}

void RedisClusterStore::do_put(const Key& key, std::string_view bytes) {
  const std::string k = impl_->redis_key(key);
  if (impl_->put_directly(k, bytes, {}, {}))
    return;
  impl_->put({PutItem{k, impl_->chunk_base(key), bytes}});
}

void RedisClusterStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  // A class derived from RedisClusterStore may decorate do_put: for it the
  // value goes through do_put, joined first, as for any store.
  if (!is_plain_cluster_store() || !impl_->put_directly(impl_->redis_key(key), head, body, {}))
    Store::do_put_parts(key, head, body);
}

void RedisClusterStore::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  impl_->put_batch(items, {});
}

std::optional<Bytes> RedisClusterStore::do_get(const Key& key) {
  return impl_->get_one(key);
}

bool RedisClusterStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  if (!is_plain_cluster_store())
    return Store::do_read(key, consume);  // a derived class's do_get stays authoritative
  const std::string k = impl_->redis_key(key);
  std::optional<Impl::Direct> direct = impl_->start_directly(k);
  std::optional<Bytes> value;
  if (!direct) {
    value = std::move(impl_->get({key}).front());
  } else if (direct->found.kind == detail::RedisFound::Kind::pending) {
    // The consumer reads the payload where it wants it (Store::get: into
    // the object's own memory).
    detail::lend_value(*direct->lease, RedisOperation{"GET", k}, direct->found.size, consume);
    return true;
  } else if (direct->found.kind == detail::RedisFound::Kind::bytes) {
    Bytes small = std::move(*direct->found.bytes);
    direct.reset();  // its connection back to the pool before chunks are read
    if (detail::is_chunk_manifest(small.view())) {
      // The chunks land straight in the object (ChunkValueReader), each
      // batch read from all primaries at once.
      const RedisOperation op{"GET chunks of", k};
      return detail::consume_chunked(
          detail::checked_manifest(impl_->subject(), k, small.view(),
                                   impl_->options.store.max_object_size),
          impl_->chunk_base(key), chunk_batch_bytes,
          [&](std::vector<ChunkRead>& chunks) { impl_->fetch_chunks(chunks, op); }, consume);
    }
    value = std::move(small);
  }
  if (!value)
    return false;
  detail::BytesReader reader(value->view());
  consume(reader);
  return true;
}

std::vector<std::optional<Bytes>> RedisClusterStore::do_get_batch(const std::vector<Key>& keys) {
  if (keys.empty())
    return {};
  return impl_->get(keys);
}

bool RedisClusterStore::do_exists(const Key& key) {
  const std::string k = impl_->redis_key(key);
  std::vector<ClusterCommand> commands;
  commands.push_back(key_command("EXISTS", k));
  const RedisOperation op{"EXISTS", k};
  impl_->run(commands, op, false);
  return detail::check_cluster_reply(commands.front(), op, REDIS_REPLY_INTEGER).integer > 0;
}

void RedisClusterStore::do_evict(const Key& key) {
  impl_->on_every_part(key, "UNLINK", {});
}

bool RedisClusterStore::do_expire(const Key& key, std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) {
    do_evict(key);
    return true;
  }
  impl_->on_every_part(key, "PEXPIRE", std::to_string(ttl.count()));
  return true;
}

void RedisClusterStore::do_put_result(const Key& key, std::string_view bytes) {
  impl_->put_result(key, bytes, std::chrono::milliseconds(0));
}

void RedisClusterStore::do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                               std::chrono::milliseconds ttl) {
  impl_->put_result(key, bytes, ttl);
}

void RedisClusterStore::do_put_with_ttl(const Key& key, std::string_view bytes,
                                        std::chrono::milliseconds ttl) {
  const std::string px = std::to_string(ttl.count());
  const std::string k = impl_->redis_key(key);
  if (impl_->put_directly(k, bytes, {}, px))
    return;
  impl_->put({PutItem{k, impl_->chunk_base(key), bytes}}, px);
}

void RedisClusterStore::do_put_parts_with_ttl(const Key& key, std::string_view head,
                                              std::string_view body,
                                              std::chrono::milliseconds ttl) {
  if (is_plain_cluster_store() &&
      impl_->put_directly(impl_->redis_key(key), head, body, std::to_string(ttl.count())))
    return;
  std::string joined;
  joined.reserve(head.size() + body.size());
  joined.append(head).append(body);
  do_put_with_ttl(key, joined, ttl);
}

void RedisClusterStore::do_put_batch_with_ttl(
    const std::vector<std::pair<Key, std::string_view>>& items, std::chrono::milliseconds ttl) {
  impl_->put_batch(items, std::to_string(ttl.count()));
}

std::optional<Bytes> RedisClusterStore::do_wait_get(const Key& key,
                                                    std::chrono::milliseconds timeout) {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + timeout;
  const std::string ready = detail::ready_key(impl_->redis_key(key));
  const int slot = key_slot(ready);
  // A connection of its own to the slot's primary, whose read timeout
  // covers the whole wait (a pooled one would be held that long). After a
  // redirection or a lost connection (failover) it is opened again.
  // After an ASK (the slot is migrating and the list is not on the
  // source), the wait moves to the importing node, which serves the list
  // only to a client that sent ASKING just before.
  RedisEndpoint endpoint;
  std::unique_ptr<RedisConnection> connection;
  std::shared_ptr<detail::ClusterNode> ask_target;
  bool asking = false;  // the connection is to an ASK target
  auto block = [&](std::chrono::milliseconds left) {
    const RedisOperation op{"BRPOPLPUSH", ready};
    RedisReplyPtr reply;
    try {
      if (!connection) {
        std::shared_ptr<detail::ClusterNode> node = std::exchange(ask_target, nullptr);
        asking = node != nullptr;
        if (!node)
          node = impl_->topology.owner(slot);
        if (!node)
          throw ConnectionError(
              fmt::format("{}: slot {} is not served by any node", impl_->subject(), slot));
        endpoint = node->endpoint();
        if (endpoint.command_timeout.count() > 0)
          endpoint.command_timeout += timeout;
        connection = RedisConnection::open(endpoint);
      }
      // From the list to itself: the token stays for every other waiter,
      // and the list keeps its TTL (nothing is ever pushed back).
      RedisArgs args(4);
      args.add("BRPOPLPUSH").add(ready).add(ready).add_owned(detail::blocking_seconds(left));
      if (asking) {
        RedisArgs asking_args(1);
        asking_args.add("ASKING");
        connection->append(op, asking_args);
        connection->append(op, args);
        // ASKING's +OK first (an error would show in BRPOPLPUSH's own reply).
        reply = std::move(connection->replies(op, 2).back());
      } else {
        reply = connection->command(op, args);
      }
    } catch (const ConnectionError&) {
      if (clock::now() >= deadline)
        throw;
      connection.reset();  // the primary may have failed over: look again
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      try {
        impl_->topology.refresh();
      } catch (const ConnectionError&) {  // NOLINT(bugprone-empty-catch): retried in the loop
      }
      return detail::TokenWait::retry;
    }
    if (reply->type == REDIS_REPLY_ERROR && (detail::parse_redirect(view_of(*reply)) ||
                                             detail::is_transient_cluster_error(view_of(*reply)))) {
      if (auto redirect = detail::parse_redirect(view_of(*reply))) {
        std::shared_ptr<detail::ClusterNode> target = impl_->topology.node(redirect->target);
        if (redirect->kind == detail::ClusterRedirect::Kind::moved)
          impl_->topology.moved(redirect->slot, target);
        else
          ask_target = std::move(target);  // the map stays as it is
      }
      connection.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return detail::TokenWait::retry;
    }
    reply = connection->check(op, std::move(reply), REDIS_REPLY_STRING, /*nil_ok=*/true);
    return reply->type == REDIS_REPLY_NIL ? detail::TokenWait::timed_out : detail::TokenWait::woken;
  };
  return detail::wait_for_value(
      timeout, [&] { return do_get(key); }, block);
}

}  // namespace proxystore
