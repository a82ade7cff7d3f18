// SPDX-License-Identifier: Apache-2.0
// Issue 12, items 6 and 7: sizes a Redis server or a key's writer claims are
// not allocated before bytes back them. A scripted server (FakeRedisServer)
// announces a 64 GB reply; a real redis-server holds forged chunk manifests.
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>

#include "../../src/detail/redis_chunks.hpp"
#include "support/fake_redis_server.hpp"
#include "support/matchers.hpp"
#include "support/redis_server.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

using proxystore::Key;
using proxystore::RedisOptions;
using proxystore::RedisStore;
using proxystore::test::FakeRedisServer;
using proxystore::test::MessageContains;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;

namespace {

using Map = std::map<std::string, std::int64_t>;

/// A reply claiming 64 GB: the allocation that used to be attempted.
constexpr std::uint64_t claimed_bytes = std::uint64_t{64} << 30U;

/// A field of /proc/self/status in KiB (VmRSS, VmHWM).
long status_kib(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(field + ":", 0) == 0)
      return std::stol(line.substr(field.size() + 1));
  }
  FAIL("no " << field << " in /proc/self/status");
  return 0;
}

/// Peak RSS growth (KiB) while `body` runs: the peak is reset first
/// (clear_refs 5), so VmHWM afterwards is the peak of this run alone.
template <class Body>
long peak_rss_growth_kib(Body&& body) {
  {
    std::ofstream clear("/proc/self/clear_refs");
    clear << "5";
  }
  const long before = status_kib("VmRSS");
  body();
  return status_kib("VmHWM") - before;
}

/// The header of a stored `T` whose body data (a vector's elements, a
/// string's bytes) is `data` bytes: what a peer sends ahead of a body it
/// never sends. The whole encoding is the header's size plus `data`.
template <class T>
std::string forged_head(std::uint64_t data) {
  std::string head;
  const std::size_t length_at =
      proxystore::detail::write_object_header(head, proxystore::type_name<T>());
  const std::size_t body_at = head.size();
  if constexpr (!proxystore::detail::is_byte_like_v<T>)
    proxystore::detail::WireOutputArchive(head).save_varint(data / sizeof(typename T::value_type));
  proxystore::detail::write_body_length(head, length_at, head.size() - body_at + data);
  return head;
}

/// A server that answers GET with a bulk reply announcing a `T` of 64 GB,
/// sends its header and the first MiB of its body, then says nothing more
/// (the client times out waiting for the rest).
template <class T>
FakeRedisServer::Handler claims_64_gb() {
  return FakeRedisServer::with_handshake(
      [](const FakeRedisServer::Command& command) -> std::optional<std::string> {
        if (command.empty() || command[0] != "GET")
          return FakeRedisServer::ok();
        const std::string head = forged_head<T>(claimed_bytes);
        return "$" + std::to_string(head.size() + claimed_bytes) + "\r\n" + head +
               std::string(std::size_t{1} << 20U, '\0');
      });
}

std::shared_ptr<RedisStore> fake_store(const FakeRedisServer& server, const std::string& name,
                                       std::size_t max_object_size) {
  RedisOptions options;
  options.key_prefix = "hostile:";
  options.command_timeout = std::chrono::milliseconds(300);
  options.store.cache_size = 0;
  options.store.max_object_size = max_object_size;
  return std::make_shared<RedisStore>(name, server.host(), server.port(), options);
}

/// Reads key "k" as a `T` from a server claiming 64 GB: a clear Error
/// naming the server, and (KiB) how much the peak RSS grew meanwhile.
template <class T>
long read_claimed_64_gb() {
  FakeRedisServer server(claims_64_gb<T>());
  auto store = fake_store(server, "hostile-64gb", proxystore::unlimited_object_size);
  const long growth = peak_rss_growth_kib([&] {
    // Not std::bad_alloc: the payload never comes, so the wait times out.
    CHECK_THROWS_MATCHES(store->get<T>(Key{"k"}), proxystore::TimeoutError,
                         MessageContains({server.address(), "hostile-64gb", "hostile:k"}));
  });
  return growth;
}

std::string manifest(const std::string& numbers) {
  return std::string(proxystore::detail::chunk_manifest_magic) + numbers;
}

std::shared_ptr<RedisStore> real_store(const RedisServer& server, const std::string& name,
                                       std::size_t max_object_size) {
  RedisOptions options;
  options.key_prefix = "forged:";
  options.store.cache_size = 0;
  options.store.max_object_size = max_object_size;
  return std::make_shared<RedisStore>(name, server.host(), server.port(), options);
}

}  // namespace

TEST_CASE("Redis hostile reply: a 64 GB length allocates nothing it did not receive",
          "[redis][hostile]") {
  // Before: std::bad_alloc from reserving the claimed size for each type.
  long growth = 0;
  SECTION("vector<double> (read into the object's memory)") {
    growth = read_claimed_64_gb<std::vector<double>>();
  }
  SECTION("std::string (byte-like)") {
    growth = read_claimed_64_gb<std::string>();
  }
  SECTION("std::map (decoded from a buffer)") {
    growth = read_claimed_64_gb<Map>();
  }
  INFO("peak RSS growth " << growth << " KiB");
  CHECK(growth < 16 * 1024);
}

TEST_CASE("Redis hostile reply: a length over max_object_size is refused on the header",
          "[redis][hostile]") {
  FakeRedisServer server(claims_64_gb<std::vector<double>>());
  auto store = fake_store(server, "hostile-capped", std::size_t{1} << 20U);
  CHECK_THROWS_MATCHES(store->get<std::vector<double>>(Key{"k"}), proxystore::SerializationError,
                       MessageContains({server.address(), "hostile-capped", "hostile:k", "6871947",
                                        "maximum object size"}));
  CHECK_THROWS_MATCHES(store->get<Map>(Key{"k"}), proxystore::SerializationError,
                       MessageContains({server.address(), "6871947"}));
}

TEST_CASE("Redis hostile reply: a manifest claiming 2^50 bytes costs one chunk GET",
          "[redis][hostile]") {
  RedisServer server;
  // 2^50 bytes in 1 MiB chunks: 2^30 chunks, none of them there.
  REQUIRE(server.command({"SET", "forged:huge", manifest("1125899906842624 1048576 1073741824")})
              .type == RespReply::Type::status);

  SECTION("unlimited: the first chunk is missing, so the value is absent") {
    auto store = real_store(server, "forged-huge", proxystore::unlimited_object_size);
    server.reset_stats();
    long growth = 0;
    growth = peak_rss_growth_kib([&] { CHECK_FALSE(store->get<std::string>(Key{"huge"})); });
    CHECK(server.command_calls("get") == 2);  // the manifest, then chunk 0
    INFO("peak RSS growth " << growth << " KiB");
    CHECK(growth < 16 * 1024);
    // A proxy of it fails as a missing key does.
    auto proxy = store->proxy_from_key<std::string>(Key{"huge"});
    CHECK_THROWS_AS(proxystore::resolve(proxy), proxystore::ProxyResolveMissingKeyError);
  }
  SECTION("over max_object_size: refused from the manifest alone") {
    auto store = real_store(server, "forged-capped", std::size_t{1} << 30U);
    server.reset_stats();
    CHECK_THROWS_MATCHES(store->get<std::string>(Key{"huge"}), proxystore::SerializationError,
                         MessageContains({server.address(), "forged:huge", "1125899906842624"}));
    CHECK(server.command_calls("get") == 1);
  }
  SECTION("evict and expire walk one batch past the chunks that exist") {
    auto store = real_store(server, "forged-evict", proxystore::unlimited_object_size);
    REQUIRE(server.command({"SET", "forged:huge:chunk:0", "x"}).type == RespReply::Type::status);
    {
      auto lease = std::make_shared<proxystore::LeaseLifetime>(store, std::chrono::seconds(60));
      server.reset_stats();
      lease->add(*store, Key{"huge"});
      // Chunk 0 exists, so the first 1024 are tried; the next batch finds none.
      CHECK(server.command_calls("pexpire") == 2 + 2 * 1024);
      CHECK(server.command({"PTTL", "forged:huge:chunk:0"}).integer > 0);
      server.reset_stats();
      store->evict(Key{"huge"});
      CHECK(server.command_calls("unlink") == 1 + 2);  // the key, then two chunk batches
      lease->close();
    }
    CHECK(server.keys("forged:*").empty());
  }
}

TEST_CASE("Redis hostile reply: a manifest of one-byte chunks is corrupt", "[redis][hostile]") {
  RedisServer server;
  // The 4,000,000 one-byte chunks: 4,000,001 GETs before.
  REQUIRE(server.command({"SET", "forged:tiny", manifest("4000000 1 4000000")}).type ==
          RespReply::Type::status);
  auto store = real_store(server, "forged-tiny", proxystore::unlimited_object_size);
  server.reset_stats();
  CHECK_THROWS_MATCHES(
      store->get<std::string>(Key{"tiny"}), proxystore::StoreOperationError,
      MessageContains({server.address(), "forged:tiny", "corrupt chunk manifest"}));
  CHECK(server.command_calls("get") == 1);
  server.reset_stats();
  store->evict(Key{"tiny"});  // not ours to interpret: only the key goes
  CHECK(server.command_calls("unlink") == 1);
  CHECK(server.keys("forged:*").empty());
}

TEST_CASE("Redis chunks: read in doubling batches, stopping at the first missing chunk",
          "[redis][hostile]") {
  RedisServer server;
  RedisOptions options;
  options.key_prefix = "batches:";
  options.chunk_size = RedisOptions::min_chunk_size;
  options.store.cache_size = 0;
  auto store = std::make_shared<RedisStore>("chunk-batches", server.host(), server.port(), options);
  std::string value(100 * 1024, '\0');
  for (std::size_t i = 0; i < value.size(); ++i)
    value[i] = static_cast<char>(i * 7 + i / 1024);
  const Key key = store->set(value);
  const std::size_t chunks = server.keys("batches:" + key.id + ":chunk:*").size();
  REQUIRE(chunks >= 100);
  server.reset_stats();
  CHECK(store->get<std::string>(key) == value);
  CHECK(server.command_calls("get") == static_cast<long long>(chunks) + 1);

  // Chunk 5 gone: batches 1, 2, 4 end at chunk 6, and no GET goes further.
  REQUIRE(server.command({"DEL", "batches:" + key.id + ":chunk:5"}).integer == 1);
  server.reset_stats();
  CHECK_FALSE(store->get<std::string>(key).has_value());
  CHECK(server.command_calls("get") == 1 + 7);
  store->evict(key);
  CHECK(server.keys("batches:*").empty());
}

TEST_CASE("Redis chunks: chunk_size must lie in [min_chunk_size, max_chunk_size]",
          "[redis][hostile]") {
  RedisOptions options;
  for (const std::size_t bad :
       {std::size_t{0}, RedisOptions::min_chunk_size - 1, RedisOptions::max_chunk_size + 1}) {
    options.chunk_size = bad;
    CHECK_THROWS_MATCHES(RedisStore("bad-chunks", "127.0.0.1", 6379, options), proxystore::Error,
                         MessageContains({"bad-chunks", "chunk_size", std::to_string(bad)}));
  }
  options.chunk_size = RedisOptions::min_chunk_size;
  CHECK_NOTHROW(RedisStore("ok-chunks", "127.0.0.1", 6379, options));
}

TEST_CASE("Chunk manifests: decoding and assembly are bounded by what arrives", "[hostile]") {
  using proxystore::detail::ChunkAssembler;
  using proxystore::detail::decode_chunk_manifest;
  CHECK_FALSE(decode_chunk_manifest(manifest("4000000 1 4000000")));
  CHECK_FALSE(decode_chunk_manifest(manifest("1073741824 1073741824 1")));  // over 512 MiB
  const auto huge = decode_chunk_manifest(manifest("1125899906842624 1048576 1073741824"));
  REQUIRE(huge);

  ChunkAssembler assembler(*huge, std::size_t{64} << 20U);
  auto [first, end] = assembler.next_batch();
  CHECK(first == 0);
  CHECK(end == 1);
  CHECK(assembler.capacity() == std::size_t{1} << 20U);  // one chunk, not 2^50 bytes
  assembler.mark_missing();
  std::tie(first, end) = assembler.next_batch();
  CHECK(first == end);
  CHECK_FALSE(assembler.take());

  // A complete value: batches of 1, 2, 4, ... chunks, the buffer at most
  // twice what was received.
  const auto small = decode_chunk_manifest(manifest("10000 1024 10"));
  REQUIRE(small);
  ChunkAssembler parts(*small, std::size_t{64} << 20U);
  std::vector<std::uint64_t> sizes;
  std::string expected;
  for (;;) {
    std::tie(first, end) = parts.next_batch();
    if (first == end)
      break;
    sizes.push_back(end - first);
    CHECK(parts.capacity() <= 2 * first * 1024 + 1024);
    for (std::uint64_t i = first; i < end; ++i) {
      const std::string chunk(parts.size_of(i), static_cast<char>('a' + i));
      expected += chunk;
      parts.put(i, chunk.data(), chunk.size());
    }
  }
  CHECK(sizes == std::vector<std::uint64_t>{1, 2, 4, 3});

  // fuzz_redis_manifest finding: an empty value's one empty chunk, handed
  // over with no data pointer (memcpy from null was undefined behaviour).
  const auto empty = decode_chunk_manifest(manifest("0 157585 1"));
  REQUIRE(empty);
  ChunkAssembler nothing(*empty, std::size_t{64} << 20U);
  std::tie(first, end) = nothing.next_batch();
  REQUIRE(end - first == 1);
  CHECK(nothing.size_of(0) == 0);
  nothing.put(0, nullptr, 0);
  std::tie(first, end) = nothing.next_batch();
  CHECK(first == end);
  const std::optional<proxystore::Bytes> none = nothing.take();
  REQUIRE(none);
  CHECK(none->size() == 0);
  const std::optional<proxystore::Bytes> whole = parts.take();
  REQUIRE(whole);
  CHECK(whole->view() == expected);
}
