// SPDX-License-Identifier: Apache-2.0
// deserialize<Proxy<T>>: what a consumer does with bytes from a peer.
// Never resolves (that would act on the decoded config); decodes, checks
// the round trip, and reads the decoded factory's kind and target.
#include "fuzz_common.hpp"

namespace {

using namespace proxystore;

template <class T>
void one(std::string_view bytes) {
  if (!fuzz::decode_and_roundtrip<Proxy<T>>(bytes))
    return;
  const auto proxy = deserialize<Proxy<T>>(bytes);
  const Proxy<T> empty;
  if (serialize(proxy) == serialize(empty))
    return;  // an empty proxy: using it throws Error by design
  const Factory<T>& factory = get_factory(proxy);
  if (const auto* store = factory.template target<StoreFactory<T>>()) {
    (void)store->config().options.size();
    (void)store->key().id.size();
  }
  fuzz::require(!is_resolved(proxy), "a decoded proxy must not be resolved");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool registered = [] {
    register_factory_type<fuzz::RepeatFactory>();
    return true;
  }();
  (void)registered;
  const std::string_view bytes = fuzz::as_view(data, size);
  one<std::string>(bytes);
  one<std::vector<double>>(bytes);
  one<std::map<std::string, long long>>(bytes);
  one<fuzz::Particle>(bytes);
  return 0;
}
