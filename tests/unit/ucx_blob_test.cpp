// SPDX-License-Identifier: Apache-2.0
// ucx::make_blob: the memory a PeerStore or an endpoint holds values in.
// From huge_page_from up a value lives in whole, aligned 2 MiB pages advised
// for transparent huge pages, so a peer's cross-memory-attach read pins one
// page per 2 MiB (the difference between 1.5 x and 1.0 x the raw-UCX floor
// for a 1 MiB get on the development VM).
#include <proxystore/proxystore.hpp>

#if PROXYSTORE_HAS_UCX

#include "../../src/detail/ucx_transport.hpp"
#include "support/smaps.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ucx = proxystore::detail::ucx;

namespace {

constexpr std::size_t huge_page = std::size_t{2} << 20U;

std::size_t round_up(std::size_t size) {
  return (size + huge_page - 1) / huge_page * huge_page;
}

}  // namespace

TEST_CASE("ucx blobs: small values are plain allocations", "[peer][unit]") {
  for (std::size_t size : {std::size_t{0}, std::size_t{100}, ucx::huge_page_from - 1}) {
    const auto blob = ucx::make_blob(size);
    CHECK(blob->size == size);
    CHECK(blob->data.get_deleter().mapped == 0);
  }
}

TEST_CASE("ucx blobs: from huge_page_from up, values fill whole aligned huge pages",
          "[peer][unit]") {
  for (std::size_t size :
       {ucx::huge_page_from, ucx::huge_page_from + 1, huge_page + 1, std::size_t{3} << 20U}) {
    INFO("size " << size);
    const auto blob = ucx::make_blob(size);
    const auto begin = reinterpret_cast<std::uintptr_t>(blob->data.get());
    const ucx::BlobFree& mapping = blob->data.get_deleter();
    CHECK(begin % huge_page == 0);
    REQUIRE(mapping.mapped != 0);
    CHECK(blob->footprint() == round_up(size));
    // Every huge page the value touches lies inside the mapping ...
    const auto base = reinterpret_cast<std::uintptr_t>(mapping.base);
    CHECK(base <= begin);
    CHECK(begin + round_up(size) <= base + mapping.mapped);
    // ... and is advised for huge pages as a whole ("hg"), the last one too.
    const std::string flags =
        proxystore::test::mapping_fields(begin, begin + round_up(size))["VmFlags"];
    CHECK((" " + flags + " ").find(" hg ") != std::string::npos);
    blob->data.get()[0] = 'a';
    blob->data.get()[size - 1] = 'z';
    CHECK(blob->data.get()[size - 1] == 'z');
  }
}

TEST_CASE("ucx blobs: a memory limit counts the huge pages a value occupies", "[peer][unit]") {
  ucx::ObjectTable table(std::size_t{3} << 20U, std::string(), "table 'limit'");
  const std::string value(ucx::huge_page_from, 'v');
  table.put("small", ucx::make_blob(std::string(1000, 's'), {}));
  CHECK(table.memory_bytes() == 1000);
  table.put("first", ucx::make_blob(value, {}));
  CHECK(table.memory_bytes() == 1000 + huge_page);  // 1 MiB of value, 2 MiB of memory
  CHECK_THROWS_WITH(table.put("second", ucx::make_blob(value, {})),
                    Catch::Contains("occupying 2097152 in memory") &&
                        Catch::Contains("memory limit of 3145728 bytes"));
  table.evict("first");
  CHECK(table.memory_bytes() == 1000);
  CHECK_NOTHROW(table.put("second", ucx::make_blob(value, {})));
}

TEST_CASE("ucx blobs: a head and a body land in one blob", "[peer][unit]") {
  const std::string head = "head:";
  const std::string body(ucx::huge_page_from, 'b');
  const ucx::BlobPtr blob = ucx::make_blob(head, body);
  REQUIRE(blob->size == head.size() + body.size());
  CHECK(blob->view().substr(0, head.size()) == head);
  CHECK(blob->view().substr(head.size()) == body);
  CHECK(blob->data.get_deleter().mapped != 0);
}

#endif  // PROXYSTORE_HAS_UCX
