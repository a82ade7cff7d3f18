// SPDX-License-Identifier: Apache-2.0
/// \file
/// Streams of objects: StreamProducer / StreamConsumer over a message Broker.
///
/// The bulk data of a stream goes into a store; only small events (a
/// serialized proxy, or a small object inline, plus metadata) go through a
/// message broker. See docs/streaming.md.
///
/// Rationale
/// ---------
/// - **Acknowledge, then evict.** ProxyStore (Python) evicts a streamed
///   object when its proxy resolves, so an item redelivered after a
///   consumer crash can no longer resolve. Here a stored item is evicted
///   when a group member acknowledges it (XACK first, then evict): an item
///   is either acknowledged or still resolvable.
/// - **A broker sees bytes only.** Events are encoded by the templates
///   below and decoded with bounded sizes; a Broker moves opaque messages
///   and implements delivery (fan-out, groups, claiming, end-of-stream).
/// - **An event is hostile input.** It came from another process: decoding
///   is bounded by ConsumerOptions::max_event_size, a malformed event is
///   acknowledged (so it cannot block a group forever) and reported as a
///   SerializationError naming the topic and the message id; the next call
///   continues with the following item.
#pragma once

#include <proxystore/errors.hpp>
#include <proxystore/factory.hpp>
#include <proxystore/lifetimes.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/security.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store.hpp>
#include <proxystore/store_factory.hpp>
#include <proxystore/stores/redis.hpp>
#include <proxystore/type_name.hpp>

#include <fmt/format.h>
#include <cereal/cereal.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace proxystore {

/// `send` was called on a topic this producer closed (close_topic). Names
/// the topic.
class TopicClosedError : public Error {
 public:
  using Error::Error;
};

/// StreamConsumer::next found no item within ConsumerOptions::timeout.
/// Names the topic, the group and the timeout.
class StreamTimeoutError : public Error {
 public:
  using Error::Error;
};

/// User metadata sent with each item (free-form strings).
using StreamMetadata = std::map<std::string, std::string>;

/// A filter: returns true to DROP the item with this metadata (as in
/// Python ProxyStore). It runs in `send`, before anything is stored.
using StreamFilter = std::function<bool(const StreamMetadata&)>;

/// A filter that drops each item with probability `drop_probability`
/// (thread-safe; a fixed `seed` makes the choice reproducible).
class SamplingFilter {
 public:
  /// @throws Error if `drop_probability` is not in [0, 1].
  explicit SamplingFilter(double drop_probability, std::uint64_t seed = 0);
  /// True (drop) with probability `drop_probability`.
  bool operator()(const StreamMetadata& metadata) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

/// How a producer sends items of one topic.
struct TopicOptions {
  /// Where items travel; null: every item travels inline in its event.
  std::shared_ptr<Store> store;
  /// Items whose serialized size is at most this travel inline even when
  /// a store is set (0: with a store, every item is stored).
  std::size_t inline_threshold = 0;
  /// A stored item is evicted once a group member acknowledges it (never
  /// on resolve, so a redelivered item still resolves). Consumers without
  /// a group never evict.
  bool evict = true;
  /// Items buffered per topic; a flush is one `proxy_batch` on the store
  /// plus one broker publish.
  std::size_t batch_size = 1;
  /// When set, stored items are registered with this lifetime (and evicted
  /// when it ends, acknowledged or not).
  std::shared_ptr<Lifetime> lifetime;
  /// Optional: drops items before they are stored (see StreamFilter,
  /// SamplingFilter).
  StreamFilter filter;
};

/// How a consumer receives.
struct ConsumerOptions {
  /// Empty: fan-out, this consumer alone sees every item. Otherwise the
  /// consumer group: each item goes to one member.
  std::string group;
  /// The member's name in its group (empty: a unique generated one).
  std::string name;
  /// `next` throws StreamTimeoutError after this long without an item.
  std::chrono::milliseconds timeout{std::chrono::seconds(60)};
  /// An item a member received but did not acknowledge for this long is
  /// delivered to another member (groups only).
  std::chrono::milliseconds claim_after{std::chrono::seconds(30)};
  /// Largest event (message) accepted; a larger one is a SerializationError.
  /// 0 (the default): the store policy's StorePolicy::max_object_size
  /// (1 GiB unless set_store_policy changed it), read when the consumer is
  /// made; any other value overrides it for this consumer.
  std::size_t max_event_size = 0;
  /// Messages fetched per broker round trip (a group member holds them
  /// unacknowledged until it gets to them).
  std::size_t prefetch = 16;
};

/// One message as a broker delivers it.
struct BrokerMessage {
  /// Broker-assigned id, unique within the topic (what `ack` takes).
  std::string id;
  /// The message bytes as published.
  std::string data;
};

/// Where one consumer reads: filled in by StreamConsumer, kept up to date
/// by the broker (`position`, `closed`). Used by one thread at a time.
struct BrokerCursor {
  /// The topic.
  std::string topic;
  /// The consumer group; empty for a fan-out consumer.
  std::string group;
  /// The member name within the group (unique, generated if not given).
  std::string consumer;
  /// Fan-out: the id of the last message read (broker-defined; "" before
  /// the first).
  std::string position;
  /// The broker has seen the topic's end-of-stream (for its own use).
  bool closed = false;
  /// Group member: the newest message id delivered to this member by a
  /// read or a claim ("" before the first; for the broker's own use).
  std::string delivered;
  /// Group member: a read failed, or was sent again after its connection
  /// failed, and may have left messages pending for this member that never
  /// reached it; the next read fetches them first (for the broker's own
  /// use).
  bool recover = false;
};

/// What one `receive` or `claim` returned.
struct BrokerBatch {
  /// Messages, in topic order for `receive`.
  std::vector<BrokerMessage> messages;
  /// End-of-stream for this cursor: for fan-out, after every earlier
  /// message; for a group member, once every earlier message was
  /// acknowledged by some member. Reported with no messages.
  bool end = false;
};

/// The extension point for message systems: moves opaque messages and
/// implements delivery. Thread-safe: one broker serves many producers and
/// consumers (each cursor is used by one thread at a time).
///
/// Contract (LocalBroker and RedisStreamBroker follow it; see the custom
/// broker section of docs/streaming.md):
/// - `publish` appends messages to a topic in order, retained for
///   consumers that have not started yet (a late consumer or group reads
///   what is retained).
/// - `close` appends end-of-stream.
/// - fan-out cursors (no group) see every message from the oldest retained
///   one; a group sees each message once across its members, unless a
///   member leaves it unacknowledged: then `claim` hands it to another.
class Broker {
 public:
  Broker() = default;
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  virtual ~Broker();

  /// Appends `messages` to `topic`, in order, as one batch.
  virtual void publish(const std::string& topic, const std::vector<std::string>& messages) = 0;
  /// Appends end-of-stream to `topic`.
  virtual void close(const std::string& topic) = 0;
  /// Prepares `cursor` (creates its group so that it reads the topic from
  /// its oldest retained message, if the group does not exist yet).
  virtual void subscribe(BrokerCursor& cursor) = 0;
  /// Up to `max` messages for `cursor`, waiting at most `wait` for the
  /// first (0: do not wait). Returns early with nothing if it waited a
  /// while; the caller loops until its own deadline.
  virtual BrokerBatch receive(BrokerCursor& cursor, std::size_t max,
                              std::chrono::milliseconds wait) = 0;
  /// Group members only: up to `max` messages delivered to some member
  /// at least `min_idle` ago and not acknowledged; they now belong to
  /// `cursor.consumer`.
  virtual BrokerBatch claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                            std::size_t max) = 0;
  /// Acknowledges messages of a group (a no-op for fan-out cursors).
  virtual void ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) = 0;
  /// `ack(cursor, ids)`, then `receive(cursor, max, wait)` — what a
  /// consumer does when it moves past a batch. Overriding it is optional:
  /// a broker may do both in one round trip (RedisStreamBroker pipelines
  /// XACK before XREADGROUP). When it throws, the caller treats `ids` as
  /// not acknowledged (acknowledging twice must be harmless).
  virtual BrokerBatch ack_and_receive(BrokerCursor& cursor, const std::vector<std::string>& ids,
                                      std::size_t max, std::chrono::milliseconds wait) {
    if (!ids.empty())
      ack(cursor, ids);
    return receive(cursor, max, wait);
  }
};

/// An in-process broker, for threads and tests. Keeps every message of a
/// topic in memory for the broker's life (no trimming).
class LocalBroker final : public Broker {
 public:
  LocalBroker();
  ~LocalBroker() override;
  LocalBroker(const LocalBroker&) = delete;
  LocalBroker& operator=(const LocalBroker&) = delete;
  LocalBroker(LocalBroker&&) = delete;
  LocalBroker& operator=(LocalBroker&&) = delete;

  void publish(const std::string& topic, const std::vector<std::string>& messages) override;
  void close(const std::string& topic) override;
  void subscribe(BrokerCursor& cursor) override;
  BrokerBatch receive(BrokerCursor& cursor, std::size_t max,
                      std::chrono::milliseconds wait) override;
  BrokerBatch claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                    std::size_t max) override;
  void ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Stream-specific options of a RedisStreamBroker.
struct RedisStreamOptions {
  /// Trims each topic's stream to about this many entries on every publish
  /// (`XADD ... MAXLEN ~ n`); 0: no trimming. Entries trimmed before a
  /// group acknowledged them are lost to it: size this above the backlog.
  std::size_t max_length = 0;
  /// The longest one blocking read waits before the consumer re-checks
  /// claims and end-of-stream (XREADGROUP/XREAD BLOCK).
  std::chrono::milliseconds max_block{1000};
  /// Connections kept for blocking reads (each blocked reader holds one;
  /// on a cluster, per node).
  std::size_t blocking_pool_size = 64;
};

/// A broker over Redis Streams (hiredis): one stream per topic under the
/// key `<key_prefix>stream:<topic>`; XADD (a batch pipelined, trimmed with
/// MAXLEN ~ when RedisStreamOptions::max_length is set), consumer groups
/// created at id 0 with MKSTREAM (a late group reads all that is
/// retained), XREADGROUP ... BLOCK, XACK, XAUTOCLAIM; fan-out consumers
/// XREAD from id 0. End-of-stream is an entry with the field `end`.
/// Connects on first use; ConnectionError/TimeoutError name host:port,
/// and the broker reconnects when the server comes back. A `LOADING`
/// reply (a restarted server still loading its data) is retried within
/// the command timeout, then reported as ConnectionError.
///
/// On a Redis Cluster (the seed-node constructor) each topic's stream
/// lives on the primary that owns its key's slot (a `{tag}` in the topic
/// name decides the slot, as in any Redis key); the broker learns the slot
/// map from any seed, follows MOVED and ASK, and retries TRYAGAIN,
/// CLUSTERDOWN and unreachable nodes (a failover) within the command
/// timeout, as RedisClusterStore does. A publish interrupted by a
/// connection failure may be repeated: an item can then arrive twice
/// (delivery is at-least-once anyway).
class RedisStreamBroker final : public Broker {
 public:
  /// A broker on the Redis server at `hostname`:`port`. Does not connect.
  /// The password, if any, comes from `options` (this broker is built by
  /// the application, never from a proxy).
  /// @throws Error on invalid arguments (as RedisStore).
  RedisStreamBroker(std::string hostname, int port, RedisOptions options = {},
                    RedisStreamOptions stream_options = {});
  /// A broker on the Redis Cluster reachable through any of
  /// `cluster_seeds` ("host:port", IPv6 as "[::1]:7000"). Does not
  /// connect. The password, if any, comes from `options` and is sent to
  /// every node.
  /// @throws Error on invalid arguments (as RedisClusterStore: no seeds, a
  ///         malformed seed, db other than 0, a key_prefix containing '{'
  ///         or '}', negative timeouts, zero pool sizes).
  explicit RedisStreamBroker(std::vector<std::string> cluster_seeds, RedisOptions options = {},
                             RedisStreamOptions stream_options = {});
  ~RedisStreamBroker() override;
  RedisStreamBroker(const RedisStreamBroker&) = delete;
  RedisStreamBroker& operator=(const RedisStreamBroker&) = delete;
  RedisStreamBroker(RedisStreamBroker&&) = delete;
  RedisStreamBroker& operator=(RedisStreamBroker&&) = delete;

  void publish(const std::string& topic, const std::vector<std::string>& messages) override;
  void close(const std::string& topic) override;
  void subscribe(BrokerCursor& cursor) override;
  BrokerBatch receive(BrokerCursor& cursor, std::size_t max,
                      std::chrono::milliseconds wait) override;
  BrokerBatch claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                    std::size_t max) override;
  void ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) override;
  /// XACK and XREADGROUP in one round trip (pipelined).
  BrokerBatch ack_and_receive(BrokerCursor& cursor, const std::vector<std::string>& ids,
                              std::size_t max, std::chrono::milliseconds wait) override;

  /// The Redis key of `topic`'s stream.
  std::string stream_key(const std::string& topic) const;
  /// Deletes `topic`'s stream, its entries and groups (UNLINK); for
  /// clean-up once every consumer is done.
  void remove_topic(const std::string& topic);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

namespace detail {

/// What an event carries: an object inline, or a proxy to a stored one.
enum class StreamEventKind : std::uint8_t { inline_object = 1, proxy = 2 };

/// A decoded event (bounded; see decode_stream_event).
struct StreamEvent {
  StreamEventKind kind = StreamEventKind::inline_object;
  /// Evict the stored object when a group member acknowledges it.
  bool evict = false;
  StreamMetadata metadata;
  /// serialize<T>(object) or serialize(Proxy<T>).
  std::string payload;
};

/// A decoded event whose payload views the encoded bytes (they must
/// outlive it): what a consumer decodes an item from, without a copy.
struct StreamEventView {
  /// Inline object or proxy.
  StreamEventKind kind = StreamEventKind::inline_object;
  /// Whether a group member evicts the stored object on acknowledgement.
  bool evict = false;
  /// The item's metadata.
  StreamMetadata metadata;
  /// serialize<T>(object) or serialize(Proxy<T>), inside the event's bytes.
  std::string_view payload;
};

/// Encodes an event (the stored-object format of a private struct).
std::string encode_stream_event(const StreamEvent& event);
/// The same bytes as encode_stream_event of {kind, evict, metadata,
/// payload}, written into one string allocated once at its final size.
std::string encode_stream_event(StreamEventKind kind, bool evict, const StreamMetadata& metadata,
                                std::string_view payload);
/// The same with the payload in two parts (`head + body`, e.g. a
/// serialize_split object): the body is copied once, into the event.
std::string encode_stream_event(StreamEventKind kind, bool evict, const StreamMetadata& metadata,
                                std::string_view payload_head, std::string_view payload_body);
/// Decodes an event; throws SerializationError on malformed input, an
/// unknown kind, or a size over `max_size`.
StreamEvent decode_stream_event(std::string_view bytes, std::size_t max_size);
/// decode_stream_event without copying the payload: the same checks and
/// errors; the view's payload points into `bytes`.
StreamEventView decode_stream_event_view(std::string_view bytes, std::size_t max_size);

/// The compiled half of a consumer: the broker loop (claim, receive,
/// timeout), acknowledgement and eviction. `ack` may be called from any
/// thread while `next_message` runs.
class ConsumerCore {
 public:
  ConsumerCore(std::shared_ptr<Broker> broker, std::string topic, ConsumerOptions options);
  ConsumerCore(const ConsumerCore&) = delete;
  ConsumerCore& operator=(const ConsumerCore&) = delete;
  /// Sends the acknowledgements still queued (errors to stderr).
  ~ConsumerCore();

  /// The next message, or nullopt at end-of-stream. Sends queued
  /// acknowledgements before it asks the broker.
  /// @throws StreamTimeoutError after options.timeout without one.
  std::optional<BrokerMessage> next_message();

  /// Acknowledges message `id` now; then, for a group, evicts `evict`'s
  /// key from its store (get_or_create_store, so the store policy applies).
  void ack(const std::string& id, const std::optional<std::pair<StoreConfig, Key>>& evict);
  /// The same, sent with the next broker round trip (one XACK for many).
  void ack_later(std::string id, std::optional<std::pair<StoreConfig, Key>> evict);
  /// Sends the queued acknowledgements.
  void flush_acks();

  /// The topic.
  const std::string& topic() const noexcept { return cursor_.topic; }
  /// The options.
  const ConsumerOptions& options() const noexcept { return options_; }
  /// Whether this consumer is a group member.
  bool in_group() const noexcept { return !cursor_.group.empty(); }

 private:
  using Evict = std::optional<std::pair<StoreConfig, Key>>;
  /// Acknowledges the queued items with the receive of the next batch
  /// (Broker::ack_and_receive: one round trip on Redis); items with
  /// something to evict are acknowledged and evicted first (flush_acks).
  BrokerBatch acknowledge_and_receive(std::chrono::milliseconds wait);
  void send_acks(const std::vector<std::string>& ids, const std::vector<Evict>& evicts);

  std::shared_ptr<Broker> broker_;
  ConsumerOptions options_;
  BrokerCursor cursor_;
  std::vector<BrokerMessage> buffered_;
  std::size_t next_ = 0;
  bool ended_ = false;
  std::chrono::steady_clock::time_point next_claim_{};
  std::mutex ack_mutex_;  // guards the queue below
  std::vector<std::string> queued_ids_;
  std::vector<Evict> queued_evicts_;
};

/// One delivered item's acknowledgement state, shared by its StreamItem copies.
///
/// Once: a mutex and a flag rather than std::call_once, whose glibc
/// implementation makes a futex system call on every completed call (one
/// per item).
struct StreamAck {
  std::shared_ptr<ConsumerCore> core;
  std::string id;
  std::optional<std::pair<StoreConfig, Key>> evict;
  std::mutex mutex;   // held while acknowledging: a concurrent caller waits
  bool done = false;  // guarded by mutex; stays false when acknowledging threw

  /// Acknowledges now (once).
  void ack() {
    std::lock_guard<std::mutex> lock(mutex);
    if (done)
      return;
    core->ack(id, evict);
    done = true;
  }
  /// Acknowledges with the consumer's next round trip (once).
  void ack_later() {
    std::lock_guard<std::mutex> lock(mutex);
    if (done)
      return;
    core->ack_later(std::move(id), std::move(evict));  // never read again
    done = true;
  }
};

/// The topic state of a producer (items waiting for a flush).
struct ProducerTopicBase {
  TopicOptions options;
  bool closed = false;
  std::vector<std::string> ready;  // encoded events not yet published
};

/// Non-template producer helpers.
[[noreturn]] void throw_topic_closed(const std::string& topic);
void publish_ready(Broker& broker, const std::string& topic, std::vector<std::string>& ready);
void report_flush_failure(const char* what) noexcept;
/// `stream topic '<topic>' message '<id>': <what>` (escaped).
std::string stream_message_context(std::string_view topic, std::string_view id,
                                   std::string_view what);

}  // namespace detail

/// One received item: a proxy to the object (resolving it fetches from the
/// store; an inline item is already there), its metadata, and its
/// acknowledgement. Copies share the acknowledgement.
template <class T>
struct StreamItem {
  /// The object.
  Proxy<T> proxy;
  /// The metadata the producer sent with it.
  StreamMetadata metadata;
  /// Acknowledges the item (idempotent): a group will not redeliver it, and
  /// a stored item with TopicOptions::evict is evicted. Automatic when the
  /// consumer moves to the next item or is destroyed.
  /// @throws ConnectionError etc. if the broker cannot be reached.
  void ack() {
    if (ack_state)
      ack_state->ack();
  }

  /// Internal: the shared acknowledgement state.
  std::shared_ptr<detail::StreamAck> ack_state;
};

/// Sends objects to topics (thread-safe). Each topic has options
/// (set_topic, or the defaults): a store for the objects, an inline
/// threshold, batching, a lifetime and a filter.
template <class T>
class StreamProducer {
 public:
  /// A producer on `broker`; `defaults` apply to topics without set_topic.
  explicit StreamProducer(std::shared_ptr<Broker> broker, TopicOptions defaults = {})
      : broker_(std::move(broker)), defaults_(std::move(defaults)) {
    if (!broker_)
      throw Error("StreamProducer: the broker is null");
  }
  StreamProducer(const StreamProducer&) = delete;
  StreamProducer& operator=(const StreamProducer&) = delete;

  /// Flushes every topic; errors are reported to stderr, never thrown.
  ~StreamProducer() {
    try {
      flush();
    } catch (const std::exception& e) {
      detail::report_flush_failure(e.what());
    }
  }

  /// Sets `topic`'s options (items buffered under the previous ones are
  /// flushed first).
  // NOLINTNEXTLINE(performance-unnecessary-value-param): by value, as the API contract says
  void set_topic(std::string topic, TopicOptions options) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = topics_.find(topic);
    if (found != topics_.end()) {
      flush_locked(found->first, found->second);
      found->second.options = std::move(options);
    } else {
      Topic& state = topics_[std::move(topic)];
      state.options = std::move(options);
    }
  }

  /// Buffers `object` for `topic` (flushing when the batch is full), unless
  /// the topic's filter drops it.
  /// @throws TopicClosedError if this producer closed `topic`.
  /// @throws what the store or broker throws on a flush (the items stay
  ///         buffered and go with the next flush).
  void send(const std::string& topic, T object, StreamMetadata metadata = {}) {
    std::lock_guard<std::mutex> lock(mutex_);
    Topic& state = topic_locked(topic);
    if (state.closed)
      detail::throw_topic_closed(topic);
    if (state.options.filter && state.options.filter(metadata))
      return;
    state.objects.push_back(std::move(object));
    state.metadata.push_back(std::move(metadata));
    if (state.objects.size() >= std::max<std::size_t>(1, state.options.batch_size))
      flush_locked(topic, state);
  }

  /// Flushes every topic.
  void flush() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [name, state] : topics_)
      flush_locked(name, state);
  }

  /// Flushes `topic`.
  void flush(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = topics_.find(topic);
    if (found != topics_.end())
      flush_locked(found->first, found->second);
  }

  /// Flushes `topic`, then sends end-of-stream; later `send`s to it throw
  /// TopicClosedError. Closing a closed topic does nothing.
  void close_topic(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mutex_);
    Topic& state = topic_locked(topic);
    if (state.closed)
      return;
    flush_locked(topic, state);
    broker_->close(topic);
    state.closed = true;
  }

 private:
  struct Topic : detail::ProducerTopicBase {
    std::vector<T> objects;
    std::vector<StreamMetadata> metadata;
  };

  Topic& topic_locked(const std::string& topic) {
    auto found = topics_.find(topic);
    if (found != topics_.end())
      return found->second;
    Topic& state = topics_[topic];
    state.options = defaults_;
    return state;
  }

  /// Encodes the buffered objects (one proxy_batch for the stored ones),
  /// then publishes every encoded event (one broker publish).
  void flush_locked(const std::string& topic, Topic& state) {
    if (!state.objects.empty())
      encode_locked(state);
    detail::publish_ready(*broker_, topic, state.ready);
  }

  void encode_locked(Topic& state) {
    const TopicOptions& options = state.options;
    const std::size_t count = state.objects.size();
    if constexpr (detail::has_raw_body_v<T>) {
      if (!options.store) {
        // All inline, the object's bytes copied once, straight into its event.
        append_events(state, [&](std::size_t i) {
          const detail::SplitObject object = detail::serialize_split(state.objects[i]);
          return detail::encode_stream_event(detail::StreamEventKind::inline_object, false,
                                             state.metadata[i], object.head, object.body);
        });
        return;
      }
    }
    std::vector<std::string> inline_bytes(count);
    std::vector<bool> stored(count, options.store != nullptr);
    if (!options.store || options.inline_threshold > 0) {
      for (std::size_t i = 0; i < count; ++i) {
        std::string bytes = serialize(state.objects[i]);
        if (!options.store || bytes.size() <= options.inline_threshold) {
          inline_bytes[i] = std::move(bytes);
          stored[i] = false;
        }
      }
    }
    std::vector<T> to_store;
    for (std::size_t i = 0; i < count; ++i) {
      if (stored[i])
        to_store.push_back(std::move(state.objects[i]));
    }
    std::vector<Proxy<T>> proxies;
    if (!to_store.empty()) {
      ProxyOptions proxy_options;
      proxy_options.lifetime = options.lifetime;
      proxies = options.store->proxy_batch(std::move(to_store), proxy_options);
    }
    std::size_t next_proxy = 0;
    append_events(state, [&](std::size_t i) {
      if (stored[i]) {
        return detail::encode_stream_event(detail::StreamEventKind::proxy, options.evict,
                                           state.metadata[i], serialize(proxies[next_proxy++]));
      }
      return detail::encode_stream_event(detail::StreamEventKind::inline_object, false,
                                         state.metadata[i], inline_bytes[i]);
    });
  }

  /// Appends `encode(i)` for every queued object to `ready` (each event
  /// allocated once, at its final size), then empties the queue; on a
  /// failure midway this batch's events are taken back out, so the objects
  /// stay queued and nothing is half-published.
  template <class Encode>
  static void append_events(Topic& state, Encode&& encode) {
    const std::size_t ready_before = state.ready.size();
    const std::size_t count = state.objects.size();
    state.ready.reserve(ready_before + count);
    try {
      for (std::size_t i = 0; i < count; ++i)
        state.ready.push_back(encode(i));
    } catch (...) {
      state.ready.resize(ready_before);
      throw;
    }
    state.objects.clear();
    state.metadata.clear();
  }

  std::shared_ptr<Broker> broker_;
  TopicOptions defaults_;
  std::mutex mutex_;
  std::map<std::string, Topic> topics_;
};

/// Receives the items of one topic: alone (fan-out) or as a member of a
/// group (ConsumerOptions). One consumer is used by one thread at a time;
/// items may be acknowledged from any thread.
template <class T>
class StreamConsumer {
  static_assert(std::is_copy_constructible_v<T>,
                "proxystore::StreamConsumer<T>: T must be copyable (a received proxy is "
                "deserialized, and proxies of a deserialized factory need a copyable T)");

 public:
  /// Subscribes to `topic` on `broker` (creating the group if needed).
  /// @throws ConnectionError etc. if the broker cannot be reached.
  StreamConsumer(std::shared_ptr<Broker> broker, std::string topic, ConsumerOptions options = {})
      : core_(std::make_shared<detail::ConsumerCore>(std::move(broker), std::move(topic),
                                                     std::move(options))) {}
  StreamConsumer(const StreamConsumer&) = delete;
  StreamConsumer& operator=(const StreamConsumer&) = delete;
  /// Moves the consumer (its position and unacknowledged item) into a new one.
  StreamConsumer(StreamConsumer&&) noexcept = default;
  /// Moves `other`'s consumer in; this one's last item is not acknowledged.
  StreamConsumer& operator=(StreamConsumer&&) noexcept = default;

  /// Acknowledges the last item (errors are reported to stderr, never thrown).
  ~StreamConsumer() {
    if (!core_)
      return;
    try {
      if (last_)
        last_->ack_later();
      core_->flush_acks();
    } catch (const std::exception& e) {
      detail::report_flush_failure(e.what());
    }
  }

  /// The next item (acknowledging the previous one first), or nullopt at
  /// end-of-stream.
  /// @throws StreamTimeoutError after ConsumerOptions::timeout without one.
  /// @throws SerializationError on a malformed event (it is acknowledged;
  ///         the next call continues with the following item).
  std::optional<StreamItem<T>> next() {
    if (last_) {
      std::shared_ptr<detail::StreamAck> previous = std::move(last_);
      previous->ack_later();
    }
    std::optional<BrokerMessage> message = core_->next_message();
    if (!message)
      return std::nullopt;
    auto ack = std::make_shared<detail::StreamAck>();
    ack->core = core_;
    ack->id = std::move(message->id);
    last_ = ack;
    StreamItem<T> item;
    item.ack_state = ack;
    try {
      detail::StreamEventView event =
          detail::decode_stream_event_view(message->data, core_->options().max_event_size);
      item.metadata = std::move(event.metadata);
      item.proxy = decode_object(event);
      if (event.kind == detail::StreamEventKind::proxy && event.evict && core_->in_group()) {
        if (const auto* factory = get_factory(item.proxy).template target<StoreFactory<T>>())
          ack->evict.emplace(factory->config(), factory->key());
      }
    } catch (const SignatureError& e) {
      throw SignatureError(detail::stream_message_context(core_->topic(), ack->id, e.what()));
    } catch (const SerializationError& e) {
      throw SerializationError(detail::stream_message_context(core_->topic(), ack->id, e.what()));
    }
    return item;
  }

  /// The next object itself (resolved; the item is acknowledged with the
  /// next call), or nullopt at end-of-stream.
  std::optional<T> next_object() {
    std::optional<StreamItem<T>> item = next();
    if (!item)
      return std::nullopt;
    return std::optional<T>(std::move(extract(item->proxy)));
  }

  /// Input iterator over the items (range-for); ends at end-of-stream.
  class iterator {  // NOLINT(readability-identifier-naming): the standard range-for name
   public:
    /// Iterator traits.
    using iterator_category = std::input_iterator_tag;
    /// Iterator traits.
    using value_type = StreamItem<T>;
    /// Iterator traits.
    using difference_type = std::ptrdiff_t;
    /// Iterator traits.
    using pointer = StreamItem<T>*;
    /// Iterator traits.
    using reference = StreamItem<T>&;

    /// The end iterator.
    iterator() = default;
    /// The current item.
    reference operator*() const { return *consumer_->current_; }
    /// The current item.
    pointer operator->() const { return &*consumer_->current_; }
    /// Moves to the next item (acknowledging this one).
    iterator& operator++() {
      advance();
      return *this;
    }
    /// Equal when both are at the end.
    friend bool operator==(const iterator& a, const iterator& b) noexcept {
      return a.consumer_ == b.consumer_;
    }
    /// Not equal unless both are at the end.
    friend bool operator!=(const iterator& a, const iterator& b) noexcept { return !(a == b); }

   private:
    friend class StreamConsumer;
    explicit iterator(StreamConsumer* consumer) : consumer_(consumer) { advance(); }
    void advance() {
      consumer_->current_ = consumer_->next();
      if (!consumer_->current_)
        consumer_ = nullptr;
    }
    StreamConsumer* consumer_ = nullptr;
  };

  /// Starts iterating (fetches the first item).
  iterator begin() { return iterator(this); }
  /// The end.
  iterator end() { return iterator(); }

 private:
  Proxy<T> decode_object(const detail::StreamEventView& event) {
    return detail::decoding<T>([&]() -> Proxy<T> {
      if (event.kind == detail::StreamEventKind::proxy)
        return deserialize<Proxy<T>>(event.payload, core_->options().max_event_size);
      return Proxy<T>(Factory<T>(
          SimpleFactory<T>(deserialize<T>(event.payload, core_->options().max_event_size))));
    });
  }

  std::shared_ptr<detail::ConsumerCore> core_;
  std::shared_ptr<detail::StreamAck> last_;
  std::optional<StreamItem<T>> current_;
};

}  // namespace proxystore

/// The event struct's wire name and cereal hook.
PROXYSTORE_TYPE_NAME(proxystore::detail::StreamEvent, "proxystore.stream_event");

namespace proxystore::detail {
/// cereal hook of StreamEvent.
template <class Archive>
void serialize(Archive& ar, StreamEvent& event) {
  auto kind = static_cast<std::uint8_t>(event.kind);
  ar(kind, event.evict, event.metadata, event.payload);
  event.kind = static_cast<StreamEventKind>(kind);
}
}  // namespace proxystore::detail
