// SPDX-License-Identifier: Apache-2.0
#include "detail/sha256.hpp"

#include <algorithm>
#include <cstring>

namespace proxystore::detail {
namespace {

constexpr std::array<std::uint32_t, 64> round_constants = {
    0x428a2f98U, 0x71374491U, 0xb5c0fbcfU, 0xe9b5dba5U, 0x3956c25bU, 0x59f111f1U, 0x923f82a4U,
    0xab1c5ed5U, 0xd807aa98U, 0x12835b01U, 0x243185beU, 0x550c7dc3U, 0x72be5d74U, 0x80deb1feU,
    0x9bdc06a7U, 0xc19bf174U, 0xe49b69c1U, 0xefbe4786U, 0x0fc19dc6U, 0x240ca1ccU, 0x2de92c6fU,
    0x4a7484aaU, 0x5cb0a9dcU, 0x76f988daU, 0x983e5152U, 0xa831c66dU, 0xb00327c8U, 0xbf597fc7U,
    0xc6e00bf3U, 0xd5a79147U, 0x06ca6351U, 0x14292967U, 0x27b70a85U, 0x2e1b2138U, 0x4d2c6dfcU,
    0x53380d13U, 0x650a7354U, 0x766a0abbU, 0x81c2c92eU, 0x92722c85U, 0xa2bfe8a1U, 0xa81a664bU,
    0xc24b8b70U, 0xc76c51a3U, 0xd192e819U, 0xd6990624U, 0xf40e3585U, 0x106aa070U, 0x19a4c116U,
    0x1e376c08U, 0x2748774cU, 0x34b0bcb5U, 0x391c0cb3U, 0x4ed8aa4aU, 0x5b9cca4fU, 0x682e6ff3U,
    0x748f82eeU, 0x78a5636fU, 0x84c87814U, 0x8cc70208U, 0x90befffaU, 0xa4506cebU, 0xbef9a3f7U,
    0xc67178f2U};

constexpr std::uint32_t rotr(std::uint32_t x, unsigned n) noexcept {
  return (x >> n) | (x << (32U - n));
}

std::uint32_t load_be32(const std::uint8_t* p) noexcept {
  return (std::uint32_t{p[0]} << 24U) | (std::uint32_t{p[1]} << 16U) | (std::uint32_t{p[2]} << 8U) |
         std::uint32_t{p[3]};
}

void store_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 24U);
  p[1] = static_cast<std::uint8_t>(v >> 16U);
  p[2] = static_cast<std::uint8_t>(v >> 8U);
  p[3] = static_cast<std::uint8_t>(v);
}

}  // namespace

Sha256::Sha256() noexcept
    : state_{0x6a09e667U, 0xbb67ae85U, 0x3c6ef372U, 0xa54ff53aU,
             0x510e527fU, 0x9b05688cU, 0x1f83d9abU, 0x5be0cd19U} {}

void Sha256::compress(const std::uint8_t* block) noexcept {
  std::array<std::uint32_t, 64> w{};
  for (std::size_t i = 0; i < 16; ++i)
    w[i] = load_be32(block + 4 * i);
  for (std::size_t i = 16; i < 64; ++i) {
    const std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3U);
    const std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10U);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  std::uint32_t a = state_[0], b = state_[1], c = state_[2], d = state_[3];
  std::uint32_t e = state_[4], f = state_[5], g = state_[6], h = state_[7];
  for (std::size_t i = 0; i < 64; ++i) {
    const std::uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
    const std::uint32_t choose = (e & f) ^ (~e & g);
    const std::uint32_t t1 = h + s1 + choose + round_constants[i] + w[i];
    const std::uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
    const std::uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
    const std::uint32_t t2 = s0 + majority;
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  state_[0] += a;
  state_[1] += b;
  state_[2] += c;
  state_[3] += d;
  state_[4] += e;
  state_[5] += f;
  state_[6] += g;
  state_[7] += h;
  secure_zero(w.data(), sizeof(w));
}

void Sha256::update(const void* data, std::size_t size) noexcept {
  const auto* bytes = static_cast<const std::uint8_t*>(data);
  total_bytes_ += size;
  if (buffered_ != 0) {
    const std::size_t take = std::min(size, block_size - buffered_);
    std::memcpy(buffer_.data() + buffered_, bytes, take);
    buffered_ += take;
    bytes += take;
    size -= take;
    if (buffered_ < block_size)
      return;
    compress(buffer_.data());
    buffered_ = 0;
  }
  for (; size >= block_size; bytes += block_size, size -= block_size)
    compress(bytes);
  if (size != 0) {
    std::memcpy(buffer_.data(), bytes, size);
    buffered_ = size;
  }
}

Sha256Digest Sha256::finish() noexcept {
  // Padding: 0x80, zeros up to 56 mod 64, then the bit length big-endian.
  const std::uint64_t bit_length = total_bytes_ * 8U;
  const std::uint8_t marker = 0x80U;
  update(&marker, 1);
  const std::uint8_t zeros[block_size] = {};
  update(zeros, (buffered_ <= 56 ? 56 : 56 + block_size) - buffered_);
  std::uint8_t length[8];
  for (std::size_t i = 0; i < 8; ++i)
    length[i] = static_cast<std::uint8_t>(bit_length >> (56U - 8U * i));
  update(length, sizeof(length));
  Sha256Digest digest{};
  for (std::size_t i = 0; i < 8; ++i)
    store_be32(digest.data() + 4 * i, state_[i]);
  secure_zero(state_.data(), sizeof(state_));
  secure_zero(buffer_.data(), sizeof(buffer_));
  return digest;
}

Sha256Digest sha256(std::string_view bytes) noexcept {
  Sha256 hash;
  hash.update(bytes);
  return hash.finish();
}

HmacSha256::HmacSha256(std::string_view key) noexcept {
  // Keys longer than a block are hashed first (RFC 2104 section 2).
  std::array<std::uint8_t, Sha256::block_size> block{};
  if (key.size() > Sha256::block_size) {
    const Sha256Digest hashed = sha256(key);
    std::memcpy(block.data(), hashed.data(), hashed.size());
  } else if (!key.empty()) {
    std::memcpy(block.data(), key.data(), key.size());
  }
  std::array<std::uint8_t, Sha256::block_size> inner_key{};
  for (std::size_t i = 0; i < block.size(); ++i) {
    inner_key[i] = static_cast<std::uint8_t>(block[i] ^ 0x36U);
    outer_key_[i] = static_cast<std::uint8_t>(block[i] ^ 0x5cU);
  }
  inner_.update(inner_key.data(), inner_key.size());
  secure_zero(block.data(), block.size());
  secure_zero(inner_key.data(), inner_key.size());
}

HmacSha256::~HmacSha256() {
  secure_zero(outer_key_.data(), outer_key_.size());
}

Sha256Digest HmacSha256::finish() noexcept {
  const Sha256Digest inner_digest = inner_.finish();
  Sha256 outer;
  outer.update(outer_key_.data(), outer_key_.size());
  outer.update(inner_digest.data(), inner_digest.size());
  return outer.finish();
}

Sha256Digest hmac_sha256(std::string_view key, std::string_view message) noexcept {
  HmacSha256 mac(key);
  mac.update(message);
  return mac.finish();
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size())
    return false;  // lengths are public (a signature is always 32 bytes)
  unsigned difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    difference |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  // Read through a volatile so the loop cannot be turned into an early exit.
  volatile unsigned result = difference;
  return result == 0;
}

void secure_zero(void* data, std::size_t size) noexcept {
  auto* volatile bytes = static_cast<volatile unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i)
    bytes[i] = 0;
}

}  // namespace proxystore::detail
