// SPDX-License-Identifier: Apache-2.0
// The user types the fuzz targets decode (shared with make_seeds.cpp).
#pragma once

#include <proxystore/proxystore.hpp>

#include <cereal/cereal.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proxystore::fuzz {

/// A user struct with nested containers, an optional and a bool.
struct Particle {
  std::string name;
  std::vector<double> position;
  std::optional<int> charge;
  std::map<std::string, long long> tags;
  bool active = false;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, position, charge, tags, active);
  }
  friend bool operator==(const Particle& a, const Particle& b) {
    return a.name == b.name && a.position == b.position && a.charge == b.charge &&
           a.tags == b.tags && a.active == b.active;
  }
};

/// A recursive user type: nesting depth is chosen by the input.
struct Tree {
  std::string label;
  std::vector<Tree> children;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(label, children);
  }
};

/// A user factory kind, registered by the targets that load factories.
struct RepeatFactory {
  static constexpr std::string_view kind = "fuzz.repeat";
  std::string unit;
  std::uint32_t count = 0;

  std::string operator()() const {
    std::string out;
    for (std::uint32_t i = 0; i < count && i < 16; ++i)
      out += unit;
    return out;
  }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(unit, count);
  }
};

}  // namespace proxystore::fuzz

PROXYSTORE_TYPE_NAME(proxystore::fuzz::Particle, "fuzz.particle");
PROXYSTORE_TYPE_NAME(proxystore::fuzz::Tree, "fuzz.tree");
