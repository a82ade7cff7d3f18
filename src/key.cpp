// SPDX-License-Identifier: Apache-2.0
#include <proxystore/errors.hpp>
#include <proxystore/key.hpp>
#include <proxystore/type_name.hpp>

#include <cxxabi.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace proxystore {

Key random_key() {
  // getrandom() rather than a seeded engine: a forked child must never
  // mint the keys its parent mints.
  unsigned char bits[16];
  std::size_t filled = 0;
  while (filled < sizeof(bits)) {
    const ssize_t n = getrandom(bits + filled, sizeof(bits) - filled, 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw Error(fmt::format("random key: getrandom failed: {}", std::strerror(errno)));
    }
    filled += static_cast<std::size_t>(n);
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string id(2 * sizeof(bits), '0');
  for (std::size_t i = 0; i < sizeof(bits); ++i) {
    id[2 * i] = hex[bits[i] >> 4U];
    id[2 * i + 1] = hex[bits[i] & 0x0fU];
  }
  return Key{std::move(id)};
}

namespace detail {

std::string demangle(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && demangled ? std::string(demangled.get()) : std::string(mangled);
}

}  // namespace detail
}  // namespace proxystore
