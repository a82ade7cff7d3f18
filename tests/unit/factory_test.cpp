// SPDX-License-Identifier: Apache-2.0
// Factory<T>: type erasure, target<F>(), kinds on the wire, custom factory types, archives.
#include "support/matchers.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>
#include <cereal/archives/binary.hpp>
#include <cereal/archives/json.hpp>
#include <cereal/archives/portable_binary.hpp>

#include <atomic>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using Catch::Matchers::Contains;
using proxystore::test::MessageContains;

namespace factory_test {

/// A user factory type: produces `count` copies of `text` joined together.
struct RepeatFactory {
  static constexpr std::string_view kind = "test.repeat";
  std::string text;
  int count = 0;

  std::string operator()() const {
    std::string out;
    for (int i = 0; i < count; ++i)
      out += text;
    return out;
  }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(text, count);
  }
};

/// Serializable, but never registered with register_factory_type.
struct UnregisteredFactory {
  static constexpr std::string_view kind = "test.unregistered";
  int value = 0;
  int operator()() const { return value; }
  template <class Archive>
  void serialize(Archive& ar) {
    ar(value);
  }
};

/// A struct holding proxies, as an application message would.
struct Message {
  std::string label;
  Proxy<std::string> text;
  Proxy<std::vector<double>> data;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(CEREAL_NVP(label), CEREAL_NVP(text), CEREAL_NVP(data));
  }
};

}  // namespace factory_test

PROXYSTORE_TYPE_NAME(factory_test::Message, "test.message");

namespace {

using factory_test::Message;
using factory_test::RepeatFactory;
using factory_test::UnregisteredFactory;

StoreConfig file_config() {
  return StoreConfig{"file", "factory-test", {{"directory", "/nowhere"}}};
}

}  // namespace

TEST_CASE("Factory wraps callables and calls them", "[factory]") {
  Factory<int> empty;
  CHECK_FALSE(empty);
  CHECK(empty.kind().empty());
  CHECK_THROWS_AS(empty(), Error);
  CHECK(empty.target<SimpleFactory<int>>() == nullptr);

  Factory<int> from_lambda([] { return 3; });
  CHECK(from_lambda);
  CHECK(from_lambda() == 3);
  CHECK(from_lambda.kind().empty());

  // Copies are values: copying does not share the callable's state.
  int calls = 0;
  Factory<int> counting([calls]() mutable { return ++calls; });
  Factory<int> copy = counting;
  CHECK(counting() == 1);
  CHECK(counting() == 2);
  CHECK(copy() == 1);
  Factory<int> moved = std::move(copy);
  CHECK(moved() == 2);
}

TEST_CASE("Factory::target returns the concrete factory or null", "[factory]") {
  const StoreConfig config = file_config();
  Factory<std::string> factory(StoreFactory<std::string>(config, Key{"abc"}, true));
  const auto* store_factory = factory.target<StoreFactory<std::string>>();
  REQUIRE(store_factory != nullptr);
  CHECK(store_factory->key() == Key{"abc"});
  CHECK(store_factory->config() == config);
  CHECK(store_factory->evict());
  CHECK(factory.kind() == "store");
  CHECK(factory.target<SimpleFactory<std::string>>() == nullptr);
  CHECK(factory.target<StoreFactory<int>>() == nullptr);
  CHECK(factory.target<LambdaFactory<std::string>>() == nullptr);

  Factory<int> simple(SimpleFactory<int>(4));
  REQUIRE(simple.target<SimpleFactory<int>>() != nullptr);
  CHECK(simple.target<SimpleFactory<int>>()->value() == 4);
  CHECK(simple.kind() == "simple");

  // Through a proxy.
  Proxy<std::string> p(factory);
  const auto* through_proxy = get_factory(p).target<StoreFactory<std::string>>();
  REQUIRE(through_proxy != nullptr);
  CHECK(through_proxy->key() == Key{"abc"});
}

TEST_CASE("SimpleFactory round-trips with its value", "[factory]") {
  const Factory<std::vector<int>> factory(SimpleFactory<std::vector<int>>({1, 2, 3}));
  const auto loaded = deserialize<Factory<std::vector<int>>>(serialize(factory));
  REQUIRE(loaded);
  CHECK(loaded.kind() == "simple");
  CHECK(loaded() == std::vector<int>{1, 2, 3});
  REQUIRE(loaded.target<SimpleFactory<std::vector<int>>>() != nullptr);

  // A proxy with a SimpleFactory carries the value across serialization.
  Proxy<std::string> p(SimpleFactory<std::string>("travels"));
  auto q = deserialize<Proxy<std::string>>(serialize(p));
  CHECK_FALSE(is_resolved(q));
  CHECK(q == "travels");
}

TEST_CASE("StoreFactory round-trips its config and key and evict flag", "[factory]") {
  const StoreConfig config = file_config();
  for (bool evict : {false, true}) {
    const Factory<double> factory(StoreFactory<double>(config, Key{"k-1"}, evict));
    const auto loaded = deserialize<Factory<double>>(serialize(factory));
    const auto* store_factory = loaded.target<StoreFactory<double>>();
    REQUIRE(store_factory != nullptr);
    CHECK(store_factory->config() == config);
    CHECK(store_factory->key() == Key{"k-1"});
    CHECK(store_factory->evict() == evict);
  }
}

TEST_CASE("LambdaFactory and raw lambdas cannot be serialized", "[factory]") {
  const Factory<int> lambda_factory(LambdaFactory<int>([] { return 1; }));
  CHECK(lambda_factory() == 1);
  CHECK(lambda_factory.kind().empty());
  CHECK_THROWS_AS(serialize(lambda_factory), NotSerializableError);
  CHECK_THROWS_WITH(serialize(lambda_factory), Contains("i32"));

  const Factory<int> raw([] { return 2; });
  CHECK_THROWS_AS(serialize(raw), NotSerializableError);

  const Proxy<std::string> p(LambdaFactory<std::string>([] { return std::string("x"); }));
  CHECK_THROWS_AS(serialize(p), NotSerializableError);
  CHECK_THROWS_AS(serialize(p), SerializationError);  // NotSerializableError is one

  // Also through other archives.
  std::ostringstream out;
  cereal::JSONOutputArchive archive(out);
  CHECK_THROWS_AS(archive(cereal::make_nvp("p", p)), NotSerializableError);
}

TEST_CASE("A registered custom factory type round-trips", "[factory]") {
  register_factory_type<RepeatFactory>();
  const Factory<std::string> factory(RepeatFactory{"ab", 3});
  CHECK(factory.kind() == "test.repeat");
  CHECK(factory() == "ababab");

  const auto loaded = deserialize<Factory<std::string>>(serialize(factory));
  CHECK(loaded.kind() == "test.repeat");
  CHECK(loaded() == "ababab");
  const auto* repeat = loaded.target<RepeatFactory>();
  REQUIRE(repeat != nullptr);
  CHECK(repeat->text == "ab");
  CHECK(repeat->count == 3);

  const Proxy<std::string> p(RepeatFactory{"xy", 2});
  CHECK(deserialize<Proxy<std::string>>(serialize(p)) == "xyxy");

  register_factory_type<RepeatFactory>();  // registering again is harmless
  CHECK(deserialize<Factory<std::string>>(serialize(factory))() == "ababab");
}

TEST_CASE("An unregistered factory kind throws SerializationError naming the kind", "[factory]") {
  const Factory<int> factory(UnregisteredFactory{5});
  CHECK(factory.kind() == "test.unregistered");
  const std::string bytes = serialize(factory);  // saving needs no registration
  CHECK_THROWS_MATCHES(deserialize<Factory<int>>(bytes), SerializationError,
                       MessageContains("test.unregistered"));
  CHECK_THROWS_WITH(deserialize<Proxy<int>>(serialize(Proxy<int>(factory))),
                    Contains("test.unregistered"));

  // A kind registered for one result type is not loadable for another.
  register_factory_type<RepeatFactory>();
  const std::string repeat = serialize(Factory<std::string>(RepeatFactory{"a", 1}));
  CHECK(deserialize<Factory<std::string>>(repeat)() == "a");
  CHECK_THROWS_AS(deserialize<Factory<int>>(repeat), SerializationError);
}

TEST_CASE("A corrupt factory payload throws SerializationError", "[factory]") {
  // The factory's payload holds the SimpleFactory's own encoding of its
  // string: ... varint(8) | varint(7) "payload" | ...
  const std::string bytes = serialize(Factory<std::string>(SimpleFactory<std::string>("payload")));
  const std::size_t inner = bytes.find(std::string("\x08\x07payload")) + 1;
  REQUIRE(inner != std::string::npos + 1);
  CHECK(deserialize<Factory<std::string>>(bytes)() == "payload");

  std::string short_inner = bytes;
  short_inner[inner] = '\x06';  // inner string one byte short: a trailing byte
  CHECK_THROWS_AS(deserialize<Factory<std::string>>(short_inner), SerializationError);
  std::string long_inner = bytes;
  long_inner[inner] = '\x08';  // inner string longer than the payload
  CHECK_THROWS_AS(deserialize<Factory<std::string>>(long_inner), SerializationError);
  std::string bad_kind = bytes;
  bad_kind[bad_kind.find("simple")] = 'S';
  CHECK_THROWS_WITH(deserialize<Factory<std::string>>(bad_kind), Contains("Simple"));
}

TEST_CASE("Proxies and factories work with cereal's JSON and binary archives", "[factory]") {
  register_factory_type<RepeatFactory>();
  Message message;
  message.label = "hello";
  message.text = Proxy<std::string>(RepeatFactory{"na", 4});
  message.data = Proxy<std::vector<double>>(SimpleFactory<std::vector<double>>({0.5, 1.5}));

  SECTION("JSON") {
    std::stringstream json;
    {
      cereal::JSONOutputArchive archive(json);
      archive(cereal::make_nvp("message", message));
    }
    CHECK_THAT(json.str(), Contains("\"kind\": \"test.repeat\"") && Contains("\"label\""));
    Message loaded;
    {
      cereal::JSONInputArchive archive(json);
      archive(cereal::make_nvp("message", loaded));
    }
    CHECK(loaded.label == "hello");
    CHECK_FALSE(is_resolved(loaded.text));
    CHECK(loaded.text == "nananana");
    CHECK(*loaded.data == std::vector<double>{0.5, 1.5});
  }

  SECTION("binary") {
    std::stringstream binary;
    {
      cereal::BinaryOutputArchive archive(binary);
      archive(message);
    }
    Message loaded;
    {
      cereal::BinaryInputArchive archive(binary);
      archive(loaded);
    }
    CHECK(loaded.text == "nananana");
    CHECK(loaded.data->size() == 2);
  }

  SECTION("portable binary") {
    std::stringstream binary;
    {
      cereal::PortableBinaryOutputArchive archive(binary);
      archive(message);
    }
    Message loaded;
    {
      cereal::PortableBinaryInputArchive archive(binary);
      archive(loaded);
    }
    CHECK(loaded.text == "nananana");
  }

  SECTION("the library's own wire format") {
    const Message loaded = deserialize<Message>(serialize(message));
    CHECK(loaded.label == "hello");
    CHECK(loaded.text == "nananana");
  }

  SECTION("an empty proxy member stays empty") {
    Message sparse;
    sparse.label = "sparse";
    std::stringstream json;
    {
      cereal::JSONOutputArchive archive(json);
      archive(cereal::make_nvp("message", sparse));
    }
    Message loaded;
    {
      cereal::JSONInputArchive archive(json);
      archive(cereal::make_nvp("message", loaded));
    }
    CHECK(loaded.label == "sparse");
    CHECK_THROWS_AS(*loaded.text, Error);
  }
}

TEST_CASE("A store proxy survives a JSON round trip with its key and config", "[factory]") {
  const StoreConfig config = file_config();
  Message message;
  message.text = Proxy<std::string>(StoreFactory<std::string>(config, Key{"json-key"}));
  std::stringstream json;
  {
    cereal::JSONOutputArchive archive(json);
    archive(cereal::make_nvp("message", message));
  }
  Message loaded;
  {
    cereal::JSONInputArchive archive(json);
    archive(cereal::make_nvp("message", loaded));
  }
  const auto* store_factory = get_factory(loaded.text).target<StoreFactory<std::string>>();
  REQUIRE(store_factory != nullptr);
  CHECK(store_factory->key() == Key{"json-key"});
  CHECK(store_factory->config() == config);
}
