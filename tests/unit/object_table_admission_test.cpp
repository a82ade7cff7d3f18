// SPDX-License-Identifier: Apache-2.0
// ucx::ObjectTable::admit_incoming: puts still being received count against
// a node's memory limit beside the stored values, so peers announcing puts
// they send slowly, or never, cannot make it hold more than the limit.
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include "../../src/detail/ucx_transport.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <filesystem>
#include <limits>
#include <string>

namespace ucx = proxystore::detail::ucx;
using proxystore::StoreOperationError;
using proxystore::test::TempDir;

namespace {

/// A stored value of `size` bytes (below huge_page_from: its footprint is
/// its size).
ucx::BlobPtr value_of(std::size_t size) {
  return ucx::make_blob(std::string(size, 'v'), {});
}

}  // namespace

TEST_CASE("object table: receives and stored values share the memory limit", "[peer][unit]") {
  ucx::ObjectTable table(1000, std::string(), "admission test");
  CHECK(table.admit_incoming(600));
  CHECK_FALSE(table.admit_incoming(500));  // 600 + 500 > 1000: nothing counted
  CHECK(table.incoming_bytes() == 600);
  // A local put counts the receives under way too.
  CHECK_THROWS_AS(table.put("local", value_of(500)), StoreOperationError);
  table.put("small", value_of(300));
  CHECK_FALSE(table.admit_incoming(200));  // 300 stored + 600 + 200 > 1000
  CHECK(table.admit_incoming(100));
  // A received value stored under its own admission is not counted twice.
  table.put("received", value_of(90), 100);
  table.release_incoming(100);
  table.release_incoming(600);
  CHECK(table.incoming_bytes() == 0);
  CHECK(table.memory_bytes() == 390);
  CHECK(table.admit_incoming(610));
  // Never negative, however often released; no overflow at the edges.
  table.release_incoming(std::numeric_limits<std::size_t>::max());
  CHECK(table.incoming_bytes() == 0);
  CHECK_FALSE(table.admit_incoming(std::numeric_limits<std::size_t>::max()));
  CHECK(table.incoming_bytes() == 0);
}

TEST_CASE("object table: without a limit every receive is admitted", "[peer][unit]") {
  ucx::ObjectTable table(0, std::string(), "unlimited");
  CHECK(table.admit_incoming(std::size_t{1} << 40U));
  CHECK(table.admit_incoming(std::size_t{1} << 40U));
  CHECK(table.incoming_bytes() == std::size_t{2} << 40U);
}

TEST_CASE("object table: with a spill directory one receive at a time may exceed the limit",
          "[peer][unit]") {
  TempDir dir;
  ucx::ObjectTable table(1000, dir.path().string(), "spilling");
  CHECK(table.admit_incoming(5000));      // alone: spilled once complete
  CHECK_FALSE(table.admit_incoming(10));  // beside it: within the limit only
  table.release_incoming(5000);
  table.put("kept", value_of(800));
  CHECK(table.admit_incoming(150));  // 800 + 150 fit
  CHECK_FALSE(table.admit_incoming(100));
}

TEST_CASE("object table: a refused put keeps the value it would have replaced", "[peer][unit]") {
  ucx::ObjectTable table(1000, std::string(), "replacing");
  table.put("kept", value_of(400));
  table.put("other", value_of(500));
  CHECK_THROWS_AS(table.put("kept", value_of(600)), StoreOperationError);  // 500 + 600 > 1000
  const ucx::BlobPtr still = table.get("kept");
  REQUIRE(still != nullptr);
  CHECK(still->size == 400);
  CHECK(table.memory_bytes() == 900);
  // Once the new value is here, the one it replaces counts as freed: the
  // key may grow to what the limit leaves beside the others.
  table.put("kept", value_of(500));
  CHECK(table.memory_bytes() == 1000);
  CHECK(table.get("kept")->size == 500);
  // While one is being received, both count (the old one is kept until the
  // new one is stored, and the put may still fail).
  CHECK_FALSE(table.admit_incoming(100));
  table.evict("other");
  CHECK(table.admit_incoming(450));  // 500 + 450 fit
  table.put("kept", value_of(450), 450);
  table.release_incoming(450);
  CHECK(table.memory_bytes() == 450);
  CHECK(table.get("kept")->size == 450);
}

TEST_CASE("object table: a spilled value is replaced whole, in memory or on disk", "[peer][unit]") {
  TempDir dir;
  ucx::ObjectTable table(1000, dir.path().string(), "replacing spills");
  table.put("big", value_of(3000));  // spilled
  CHECK(table.spilled_bytes() == 3000);
  table.put("big", value_of(2000));  // spilled again, over the first file
  CHECK(table.spilled_bytes() == 2000);
  CHECK(table.get("big")->size == 2000);
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    CHECK(entry.path().extension() == ".obj");  // no ".part" left behind
    ++files;
  }
  CHECK(files == 1);
  table.put("big", value_of(100));  // back in memory: the file goes
  CHECK(table.spilled_bytes() == 0);
  CHECK(table.memory_bytes() == 100);
  CHECK(std::filesystem::is_empty(dir.path()));
  CHECK(table.get("big")->size == 100);
}

TEST_CASE("object table: a value in memory replaced by one that spills", "[peer][unit]") {
  TempDir dir;
  ucx::ObjectTable table(1000, dir.path().string(), "memory to disk");
  table.put("k", value_of(600));
  table.put("k", value_of(1500));  // beyond the limit: spilled
  CHECK(table.memory_bytes() == 0);
  CHECK(table.spilled_bytes() == 1500);
  CHECK(table.get("k")->size == 1500);
}

TEST_CASE("object table: a failed spill keeps the value it would have replaced", "[peer][unit]") {
  TempDir dir;
  ucx::ObjectTable table(1000, dir.path().string(), "failing spill");
  table.put("k", value_of(2000));  // spilled
  std::filesystem::path spilled;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    spilled = entry.path();
  REQUIRE(spilled.extension() == ".obj");
  // The next spill's file cannot be written: its ".part" is a directory.
  std::filesystem::path part = spilled;
  part += ".part";
  std::filesystem::create_directory(part);
  CHECK_THROWS_WITH(table.put("k", value_of(3000)), Catch::Contains("cannot spill 3000 bytes"));
  CHECK(table.get("k")->size == 2000);
  CHECK(table.spilled_bytes() == 2000);
  CHECK(std::filesystem::file_size(spilled) == 2000);
  std::filesystem::remove(part);
  table.put("k", value_of(3000));
  CHECK(table.get("k")->size == 3000);
  CHECK(table.spilled_bytes() == 3000);
}

TEST_CASE("object table: a key of the longest length spills and reads back", "[peer][unit]") {
  TempDir dir;
  ucx::ObjectTable table(100, dir.path().string(), "long keys");
  const std::string key(ucx::max_key_length, 'k');
  const std::string other(ucx::max_key_length - 1, 'k');
  table.put(key, value_of(500));
  table.put(other, value_of(400));
  CHECK(table.spilled_bytes() == 900);
  CHECK(table.get(key)->size == 500);
  CHECK(table.get(other)->size == 400);
  table.evict(key);
  CHECK(table.get(key) == nullptr);
  CHECK(table.get(other)->size == 400);
}

#endif  // PROXYSTORE_HAS_UCX
