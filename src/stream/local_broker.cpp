// SPDX-License-Identifier: Apache-2.0
// LocalBroker: topics, groups and pending deliveries in process memory,
// one mutex and one condition variable.
#include <proxystore/detail/printable.hpp>
#include <proxystore/stream.hpp>

#include <fmt/format.h>

#include <charconv>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>

namespace proxystore {

namespace {

using clock = std::chrono::steady_clock;

struct Pending {
  std::string consumer;
  clock::time_point delivered;
};

struct Group {
  std::size_t next = 0;                    // first message not yet delivered to the group
  std::map<std::size_t, Pending> pending;  // delivered, not acknowledged
};

struct Topic {
  std::vector<std::string> messages;
  std::optional<std::size_t> end;  // index of end-of-stream (messages before it count)
  std::map<std::string, Group> groups;

  [[nodiscard]] std::size_t limit() const noexcept { return end ? *end : messages.size(); }
};

/// Our ids are message indexes in decimal; anything else is a caller's bug.
std::size_t parse_index(const std::string& id, const std::string& topic) {
  std::size_t index = 0;
  const auto [end, error] = std::from_chars(id.data(), id.data() + id.size(), index);
  if (error != std::errc() || end != id.data() + id.size() || id.empty()) {
    throw Error(fmt::format("local broker topic '{}': '{}' is not a message id of this broker",
                            detail::printable(topic), detail::printable(id)));
  }
  return index;
}

}  // namespace

struct LocalBroker::Impl {
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::string, Topic> topics;

  Group& group_of(const BrokerCursor& cursor) {
    Topic& topic = topics[cursor.topic];
    return topic.groups[cursor.group];
  }
};

LocalBroker::LocalBroker() : impl_(std::make_unique<Impl>()) {}
LocalBroker::~LocalBroker() = default;

void LocalBroker::publish(const std::string& topic, const std::vector<std::string>& messages) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    std::vector<std::string>& stored = impl_->topics[topic].messages;
    stored.insert(stored.end(), messages.begin(), messages.end());
  }
  impl_->changed.notify_all();
}

void LocalBroker::close(const std::string& topic) {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    Topic& state = impl_->topics[topic];
    if (!state.end)
      state.end = state.messages.size();
  }
  impl_->changed.notify_all();
}

void LocalBroker::subscribe(BrokerCursor& cursor) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  Topic& topic = impl_->topics[cursor.topic];
  if (!cursor.group.empty())
    topic.groups[cursor.group];  // a new group starts at the oldest message
  else if (cursor.position.empty())
    cursor.position = "0";  // fan-out: the index of the next message to read
}

BrokerBatch LocalBroker::receive(BrokerCursor& cursor, std::size_t max,
                                 std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  const auto deadline = clock::now() + wait;
  BrokerBatch batch;
  if (cursor.group.empty()) {
    std::size_t position = parse_index(cursor.position, cursor.topic);
    for (;;) {
      Topic& topic = impl_->topics[cursor.topic];
      if (topic.end && position >= *topic.end) {
        batch.end = true;
        return batch;
      }
      if (position < topic.limit()) {
        const std::size_t last = std::min(topic.limit(), position + max);
        for (; position < last; ++position)
          batch.messages.push_back(
              BrokerMessage{std::to_string(position), topic.messages[position]});
        cursor.position = std::to_string(position);
        return batch;
      }
      if (impl_->changed.wait_until(lock, deadline) == std::cv_status::timeout)
        return batch;
    }
  }
  for (;;) {
    Topic& topic = impl_->topics[cursor.topic];
    Group& group = topic.groups[cursor.group];
    if (group.next < topic.limit()) {
      const std::size_t last = std::min(topic.limit(), group.next + max);
      const auto now = clock::now();
      for (; group.next < last; ++group.next) {
        group.pending[group.next] = Pending{cursor.consumer, now};
        batch.messages.push_back(
            BrokerMessage{std::to_string(group.next), topic.messages[group.next]});
      }
      return batch;
    }
    if (topic.end && group.pending.empty()) {
      batch.end = true;
      return batch;
    }
    if (impl_->changed.wait_until(lock, deadline) == std::cv_status::timeout)
      return batch;
  }
}

BrokerBatch LocalBroker::claim(BrokerCursor& cursor, std::chrono::milliseconds min_idle,
                               std::size_t max) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  BrokerBatch batch;
  if (cursor.group.empty())
    return batch;
  Topic& topic = impl_->topics[cursor.topic];
  Group& group = topic.groups[cursor.group];
  const auto now = clock::now();
  for (auto& [index, pending] : group.pending) {
    if (batch.messages.size() >= max)
      break;
    if (now - pending.delivered < min_idle)
      continue;
    pending = Pending{cursor.consumer, now};
    batch.messages.push_back(BrokerMessage{std::to_string(index), topic.messages[index]});
  }
  return batch;
}

void LocalBroker::ack(const BrokerCursor& cursor, const std::vector<std::string>& ids) {
  if (cursor.group.empty())
    return;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    Group& group = impl_->group_of(cursor);
    for (const std::string& id : ids)
      group.pending.erase(parse_index(id, cursor.topic));
  }
  impl_->changed.notify_all();
}

}  // namespace proxystore
