// SPDX-License-Identifier: Apache-2.0
// The stream event codec written field by field (one allocation per event,
// payload viewed on decode) against the generic stored-object format it
// must equal: serialize(StreamEvent) / deserialize<StreamEvent>. Events
// already in streams written by earlier builds stay readable, and the
// hostile-input checks are the generic decoder's.
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::message_of;

namespace stream_event_codec_test {

using detail::StreamEvent;
using detail::StreamEventKind;

std::vector<StreamEvent> sample_events() {
  std::vector<StreamEvent> events;
  events.push_back(StreamEvent{StreamEventKind::inline_object, false, {}, serialize(7)});
  events.push_back(StreamEvent{StreamEventKind::inline_object,
                               false,
                               {{"k", "v"}, {"", ""}},
                               serialize(std::string(100, 'x'))});
  events.push_back(
      StreamEvent{StreamEventKind::proxy, true, {{"step", "3"}}, std::string(200, 'p')});
  events.push_back(StreamEvent{
      StreamEventKind::proxy, false, {}, std::string(20000, std::string::value_type{0})});
  events.push_back(StreamEvent{StreamEventKind::inline_object, true, {}, std::string()});
  return events;
}

TEST_CASE("Stream events: the one-pass encoder writes exactly serialize(StreamEvent)", "[stream]") {
  for (const StreamEvent& event : sample_events()) {
    const std::string expected = serialize(event);
    CHECK(detail::encode_stream_event(event.kind, event.evict, event.metadata, event.payload) ==
          expected);
    CHECK(detail::encode_stream_event(event) == expected);
  }
}

TEST_CASE("Stream events: the viewing decoder reads serialize(StreamEvent) without a copy",
          "[stream]") {
  for (const StreamEvent& event : sample_events()) {
    const std::string bytes = serialize(event);
    const detail::StreamEventView view = detail::decode_stream_event_view(bytes, bytes.size());
    CHECK(view.kind == event.kind);
    CHECK(view.evict == event.evict);
    CHECK(view.metadata == event.metadata);
    CHECK(view.payload == event.payload);
    CHECK(view.payload.data() >= bytes.data());
    CHECK(view.payload.data() + view.payload.size() == bytes.data() + bytes.size());
    const StreamEvent copy = detail::decode_stream_event(bytes, bytes.size());
    CHECK(copy.payload == event.payload);
    CHECK(copy.metadata == event.metadata);
  }
}

TEST_CASE("Stream events: hostile bytes get the generic decoder's errors", "[stream]") {
  const StreamEvent event{StreamEventKind::inline_object, false, {{"a", "b"}}, serialize(42)};
  const std::string good = serialize(event);
  // The body length sits right before the body: grow the last field's
  // length tag or shrink it (trailing bytes), truncate, change the type.
  std::vector<std::string> hostile;
  hostile.push_back(good.substr(0, good.size() - 1));
  hostile.push_back(good.substr(0, 5));
  hostile.push_back("");
  hostile.push_back(serialize(std::string("not an event")));
  std::string trailing = good;
  const std::size_t payload_tag = good.size() - event.payload.size() - 1;
  trailing[payload_tag] = static_cast<char>(event.payload.size() - 3);
  hostile.push_back(trailing);
  std::string overlong = good;
  overlong[payload_tag] = static_cast<char>(event.payload.size() + 1);
  hostile.push_back(overlong);
  std::string map_tag = good;
  map_tag[good.size() - event.payload.size() - 1 - 4 - 1] = '\x7f';  // metadata size 127
  hostile.push_back(map_tag);
  std::string bad_bool = good;
  bad_bool[good.size() - event.payload.size() - 1 - 4 - 1 - 1] = '\x02';
  hostile.push_back(bad_bool);
  for (const std::string& bytes : hostile) {
    CAPTURE(detail::printable(bytes));
    const std::string generic =
        message_of<SerializationError>([&] { (void)deserialize<StreamEvent>(bytes, 1 << 20); });
    CHECK(message_of<SerializationError>(
              [&] { (void)detail::decode_stream_event_view(bytes, 1 << 20); }) == generic);
  }
  CHECK_THAT(message_of<SerializationError>(
                 [&] { (void)detail::decode_stream_event_view(good, good.size() - 1); }),
             Catch::Contains("exceed the maximum object size"));
  std::string unknown_kind = good;
  unknown_kind[good.size() - event.payload.size() - 1 - 4 - 1 - 1 - 1] = '\x09';
  CHECK_THAT(message_of<SerializationError>(
                 [&] { (void)detail::decode_stream_event_view(unknown_kind, 1 << 20); }),
             Catch::Contains("stream event of unknown kind 9"));
}

}  // namespace stream_event_codec_test
