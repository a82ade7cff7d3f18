// SPDX-License-Identifier: Apache-2.0
// 03 — A user-defined factory type that travels inside proxies.
//
// A factory is the recipe a proxy calls on first use. StoreFactory (a key in
// a store) is the usual one, but any type can be a factory. Here a proxy to
// a large synthetic signal carries only the recipe — sample count, frequency,
// seed — and the consumer regenerates the data where it is needed.
//
// To make a factory type `F` serializable inside proxies:
//   1. give it `static constexpr std::string_view kind` (a unique name),
//   2. cereal support (`serialize`, or `save`/`load`) and a default constructor,
//   3. call `register_factory_type<F>()` in every process that loads it,
//      before the first proxy is deserialized.
//
// Run: build/examples/03_custom_factory
#include <proxystore/proxystore.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace ps = proxystore;

namespace example {

/// Produces `samples` values of a sine wave plus deterministic noise.
struct SignalFactory {
  static constexpr std::string_view kind = "example.signal";

  std::uint64_t samples = 0;
  double frequency = 1.0;
  std::uint64_t seed = 0;

  std::vector<double> operator()() const {
    std::vector<double> signal(samples);
    std::uint64_t state = seed;
    for (std::uint64_t i = 0; i < samples; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;  // an LCG: cheap noise
      const double noise = static_cast<double>(state >> 11) / 9007199254740992.0 - 0.5;
      signal[i] = std::sin(frequency * static_cast<double>(i) * 1e-3) + 0.01 * noise;
    }
    return signal;
  }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(samples, frequency, seed);
  }
};

}  // namespace example

int main() {
  // Once per process that loads such proxies (producer and consumers alike).
  ps::register_factory_type<example::SignalFactory>();

  const example::SignalFactory recipe{2'000'000, 3.0, 42};
  ps::Proxy<std::vector<double>> signal{ps::Factory<std::vector<double>>(recipe)};

  // The serialized proxy carries the recipe: a few dozen bytes for a 16 MB
  // vector. It can go through a pipe, a queue or a file.
  const std::string wire = ps::serialize(signal);
  std::printf("serialized proxy: %zu bytes for %llu doubles (%llu bytes)\n", wire.size(),
              static_cast<unsigned long long>(recipe.samples),
              static_cast<unsigned long long>(recipe.samples * sizeof(double)));

  // Elsewhere: deserialize and use. The factory runs on first access.
  auto received = ps::deserialize<ps::Proxy<std::vector<double>>>(wire);
  const auto* factory = ps::get_factory(received).target<example::SignalFactory>();
  if (factory == nullptr) {
    std::puts("03_custom_factory: the received proxy does not hold a SignalFactory");
    return 1;
  }
  std::printf("received recipe: %llu samples, frequency %.1f, seed %llu (resolved: %s)\n",
              static_cast<unsigned long long>(factory->samples), factory->frequency,
              static_cast<unsigned long long>(factory->seed),
              ps::is_resolved(received) ? "yes" : "no");

  const std::vector<double>& values = received;  // runs the factory
  const std::vector<double> expected = recipe();
  std::printf("resolved %zu samples; first %.6f, last %.6f\n", values.size(), values.front(),
              values.back());

  // A lambda is a fine factory in-process, but it has no kind, so it cannot
  // be serialized: the library says so instead of sending something useless.
  ps::Proxy<std::vector<double>> local{
      ps::Factory<std::vector<double>>(ps::LambdaFactory<std::vector<double>>(recipe))};
  bool refused = false;
  try {
    (void)ps::serialize(local);
  } catch (const ps::NotSerializableError& e) {
    refused = true;
    std::printf("a LambdaFactory proxy cannot travel:\n  %s\n", e.what());
  }

  const bool ok = values == expected && refused;
  std::puts(ok ? "03_custom_factory: round trip ok" : "03_custom_factory: MISMATCH");
  return ok ? 0 : 1;
}
