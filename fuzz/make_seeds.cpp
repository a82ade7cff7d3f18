// SPDX-License-Identifier: Apache-2.0
// Writes the seed corpora: a handful of valid encodings per fuzz target.
//
//   proxystore_fuzz_seeds <dir>     writes <dir>/<fuzzer>/seed-NN
//
// The committed fuzz/corpus/ was produced by this program; re-run it after
// a wire-format change. Seeds are deterministic (fixed keys, no random ids).
#include "fuzz_types.hpp"

#include <proxystore/proxystore.hpp>

#include <array>
#include <bitset>
#include <chrono>
#include <complex>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <list>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace {

using namespace proxystore;
namespace fs = std::filesystem;

class SeedWriter {
 public:
  SeedWriter(const fs::path& root, const std::string& fuzzer) : dir_(root / fuzzer) {
    fs::create_directories(dir_);
  }
  void add(const std::string& bytes) {
    char name[32];
    std::snprintf(name, sizeof(name), "seed-%02d", count_++);
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
  }
  int count() const { return count_; }

 private:
  fs::path dir_;
  int count_ = 0;
};

const Key hex_key{"0123456789abcdef0123456789abcdef"};
const Key text_key{"my-object.v2"};

StoreConfig redis_config() {
  return StoreConfig{"redis",
                     "cache",
                     {{"hostname", "127.0.0.1"},
                      {"port", "6379"},
                      {"db", "0"},
                      {"username", ""},
                      {"key_prefix", "proxystore:"},
                      {"connect_timeout_ms", "5000"},
                      {"command_timeout_ms", "10000"}}};
}
StoreConfig file_config() {
  return StoreConfig{"file", "files", {{"directory", "/tmp/ps/data"}}};
}
StoreConfig local_config() {
  return StoreConfig{"local", "mem", {}};
}
StoreConfig odd_config() {
  return StoreConfig{"custom-type", "x", {{"host", "db.example.org"}, {"port", "6380"}}};
}

fuzz::Particle particle() {
  return fuzz::Particle{"electron", {0.5, -1.25, 3.0}, -1, {{"spin", 1}, {"gen", 1}}, true};
}

template <class T>
Proxy<T> store_proxy(const StoreConfig& config, const Key& key, bool evict = false) {
  return Proxy<T>(Factory<T>(StoreFactory<T>(config, key, evict)));
}
template <class T>
Proxy<T> simple_proxy(T value) {
  return Proxy<T>(Factory<T>(SimpleFactory<T>(std::move(value))));
}

void proxy_seeds(SeedWriter& out) {
  out.add(serialize(store_proxy<std::string>(redis_config(), hex_key)));
  out.add(serialize(store_proxy<std::string>(file_config(), text_key, true)));
  out.add(serialize(simple_proxy<std::string>("hello, proxy")));
  out.add(serialize(Proxy<std::string>(Factory<std::string>(fuzz::RepeatFactory{"ab", 3}))));
  out.add(serialize(Proxy<std::string>()));
  out.add(serialize(store_proxy<std::vector<double>>(local_config(), hex_key)));
  out.add(serialize(simple_proxy<std::vector<double>>({1.0, 2.5, -3.75})));
  out.add(serialize(simple_proxy<std::map<std::string, long long>>({{"a", 1}, {"bb", -2}})));
  out.add(serialize(store_proxy<std::map<std::string, long long>>(odd_config(), text_key)));
  out.add(serialize(simple_proxy<fuzz::Particle>(particle())));
  out.add(serialize(store_proxy<fuzz::Particle>(redis_config(), text_key, true)));
}

void object_seeds(SeedWriter& out) {
  out.add(serialize(true));
  out.add(serialize(42));
  out.add(serialize(-7LL));
  out.add(serialize(3.5));
  out.add(serialize(std::string("bytes\0with nul", 14)));
  out.add(serialize(std::vector<unsigned char>{0, 1, 254, 255}));
  out.add(serialize(std::vector<double>{1.0, -2.0, 1e300}));
  out.add(serialize(std::vector<bool>{true, false, true}));
  out.add(serialize(std::vector<std::vector<std::string>>{{"a", "bc"}, {}, {"def"}}));
  out.add(serialize(std::vector<std::vector<std::vector<int>>>{{{1, 2}, {}}, {{3}}}));
  out.add(serialize(std::map<std::string, long long>{{"one", 1}, {"two", 2}}));
  out.add(serialize(std::map<int, std::vector<std::string>>{{1, {"x"}}, {2, {"y", "z"}}}));
  out.add(serialize(std::set<std::string>{"alpha", "beta"}));
  out.add(serialize(std::list<int>{5, 6, 7}));
  out.add(serialize(std::deque<float>{0.5F, 1.5F}));
  out.add(serialize(std::array<int, 4>{1, 2, 3, 4}));
  out.add(serialize(std::pair<int, std::string>{9, "nine"}));
  out.add(serialize(std::tuple<bool, std::string, double>{false, "t", 2.0}));
  out.add(serialize(std::optional<int>(17)));
  out.add(serialize(std::optional<std::vector<std::optional<bool>>>(
      std::vector<std::optional<bool>>{true, std::nullopt, false})));
  out.add(serialize(std::variant<int, std::string, std::vector<double>>(std::string("v"))));
  out.add(serialize(std::variant<std::monostate, bool, std::map<std::string, std::string>>(
      std::map<std::string, std::string>{{"k", "v"}})));
  out.add(serialize(particle()));
  out.add(serialize(std::vector<fuzz::Particle>{particle(), fuzz::Particle{}}));
  out.add(serialize(fuzz::Tree{"root", {fuzz::Tree{"a", {fuzz::Tree{"a1", {}}}}, {"b", {}}}}));
  out.add(serialize(hex_key));
  out.add(serialize(redis_config()));
  out.add(serialize(std::make_unique<int>(5)));
  out.add(serialize(std::make_shared<std::vector<std::string>>(std::vector<std::string>{"p"})));
  const auto shared = std::make_shared<int>(8);
  out.add(serialize(std::vector<std::shared_ptr<int>>{shared, shared, nullptr}));
  out.add(serialize(std::bitset<70>(0x5555)));
  out.add(serialize(std::complex<double>(1.5, -2.0)));
  out.add(serialize(std::chrono::milliseconds(1234)));
}

void config_key_seeds(SeedWriter& out) {
  out.add(serialize(hex_key));
  out.add(serialize(text_key));
  out.add(serialize(Key{""}));
  out.add(serialize(redis_config()));
  out.add(serialize(file_config()));
  out.add(serialize(local_config()));
  out.add(serialize(odd_config()));
  out.add(serialize(
      StoreConfig{"redis", "remote", {{"hostname", "db.example.org"}, {"port", "6380"}}}));
  out.add(serialize(StoreConfig{"redis", "v6", {{"hostname", "[::1]"}, {"port", "7000"}}}));
  out.add(serialize(StoreConfig{"file", "escape", {{"directory", "/tmp/ps/../etc"}}}));
}

void factory_seeds(SeedWriter& out) {
  for (const bool signing : {false, true}) {
    if (signing) {
      set_signing_key("fuzz-signing-key");  // the key fuzz_factory uses
    } else {
      clear_signing_key();
    }
    const std::string mode(1, signing ? '\1' : '\0');
    out.add(mode + serialize(Factory<std::string>(SimpleFactory<std::string>("payload"))));
    out.add(mode +
            serialize(Factory<std::string>(StoreFactory<std::string>(redis_config(), hex_key))));
    out.add(mode + serialize(Factory<std::string>(fuzz::RepeatFactory{"xy", 2})));
    out.add(mode + serialize(Factory<long long>(SimpleFactory<long long>(123456789))));
    out.add(mode + serialize(Factory<std::vector<std::string>>(
                       SimpleFactory<std::vector<std::string>>({"a", "b"}))));
    out.add(mode + serialize(Factory<fuzz::Particle>(SimpleFactory<fuzz::Particle>(particle()))));
  }
  clear_signing_key();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  register_factory_type<fuzz::RepeatFactory>();
  const fs::path root = argv[1];
  SeedWriter proxy(root, "fuzz_proxy");
  proxy_seeds(proxy);
  SeedWriter object(root, "fuzz_object");
  object_seeds(object);
  SeedWriter config_key(root, "fuzz_config_key");
  config_key_seeds(config_key);
  SeedWriter factory(root, "fuzz_factory");
  factory_seeds(factory);
  std::printf("seeds: fuzz_proxy %d, fuzz_object %d, fuzz_config_key %d, fuzz_factory %d\n",
              proxy.count(), object.count(), config_key.count(), factory.count());
  return 0;
}
