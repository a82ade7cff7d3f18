// SPDX-License-Identifier: Apache-2.0
// The factory payload path: Factory<T>::load → kind dispatch → payload
// decoder (simple, store, a registered user kind), with signing off and on.
// The first input byte picks the signing mode; the rest is the encoding.
#include "fuzz_common.hpp"

namespace {

using namespace proxystore;

template <class T>
void one(std::string_view bytes) {
  fuzz::decode_and_roundtrip<Factory<T>>(bytes);
  // The same bytes as a bare body (no object header), as a Proxy's own
  // archive hands them to Factory::load.
  try {
    detail::WireInputArchive ar(bytes);
    Factory<T> factory;
    ar(factory);
  } catch (const SerializationError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool registered = [] {
    register_factory_type<fuzz::RepeatFactory>();
    return true;
  }();
  (void)registered;
  if (size == 0)
    return 0;
  const bool signing = (data[0] & 1U) != 0;
  if (signing) {
    set_signing_key("fuzz-signing-key");
  } else {
    clear_signing_key();
  }
  const std::string_view bytes = fuzz::as_view(data + 1, size - 1);
  one<std::string>(bytes);
  one<long long>(bytes);
  one<std::vector<std::string>>(bytes);
  one<fuzz::Particle>(bytes);
  try {
    (void)deserialize<Factory<std::string>>(bytes);
  } catch (const SignatureError&) {
    fuzz::require(signing, "SignatureError with signing off");
  } catch (const SerializationError&) {
  }
  return 0;
}
