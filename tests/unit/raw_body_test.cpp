// SPDX-License-Identifier: Apache-2.0
// Raw-body objects (byte-like types, vectors of numbers): serialize_split
// writes them from their own memory, read_object reads a streamed value
// straight into the object's memory — and both agree byte for byte, error
// for error, with serialize()/deserialize().
#include <proxystore/detail/huge_pages.hpp>
#include <proxystore/proxystore.hpp>

#include "../../src/detail/prefault.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

using proxystore::SerializationError;
using proxystore::ValueReader;

namespace {

/// Hands out a value in small, uneven pieces and never as a whole, like a
/// socket would.
class PieceReader final : public ValueReader {
 public:
  explicit PieceReader(std::string bytes) : bytes_(std::move(bytes)) {}
  std::size_t size() const noexcept override { return bytes_.size(); }
  void read(char* into, std::size_t n) override {
    REQUIRE(n <= bytes_.size() - position_);
    while (n > 0) {
      const std::size_t piece = std::min<std::size_t>(n, 1 + (position_ * 7) % 4093);
      std::memcpy(into, bytes_.data() + position_, piece);
      into += piece;
      position_ += piece;
      n -= piece;
    }
  }
  std::size_t position() const noexcept { return position_; }

 private:
  std::string bytes_;
  std::size_t position_ = 0;
};

template <class T>
T pattern(std::size_t count) {
  T value(count, typename T::value_type{});
  for (std::size_t i = 0; i < count; ++i)
    value[i] = static_cast<typename T::value_type>((i * 31 + 7) % 251);
  return value;
}

}  // namespace

TEMPLATE_TEST_CASE("serialize_split: head and body are exactly serialize()", "[serialize]",
                   std::vector<char>, std::vector<unsigned char>, std::string, std::vector<double>,
                   std::vector<float>, std::vector<std::int64_t>, std::vector<std::uint16_t>) {
  for (std::size_t count : {std::size_t{0}, std::size_t{1}, std::size_t{200}, std::size_t{70000}}) {
    const TestType value = pattern<TestType>(count);
    const proxystore::detail::SplitObject split = proxystore::detail::serialize_split(value);
    CHECK(split.head + std::string(split.body) == proxystore::serialize(value));
    CHECK(static_cast<const void*>(split.body.data()) == static_cast<const void*>(value.data()));
  }
}

TEMPLATE_TEST_CASE("read_object: a streamed value decodes like its bytes", "[serialize]",
                   std::vector<char>, std::string, std::vector<double>, std::vector<std::int32_t>,
                   std::vector<std::uint16_t>) {
  // 100003 elements span several of the slices a body is received in, and
  // end part-way through one.
  for (std::size_t count :
       {std::size_t{0}, std::size_t{3}, std::size_t{100}, std::size_t{5000}, std::size_t{100003}}) {
    const TestType value = pattern<TestType>(count);
    PieceReader reader(proxystore::serialize(value));
    CHECK(proxystore::detail::read_object<TestType>(reader, proxystore::unlimited_object_size) ==
          value);
    CHECK(reader.position() == reader.size());
  }
}

TEST_CASE("read_object: wrong types and damaged headers fail as deserialize does", "[serialize]") {
  using proxystore::detail::read_object;
  const std::string doubles = proxystore::serialize(pattern<std::vector<double>>(4000));
  auto failure = [](const std::string& bytes, auto tag) {
    using T = decltype(tag);
    PieceReader reader(bytes);
    std::string streamed;
    try {
      (void)read_object<T>(reader, proxystore::unlimited_object_size);
    } catch (const SerializationError& e) {
      streamed = e.what();
    }
    std::string direct;
    try {
      (void)proxystore::deserialize<T>(bytes);
    } catch (const SerializationError& e) {
      direct = e.what();
    }
    CHECK_FALSE(direct.empty());
    CHECK(streamed == direct);
  };
  failure(doubles, std::vector<char>{});                    // another type
  failure(doubles, std::vector<float>{});                   // another element size
  failure(doubles.substr(0, 3000), std::vector<double>{});  // truncated
  std::string corrupt = doubles;
  corrupt[0] = 'Q';
  failure(corrupt, std::vector<double>{});
  std::string wrong_count = doubles;
  wrong_count[doubles.find("vector<f64>") + 11 + 8] ^= 0x01;  // the element count
  failure(wrong_count, std::vector<double>{});

  SECTION("a long type name is read through the whole-value path") {
    using Long = std::map<std::string, std::vector<std::pair<std::string, double>>>;
    Long value;
    value["k"].emplace_back(std::string(500, 'x'), 1.5);
    PieceReader reader(proxystore::serialize(value));
    CHECK(read_object<Long>(reader, proxystore::unlimited_object_size) == value);
  }
  SECTION("the size limit is checked before anything is read") {
    PieceReader reader(doubles);
    CHECK_THROWS_AS(read_object<std::vector<double>>(reader, 1000), SerializationError);
    CHECK(reader.position() == 0);
  }
}

TEST_CASE("streamed reads grow with the bytes received, by a bounded factor", "[hostile]") {
  using proxystore::detail::grown_capacity;
  using proxystore::detail::max_upfront_reserve;
  const std::size_t mib = std::size_t{1} << 20U;
  const std::size_t claim = std::size_t{64} << 30U;  // 64 GB, claimed by the peer
  // Before anything arrives: the up-front bound, whatever the claim.
  CHECK(grown_capacity(256 * 1024, 0, claim) == max_upfront_reserve);
  // Then 8 times what arrived.
  CHECK(grown_capacity(max_upfront_reserve + 1, max_upfront_reserve, claim) ==
        8 * max_upfront_reserve);
  CHECK(grown_capacity(200 * mib, 20 * mib, claim) == 200 * mib);  // never below what is needed
  // Never past the claimed size: a 100 MB value is allocated twice in all.
  const std::size_t object = 100 * mib;
  CHECK(grown_capacity(256 * 1024, 0, object) == max_upfront_reserve);
  CHECK(grown_capacity(max_upfront_reserve + 1, max_upfront_reserve, object) == object);
  CHECK(grown_capacity(10, 0, 100) == 100);
  // No overflow from a huge received count.
  CHECK(grown_capacity(1, std::numeric_limits<std::size_t>::max() / 2, claim) == claim);
}

#if defined(__linux__)

namespace {

/// Hands out the head in one read() and then the whole rest in one more,
/// as a UCX rendezvous does (ValueReader::single_transfer).
class SingleTransferReader final : public ValueReader {
 public:
  explicit SingleTransferReader(std::string bytes) : bytes_(std::move(bytes)) {}
  std::size_t size() const noexcept override { return bytes_.size(); }
  bool single_transfer() const noexcept override { return true; }
  void read(char* into, std::size_t n) override {
    REQUIRE(n <= bytes_.size() - position_);
    std::memcpy(into, bytes_.data() + position_, n);
    position_ += n;
    ++reads_;
  }
  int reads() const noexcept { return reads_; }

 private:
  std::string bytes_;
  std::size_t position_ = 0;
  int reads_ = 0;
};

/// The "THPeligible" line of the mapping in /proc/self/smaps that holds
/// `address` (-1: not found).
int thp_eligible(const void* address) {
  std::FILE* smaps = std::fopen("/proc/self/smaps", "r");
  if (smaps == nullptr)
    return -1;
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  char line[512];
  bool inside = false;
  int eligible = -1;
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long begin = 0;
    unsigned long end = 0;
    char dash = 0;
    if (std::sscanf(line, "%lx%c%lx", &begin, &dash, &end) == 3 && dash == '-') {
      inside = begin <= at && at < end;
    } else if (inside && std::sscanf(line, "THPeligible: %d", &eligible) == 1) {
      break;
    }
  }
  std::fclose(smaps);
  return eligible;
}

bool thp_on_advice_only() {
  std::FILE* mode = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (mode == nullptr)
    return false;
  char text[128] = {};
  const bool read = std::fgets(text, sizeof text, mode) != nullptr;
  std::fclose(mode);
  return read && std::strstr(text, "[madvise]") != nullptr;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "read_object: a large single-transfer value lands in one read, its last huge "
    "page inside its own allocation",
    "[serialize]", std::vector<char>, std::vector<double>) {
  // Large enough to be prefaulted; not a whole number of huge pages.
  const std::size_t count = (proxystore::detail::prefault_from + (std::size_t{3} << 20U) + 123) /
                            sizeof(typename TestType::value_type);
  const TestType value = pattern<TestType>(count);
  SingleTransferReader reader(proxystore::serialize(value));
  const TestType read =
      proxystore::detail::read_object<TestType>(reader, proxystore::unlimited_object_size);
  CHECK(read == value);
  CHECK(reader.reads() == 2);  // the head, then the rest in one transfer
  // A huge page of room past the end, so the last huge page can be one.
  const std::size_t bytes = read.size() * sizeof(typename TestType::value_type);
  CHECK(read.capacity() * sizeof(typename TestType::value_type) >=
        bytes + proxystore::detail::huge_page_size);
  const int eligible = thp_eligible(read.data() + read.size() - 1);
  if (thp_on_advice_only() && eligible != -1) {
    CHECK(eligible == 1);
  } else {
    WARN(
        "transparent huge pages are not on advice only here (or smaps does not say): their "
        "advice is not checked");
  }
}

TEST_CASE("read_object: a single-transfer value below the prefault size gets no room",
          "[serialize]") {
  const std::vector<char> value = pattern<std::vector<char>>(std::size_t{3} << 20U);
  SingleTransferReader reader(proxystore::serialize(value));
  const auto read =
      proxystore::detail::read_object<std::vector<char>>(reader, proxystore::unlimited_object_size);
  CHECK(read == value);
  CHECK(reader.reads() == 2);
  CHECK(read.capacity() == read.size());
}

#endif  // __linux__
