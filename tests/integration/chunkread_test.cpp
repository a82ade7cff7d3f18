// SPDX-License-Identifier: Apache-2.0
// Chunked values read straight into the object (detail::ChunkValueReader):
// RedisStore and RedisClusterStore hand Store::get a reader whose whole
// chunks land in the object's own memory, fetched in parallel from the
// primaries on a cluster. Round trips of raw-body and cereal types at sizes
// that are no multiple of the chunk or element size, a chunk evicted
// meanwhile (not found), a manifest lying about sizes (a clear error, or
// not found, with no allocation on its word alone).
#include <proxystore/proxystore.hpp>
#include <proxystore/stores/redis.hpp>
#include <proxystore/stores/redis_cluster.hpp>

#include "../../src/detail/redis_chunks.hpp"
#include "support/matchers.hpp"
#include "support/redis_cluster.hpp"
#include "support/redis_server.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::RedisCluster;
using proxystore::test::RedisServer;
using proxystore::test::RespReply;

namespace chunkread_test {

template <class T>
T pattern(std::size_t count) {
  T value(count, typename T::value_type{});
  for (std::size_t i = 0; i < count; ++i)
    value[i] = static_cast<typename T::value_type>((i * 31 + i / 977 + 7) % 251);
  return value;
}

std::map<std::string, int> pattern_map(std::size_t count) {
  std::map<std::string, int> out;
  for (std::size_t i = 0; i < count; ++i)
    out["entry-" + std::to_string(i * 7919)] = static_cast<int>(i * 31);
  return out;
}

RedisOptions options_for(const std::string& prefix, std::size_t chunk_size) {
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  options.command_timeout = std::chrono::milliseconds(10000);
  options.key_prefix = prefix;
  options.chunk_size = chunk_size;
  options.store.cache_size = 0;  // every get reads the store
  return options;
}

/// Sets `value`, checks that it was chunked (`chunks` counts the chunk keys
/// of a key) and reads it back.
template <class T, class Chunks>
void round_trip(Store& store, const T& value, Chunks&& chunks) {
  const Key key = store.set(value);
  CHECK(chunks(key) > 2);
  CHECK(store.get<T>(key) == value);
  store.evict(key);
  CHECK(chunks(key) == 0);
}

/// Every type at sizes no multiple of the chunk or element size.
template <class Chunks>
void round_trip_all(Store& store, Chunks&& chunks) {
  round_trip(store, pattern<std::vector<char>>(1000003), chunks);
  round_trip(store, pattern<std::vector<double>>(130001), chunks);
  round_trip(store, pattern<std::vector<std::uint16_t>>(300007), chunks);
  round_trip(store, pattern<std::string>(777777), chunks);
  round_trip(store, pattern_map(20011), chunks);
}

}  // namespace chunkread_test

using namespace chunkread_test;  // NOLINT(google-build-using-namespace): test file

TEST_CASE("chunkread: RedisStore reads chunked values straight into the object", "[redis]") {
  RedisServer server;
  std::size_t chunk_size = 0;
  SECTION("large chunks: received directly") {
    chunk_size = std::size_t{64} << 10U;
  }
  SECTION("chunks of 100003 bytes") {
    chunk_size = 100003;
  }
  SECTION("small chunks: pipelined") {
    chunk_size = std::size_t{3} << 10U;
  }
  auto store =
      std::make_shared<RedisStore>("chunkread-" + std::to_string(chunk_size), server.host(),
                                   server.port(), options_for("chunkread:", chunk_size));
  round_trip_all(*store, [&](const Key& key) {
    return server.keys("chunkread:" + key.id + ":chunk:*").size();
  });
  CHECK(server.keys("chunkread:*").empty());
}

TEST_CASE("chunkread: RedisStore: a chunk evicted meanwhile means not found", "[redis]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>("chunkread-evicted", server.host(), server.port(),
                                            options_for("evicted:", std::size_t{64} << 10U));
  const auto value = pattern<std::vector<double>>(200000);  // 1.6 MB: 25 chunks
  const Key key = store->set(value);
  for (const char* chunk : {"0", "1", "7", "24"}) {
    INFO("chunk " << chunk);
    const Key copy = store->set(value);
    REQUIRE(
        server.command({"DEL", "evicted:" + copy.id + ":chunk:" + std::string(chunk)}).integer ==
        1);
    CHECK_FALSE(store->get<std::vector<double>>(copy).has_value());
    CHECK_FALSE(store->get<std::map<std::string, int>>(copy).has_value());
    auto proxy = store->proxy_from_key<std::vector<double>>(copy);
    CHECK_THROWS_AS(resolve(proxy), ProxyResolveMissingKeyError);
    // The connection stayed in step: the next read is whole.
    CHECK(store->get<std::vector<double>>(key) == value);
  }
}

TEST_CASE("chunkread: RedisStore: a manifest lying about sizes", "[redis][hostile]") {
  RedisServer server;
  auto store = std::make_shared<RedisStore>("chunkread-lies", server.host(), server.port(),
                                            options_for("lies:", std::size_t{64} << 10U));
  const auto value = pattern<std::vector<char>>(1000000);
  const Key key = store->set(value);
  const std::string manifest_key = "lies:" + key.id;
  const std::string manifest = server.command({"GET", manifest_key}).text;
  REQUIRE(detail::is_chunk_manifest(manifest));
  const std::string magic(detail::chunk_manifest_magic);

  SECTION("chunks of another size than it says: a clear error") {
    // The same chunks, but a manifest saying they are twice as large.
    REQUIRE(server.command({"SET", manifest_key, magic + "1000024 131072 8"}).type ==
            RespReply::Type::status);
    CHECK_THROWS_MATCHES(store->get<std::vector<char>>(key), StoreOperationError,
                         MessageContains({server.address(), manifest_key + ":chunk:0",
                                          "the chunk has 65536 bytes, its manifest says 131072"}));
    // The connection that saw it was dropped, the next read is whole.
    REQUIRE(server.command({"SET", manifest_key, manifest}).type == RespReply::Type::status);
    CHECK(store->get<std::vector<char>>(key) == value);
  }
  SECTION("a total of 2^40 bytes over the chunks that exist: not found, a few GETs") {
    // The first chunk's header announces the huge body too, so the object
    // is created from it; it grows only as far as the limits on unbacked
    // sizes allow before the second batch finds chunks missing.
    const std::uint64_t total = std::uint64_t{1} << 40U;
    std::string first = server.command({"GET", manifest_key + ":chunk:0"}).text;
    const auto body_at = first.find("\x40\x42\x0f", 0);  // 1000000 little-endian
    REQUIRE(body_at != std::string::npos);
    const std::uint64_t body = total - (body_at + 8);
    for (std::size_t i = 0; i < 8; ++i)
      first[body_at + i] = static_cast<char>((body >> (8 * i)) & 0xffU);
    REQUIRE(server.command({"SET", manifest_key + ":chunk:0", first}).type ==
            RespReply::Type::status);
    REQUIRE(
        server
            .command({"SET", manifest_key,
                      magic + std::to_string(total) + " 65536 " + std::to_string(total / 65536)})
            .type == RespReply::Type::status);
    REQUIRE(server.command({"DEL", manifest_key + ":chunk:15"}).integer == 1);  // the short last
    server.reset_stats();
    CHECK_FALSE(store->get<std::vector<char>>(key).has_value());
    // The manifest, chunk 0, then batches of 2, 4, 8 and 16 chunks (chunk
    // 15 and on are missing) — never the 2^24 chunks it claims.
    CHECK(server.command_calls("get") <= 1 + 1 + 2 + 4 + 8 + 16);
    CHECK_FALSE(store->get<std::string>(key).has_value());
  }
}

TEST_CASE("chunkread: RedisClusterStore reads chunks from every primary into the object",
          "[redis][redis-cluster]") {
  RedisCluster cluster;
  auto store =
      std::make_shared<RedisClusterStore>(test::unique_name("chunkread"), cluster.seeds(),
                                          options_for("chunkread:", std::size_t{64} << 10U));
  const auto chunk_keys = [&](const Key& key) {
    std::size_t total = 0;
    for (const std::size_t node : cluster.live_primaries())
      total += cluster.server(node).keys("chunkread:" + key.id + ":chunk:*").size();
    return total;
  };
  round_trip_all(*store, chunk_keys);

  // A chunk evicted meanwhile: not found, and the store still reads.
  const auto value = pattern<std::vector<double>>(200000);
  const Key key = store->set(value);
  const Key gone = store->set(value);
  long long deleted = 0;
  for (const std::size_t node : cluster.live_primaries()) {
    const RespReply reply =
        cluster.server(node).command({"DEL", "chunkread:" + gone.id + ":chunk:9"});
    if (reply.type == RespReply::Type::integer)
      deleted += reply.integer;
  }
  REQUIRE(deleted == 1);
  CHECK_FALSE(store->get<std::vector<double>>(gone).has_value());
  CHECK_FALSE(store->get<std::string>(gone).has_value());
  CHECK(store->get<std::vector<double>>(key) == value);
}
