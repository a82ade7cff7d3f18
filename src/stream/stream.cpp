// SPDX-License-Identifier: Apache-2.0
// The compiled half of streams: the event codec, the consumer loop and
// acknowledgement, producer helpers, SamplingFilter.
#include <proxystore/detail/printable.hpp>
#include <proxystore/detail/wire_archive.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/stream.hpp>

#include <fmt/format.h>

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <optional>
#include <random>

namespace proxystore {

Broker::~Broker() = default;

// --- SamplingFilter ------------------------------------------------------------

struct SamplingFilter::State {
  double drop_probability = 0;
  std::mutex mutex;
  std::mt19937_64 engine;
};

SamplingFilter::SamplingFilter(double drop_probability, std::uint64_t seed)
    : state_(std::make_shared<State>()) {
  if (!(drop_probability >= 0.0 && drop_probability <= 1.0)) {
    throw Error(
        fmt::format("SamplingFilter: drop probability {} is not in [0, 1]", drop_probability));
  }
  if (seed == 0) {
    std::random_device device;
    seed = (std::uint64_t{device()} << 32U) ^ device();
  }
  state_->drop_probability = drop_probability;
  state_->engine.seed(seed);
}

bool SamplingFilter::operator()(const StreamMetadata& /*metadata*/) const {
  std::lock_guard<std::mutex> lock(state_->mutex);
  return std::uniform_real_distribution<double>(0.0, 1.0)(state_->engine) <
         state_->drop_probability;
}

namespace detail {

// --- events ----------------------------------------------------------------------

// The event is the stored-object format of StreamEvent (serialize<T>):
//   header ("PX", version, type name, body length) | kind (1 byte) |
//   evict (1 byte) | metadata (cereal map) | payload (varint length, bytes)
// written and read here field by field — the same bytes as
// serialize(StreamEvent) / deserialize<StreamEvent> (a unit test holds
// them equal), without the intermediate strings: an event is built in
// one allocation, and decoding views the payload instead of copying it.

std::string encode_stream_event(const StreamEvent& event) {
  return encode_stream_event(event.kind, event.evict, event.metadata, event.payload);
}

namespace {

/// The header of every event up to its body length: the same for all.
const std::string& event_header() {
  static const std::string header = [] {
    std::string out;
    write_object_header(out, type_name<StreamEvent>());
    out.resize(out.size() - body_length_size);
    return out;
  }();
  return header;
}

/// A length tag as WireOutputArchive::save_length writes it (LEB128).
void append_length(std::string& out, std::uint64_t value) {
  do {
    const auto byte = static_cast<std::uint8_t>(value & 0x7fU);
    value >>= 7U;
    out.push_back(static_cast<char>(value != 0 ? (byte | 0x80U) : byte));
  } while (value != 0);
}

}  // namespace

std::string encode_stream_event(StreamEventKind kind, bool evict, const StreamMetadata& metadata,
                                std::string_view payload) {
  return encode_stream_event(kind, evict, metadata, payload, std::string_view());
}

std::string encode_stream_event(StreamEventKind kind, bool evict, const StreamMetadata& metadata,
                                std::string_view payload_head, std::string_view payload_body) {
  const std::size_t payload_size = payload_head.size() + payload_body.size();
  constexpr std::size_t max_varint = 10;
  std::size_t metadata_bytes = max_varint;
  for (const auto& [name, value] : metadata)
    metadata_bytes += 2 * max_varint + name.size() + value.size();
  const std::string& header = event_header();
  std::string out;
  out.reserve(header.size() + body_length_size + 2 + metadata_bytes + max_varint + payload_size);
  out.append(header);
  const std::size_t length_at = out.size();
  out.append(body_length_size, '\0');
  out.push_back(static_cast<char>(kind));
  out.push_back(static_cast<char>(evict ? 1 : 0));
  if (metadata.empty()) {
    append_length(out, 0);  // what the archive writes for an empty map
  } else {
    WireOutputArchive ar(out);
    ar(metadata);
    ar.expect_backed();
  }
  append_length(out, payload_size);
  out.append(payload_head);
  out.append(payload_body);
  patch_body_length(out, length_at);
  return out;
}

StreamEvent decode_stream_event(std::string_view bytes, std::size_t max_size) {
  StreamEventView view = decode_stream_event_view(bytes, max_size);
  return StreamEvent{view.kind, view.evict, std::move(view.metadata), std::string(view.payload)};
}

namespace {

/// The common event body — empty metadata, then a payload whose length tag
/// accounts for every remaining byte — read without an archive; nullopt
/// for anything else, which the archive then reads (accepting the same
/// bodies, refusing the rest with its errors).
std::optional<StreamEventView> read_plain_event(std::string_view body) {
  if (body.size() < 4 || static_cast<std::uint8_t>(body[1]) > 1 || body[2] != '\0')
    return std::nullopt;
  std::uint64_t length = 0;
  std::size_t at = 3;
  for (unsigned shift = 0;; shift += 7) {
    if (at == body.size() || shift > 56)
      return std::nullopt;
    const auto byte = static_cast<std::uint8_t>(body[at++]);
    length |= static_cast<std::uint64_t>(byte & 0x7fU) << shift;
    if ((byte & 0x80U) == 0)
      break;
  }
  if (length != body.size() - at)
    return std::nullopt;
  StreamEventView event;
  event.kind = static_cast<StreamEventKind>(static_cast<std::uint8_t>(body[0]));
  event.evict = body[1] == '\1';
  event.payload = body.substr(at);
  return event;
}

}  // namespace

StreamEventView decode_stream_event_view(std::string_view bytes, std::size_t max_size) {
  const std::string_view type = type_name<StreamEvent>();
  if (bytes.size() > max_size) {
    throw SerializationError(
        fmt::format("cannot decode '{}': {} bytes exceed the maximum object size {}", type,
                    bytes.size(), max_size));
  }
  StreamEventView event = decoding<StreamEvent>([&] {
    const ObjectHeader header = parse_object_header(bytes);
    if (header.type_name != type) {
      throw SerializationError(
          fmt::format("the object holds a '{}', not a '{}'", printable(header.type_name), type));
    }
    if (std::optional<StreamEventView> plain = read_plain_event(header.body))
      return std::move(*plain);
    WireInputArchive ar(header.body);
    StreamEventView out;
    std::uint8_t kind = 0;
    ar(kind, out.evict, out.metadata);
    out.kind = static_cast<StreamEventKind>(kind);
    // The payload is the last field: its length (checked against what
    // remains) must account for every byte left.
    const std::uint64_t length = ar.load_length();
    if (ar.remaining() != length)
      throw SerializationError(
          fmt::format("{} unexpected trailing bytes", ar.remaining() - length));
    out.payload = header.body.substr(header.body.size() - ar.remaining());
    return out;
  });
  if (event.kind != StreamEventKind::inline_object && event.kind != StreamEventKind::proxy) {
    throw SerializationError(
        fmt::format("stream event of unknown kind {}", static_cast<unsigned>(event.kind)));
  }
  return event;
}

std::string stream_message_context(std::string_view topic, std::string_view id,
                                   std::string_view what) {
  return fmt::format("stream topic '{}' message '{}': {}", printable(topic), printable(id), what);
}

// --- producer helpers --------------------------------------------------------------

void throw_topic_closed(const std::string& topic) {
  throw TopicClosedError(fmt::format(
      "stream topic '{}': send after close_topic (the topic is closed)", printable(topic)));
}

void publish_ready(Broker& broker, const std::string& topic, std::vector<std::string>& ready) {
  if (ready.empty())
    return;
  broker.publish(topic, ready);  // on failure the events stay for the next flush
  ready.clear();
}

void report_flush_failure(const char* what) noexcept {
  std::fprintf(stderr, "proxystore: stream: %s\n", what);
}

// --- consumer ------------------------------------------------------------------------

namespace {

/// A member name unique across hosts' processes and threads: pid, a
/// per-process counter and random bits.
std::string generated_member_name() {
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t random = 0;
  if (getrandom(&random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
    random = static_cast<std::uint64_t>(std::random_device{}());
  return fmt::format("consumer-{}-{}-{:016x}", static_cast<long>(getpid()), counter.fetch_add(1),
                     random);
}

}  // namespace

ConsumerCore::ConsumerCore(std::shared_ptr<Broker> broker, std::string topic,
                           ConsumerOptions options)
    : broker_(std::move(broker)), options_(std::move(options)) {
  if (!broker_)
    throw Error(fmt::format("StreamConsumer of topic '{}': the broker is null", printable(topic)));
  if (options_.timeout.count() < 0 || options_.claim_after.count() < 0) {
    throw Error(fmt::format("StreamConsumer of topic '{}': timeouts must not be negative",
                            printable(topic)));
  }
  options_.prefetch = std::max<std::size_t>(1, options_.prefetch);
  if (options_.max_event_size == 0)
    options_.max_event_size = store_policy().max_object_size;
  cursor_.topic = std::move(topic);
  cursor_.group = options_.group;
  if (!cursor_.group.empty())
    cursor_.consumer = options_.name.empty() ? generated_member_name() : options_.name;
  broker_->subscribe(cursor_);
}

ConsumerCore::~ConsumerCore() {
  try {
    flush_acks();
  } catch (const std::exception& e) {
    report_flush_failure(e.what());
  }
}

std::optional<BrokerMessage> ConsumerCore::next_message() {
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + options_.timeout;
  for (;;) {
    if (next_ < buffered_.size())
      return std::move(buffered_[next_++]);
    buffered_.clear();
    next_ = 0;
    if (ended_)
      return std::nullopt;
    auto now = clock::now();
    if (in_group() && now >= next_claim_) {
      // Stale deliveries of dead (or slow) members first; looked for at
      // most a few times per claim_after.
      flush_acks();
      next_claim_ = now + std::max(options_.claim_after / 4, std::chrono::milliseconds(10));
      BrokerBatch claimed = broker_->claim(cursor_, options_.claim_after, options_.prefetch);
      if (!claimed.messages.empty()) {
        buffered_ = std::move(claimed.messages);
        continue;
      }
    }
    auto wait = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    if (wait.count() < 0)
      wait = std::chrono::milliseconds(0);
    if (in_group())
      wait = std::min(wait, std::max(options_.claim_after / 2, std::chrono::milliseconds(1)));
    BrokerBatch batch = acknowledge_and_receive(wait);
    if (batch.end && batch.messages.empty()) {
      ended_ = true;
      continue;
    }
    if (!batch.messages.empty()) {
      buffered_ = std::move(batch.messages);
      continue;
    }
    if (clock::now() >= deadline) {
      throw StreamTimeoutError(fmt::format(
          "stream topic '{}'{}: no item within the timeout of {} ms", printable(cursor_.topic),
          in_group() ? fmt::format(" (group '{}', member '{}')", printable(cursor_.group),
                                   printable(cursor_.consumer))
                     : std::string(),
          options_.timeout.count()));
    }
  }
}

BrokerBatch ConsumerCore::acknowledge_and_receive(std::chrono::milliseconds wait) {
  std::vector<std::string> ids;
  {
    std::lock_guard<std::mutex> lock(ack_mutex_);
    const bool evicts = std::any_of(queued_evicts_.begin(), queued_evicts_.end(),
                                    [](const Evict& evict) { return evict.has_value(); });
    if (!in_group()) {
      queued_ids_.clear();  // fan-out: nothing to acknowledge, never evicts
      queued_evicts_.clear();
    } else if (!evicts) {
      ids.swap(queued_ids_);
      queued_ids_.reserve(ids.size());  // the next batch's acks, without regrowing
      queued_evicts_.clear();           // keeps its capacity
    }
  }
  // Stored items to evict: acknowledged (then evicted) before the read,
  // which may block, rather than after it.
  flush_acks();
  try {
    return broker_->ack_and_receive(cursor_, ids, options_.prefetch, wait);
  } catch (const ConnectionError&) {
    // Maybe not acknowledged: keep them for the next attempt (the broker
    // may be restarting; acknowledging twice is harmless).
    std::lock_guard<std::mutex> lock(ack_mutex_);
    queued_ids_.insert(queued_ids_.begin(), ids.begin(), ids.end());
    queued_evicts_.insert(queued_evicts_.begin(), ids.size(), Evict());
    throw;
  }
}

void ConsumerCore::ack(const std::string& id,
                       const std::optional<std::pair<StoreConfig, Key>>& evict) {
  send_acks({id}, {evict});
}

void ConsumerCore::ack_later(std::string id, std::optional<std::pair<StoreConfig, Key>> evict) {
  std::lock_guard<std::mutex> lock(ack_mutex_);
  queued_ids_.push_back(std::move(id));
  queued_evicts_.push_back(std::move(evict));
}

void ConsumerCore::flush_acks() {
  std::vector<std::string> ids;
  std::vector<Evict> evicts;
  {
    std::lock_guard<std::mutex> lock(ack_mutex_);
    if (queued_ids_.empty())
      return;  // keep the queues' capacity
    ids.swap(queued_ids_);
    evicts.swap(queued_evicts_);
  }
  try {
    send_acks(ids, evicts);
  } catch (const ConnectionError&) {
    // Keep them for the next attempt (the broker may be restarting).
    std::lock_guard<std::mutex> lock(ack_mutex_);
    queued_ids_.insert(queued_ids_.begin(), ids.begin(), ids.end());
    queued_evicts_.insert(queued_evicts_.begin(), evicts.begin(), evicts.end());
    throw;
  }
}

void ConsumerCore::send_acks(const std::vector<std::string>& ids,
                             const std::vector<Evict>& evicts) {
  if (!in_group())
    return;  // fan-out: nothing to acknowledge, never evicts
  // Acknowledge first, then evict: a crash in between leaves an object
  // its lifetime (or nobody) cleans up, never an unacknowledged item that
  // can no longer resolve.
  broker_->ack(cursor_, ids);
  for (const Evict& evict : evicts) {
    if (!evict)
      continue;
    get_or_create_store(evict->first)->evict(evict->second);
  }
}

}  // namespace detail
}  // namespace proxystore
