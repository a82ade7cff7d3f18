// SPDX-License-Identifier: Apache-2.0
// What a Redis server (or anything listening where a proxy points) sends
// back, minus the socket: the direct path's reply header, and a value of
// the length the header claims streamed into each kind of object through
// the reader Store::get uses. The claimed length is the input's to choose
// (up to 2^64 - 1); the bytes behind it are the rest of the input, then the
// "connection" fails. Only a decoded object or a proxystore Error may come
// out — never std::bad_alloc, and (with the default -malloc_limit_mb=64)
// never an allocation the received bytes do not back.
//
// Input: one mode byte, then for mode 0 a reply line; otherwise an 8-byte
// little-endian claimed length followed by the bytes that "arrive".
#include "fuzz_common.hpp"

#include "detail/redis_connection.hpp"

namespace {

using namespace proxystore;

/// The rest of the input, then a failure as a dropped connection's.
class InputReader final : public ValueReader {
 public:
  InputReader(std::size_t claimed, std::string_view bytes) : claimed_(claimed), bytes_(bytes) {}
  [[nodiscard]] std::size_t size() const noexcept override { return claimed_; }
  void read(char* into, std::size_t n) override {
    fuzz::require(n <= claimed_ - done_, "read past the claimed size");
    if (n > bytes_.size())
      throw ConnectionError("fuzz: connection closed");
    std::memcpy(into, bytes_.data(), n);
    bytes_.remove_prefix(n);
    done_ += n;
  }

 private:
  std::size_t claimed_;
  std::string_view bytes_;
  std::size_t done_ = 0;
};

template <class T>
void read_claimed(std::size_t claimed, std::string_view bytes, std::size_t max_object_size) {
  InputReader reader(claimed, bytes);
  try {
    (void)detail::read_object<T>(reader, max_object_size);
  } catch (const Error&) {
  }
  // Through a buffer, as RedisStore::do_get receives a payload.
  InputReader again(claimed, bytes);
  std::string buffer;
  try {
    detail::read_growing(again, buffer, claimed);
    fuzz::require(buffer.size() == claimed, "read_growing returned a short buffer");
  } catch (const ConnectionError&) {
    fuzz::require(buffer.size() <= bytes.size() + detail::streamed_slice_size,
                  "buffer grew past the bytes received");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::optional<fuzz::TaggedInput> input = fuzz::split_tag(data, size);
  if (!input)
    return 0;
  const std::uint8_t mode = input->tag;
  const std::string_view rest = input->rest;
  if (mode % 8 == 0) {
    const detail::ReplyHeader header = detail::parse_reply_header(rest);
    if (header.kind == detail::ReplyHeader::Kind::bulk)
      fuzz::require(rest.size() > 1 && rest[0] == '$', "bulk header without '$'");
    if (header.kind == detail::ReplyHeader::Kind::error)
      fuzz::require(header.text.size() + 1 == rest.size(), "error text is not the line's rest");
    return 0;
  }
  if (rest.size() < 8)
    return 0;
  std::uint64_t claimed = 0;
  for (int i = 7; i >= 0; --i)
    claimed = (claimed << 8U) | static_cast<std::uint8_t>(rest[static_cast<std::size_t>(i)]);
  const std::string_view bytes = rest.substr(8);
  const std::size_t max_object_size =
      (mode & 0x80U) != 0 ? std::size_t{1} << 20U : unlimited_object_size;
  switch (mode % 8) {
    case 1:
      read_claimed<std::vector<double>>(claimed, bytes, max_object_size);
      break;
    case 2:
      read_claimed<std::string>(claimed, bytes, max_object_size);
      break;
    case 3:
      read_claimed<std::map<std::string, std::int64_t>>(claimed, bytes, max_object_size);
      break;
    case 4:
      read_claimed<std::vector<char>>(claimed, bytes, max_object_size);
      break;
    case 5:
      read_claimed<std::vector<std::int32_t>>(claimed, bytes, max_object_size);
      break;
    default:
      read_claimed<std::vector<std::string>>(claimed, bytes, max_object_size);
      break;
  }
  return 0;
}
