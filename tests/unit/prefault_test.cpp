// SPDX-License-Identifier: Apache-2.0
// detail::prefault_pages: a large object's pages are backed before it is
// filled (the kernel's zeroing on two cores), a small one's are left alone.
#include "../../src/detail/prefault.hpp"

#include <catch2/catch.hpp>

#if defined(__linux__)

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace {

/// Bytes of [data, data + size) backed by resident pages (mincore: the
/// exact range, whatever mapping the kernel merged it into).
std::size_t resident_bytes(void* data, std::size_t size) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((size + page - 1) / page);
  if (::mincore(data, size, pages.data()) != 0)
    return 0;
  std::size_t resident = 0;
  for (unsigned char flags : pages)
    resident += (flags & 1U) != 0 ? page : 0;
  return resident;
}

/// A fresh, untouched anonymous mapping of `size` bytes.
class Mapping {
 public:
  explicit Mapping(std::size_t size)
      : size_(size),
        data_(::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {}
  ~Mapping() {
    if (data_ != MAP_FAILED)  // NOLINT(cppcoreguidelines-pro-type-cstyle-cast)
      ::munmap(data_, size_);
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  void* data() const { return data_; }
  bool ok() const { return data_ != MAP_FAILED; }  // NOLINT(cppcoreguidelines-pro-type-cstyle-cast)

 private:
  std::size_t size_;
  void* data_;
};

bool kernel_can_populate() {
  const Mapping probe(4096);
  return probe.ok() && ::madvise(probe.data(), 4096, 23 /* MADV_POPULATE_WRITE */) == 0;
}

}  // namespace

TEST_CASE("prefault: a large object's pages are resident before it is filled", "[unit]") {
  if (!kernel_can_populate()) {
    WARN("this kernel has no MADV_POPULATE_WRITE (Linux < 5.14): prefault_pages is a no-op");
    return;
  }
  const std::size_t size = proxystore::detail::prefault_from + 4096 * 3;
  const Mapping large(size);
  REQUIRE(large.ok());
  REQUIRE(resident_bytes(large.data(), size) == 0);
  proxystore::detail::prefault_pages(large.data(), size);
  CHECK(resident_bytes(large.data(), size) >= size - 4096);
  const auto* bytes = static_cast<const char*>(large.data());
  CHECK(bytes[0] == 0);
  CHECK(bytes[size - 1] == 0);
}

TEST_CASE("prefault: objects below prefault_from are left to fault as they are filled", "[unit]") {
  const std::size_t size = proxystore::detail::prefault_from - 4096;
  const Mapping small(size);
  REQUIRE(small.ok());
  proxystore::detail::prefault_pages(small.data(), size);
  CHECK(resident_bytes(small.data(), size) == 0);
  proxystore::detail::prefault_pages(nullptr, size * 4);  // nothing to do, no crash
}

#endif  // __linux__
