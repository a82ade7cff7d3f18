// SPDX-License-Identifier: Apache-2.0
// StoreConfig and Key: through deserialize<> (header + compact codec) and
// through the compact codec alone; decoded configs go through the store
// policy, whose matcher sees hostile host, port and directory strings.
#include "fuzz_common.hpp"

namespace {

using namespace proxystore;

void raw_codec(std::string_view bytes) {
  // The compact codec on its own: a stream of words and key ids.
  try {
    detail::WireInputArchive ar(bytes);
    while (ar.remaining() > 0) {
      std::uint8_t choice = 0;
      ar.load_bytes(&choice, 1);
      switch (choice % 4) {
        case 0:
          (void)detail::load_word(ar);
          break;
        case 1:
          (void)detail::load_key_id(ar);
          break;
        case 2: {
          StoreConfig config;
          config.load(ar);
          break;
        }
        default: {
          Key key;
          key.load(ar);
          break;
        }
      }
    }
  } catch (const SerializationError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool configured = [] {
    StorePolicy policy;
    policy.allowed_hosts = {"db.example.org:6380", "*.cluster.test", "[::1]:7000", "10.0.0.1"};
    policy.allowed_dirs = {"/srv/proxystore", "/tmp/ps/"};
    set_store_policy(policy);
    return true;
  }();
  (void)configured;
  const std::string_view bytes = fuzz::as_view(data, size);
  fuzz::decode_and_roundtrip<Key>(bytes);
  if (fuzz::decode_and_roundtrip<StoreConfig>(bytes)) {
    const auto config = deserialize<StoreConfig>(bytes);
    try {
      check_store_config(config);
    } catch (const ForbiddenStoreError&) {
      // refused: the expected answer to most inputs
    } catch (const StoreOperationError&) {
      // a directory spelled inside an allowed prefix that does not exist
      // (the policy judges real paths, and a rebuilt store never creates one)
    }
  }
  raw_codec(bytes);
  (void)is_loopback_host(bytes);
  return 0;
}
