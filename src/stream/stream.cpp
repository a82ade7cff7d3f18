// SPDX-License-Identifier: Apache-2.0
// The compiled half of streams: the event codec, the consumer loop and
// acknowledgement, producer helpers, SamplingFilter.
#include <proxystore/detail/printable.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/stream.hpp>

#include <fmt/format.h>

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
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

std::string encode_stream_event(const StreamEvent& event) {
  return proxystore::serialize(event);
}

StreamEvent decode_stream_event(std::string_view bytes, std::size_t max_size) {
  auto event = proxystore::deserialize<StreamEvent>(bytes, max_size);
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
      queued_evicts_.clear();
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
    ids.swap(queued_ids_);
    evicts.swap(queued_evicts_);
  }
  if (ids.empty())
    return;
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
