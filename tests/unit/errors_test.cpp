// SPDX-License-Identifier: Apache-2.0
// The exception hierarchy, and messages that name what failed.
#include "support/matchers.hpp"
#include "support/redis_server.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::unique_name;

namespace {

static_assert(std::is_base_of_v<std::runtime_error, Error>);
static_assert(std::is_base_of_v<Error, ProxyResolveMissingKeyError>);
static_assert(std::is_base_of_v<Error, StoreExistsError>);
static_assert(std::is_base_of_v<Error, StoreNotFoundError>);
static_assert(std::is_base_of_v<Error, SerializationError>);
static_assert(std::is_base_of_v<SerializationError, NotSerializableError>);
static_assert(std::is_base_of_v<Error, ConnectionError>);
static_assert(std::is_base_of_v<ConnectionError, TimeoutError>);
static_assert(std::is_base_of_v<Error, StoreOperationError>);
// Siblings are not confused with each other.
static_assert(!std::is_base_of_v<SerializationError, ProxyResolveMissingKeyError>);
static_assert(!std::is_base_of_v<ConnectionError, StoreOperationError>);
static_assert(!std::is_base_of_v<StoreNotFoundError, StoreExistsError>);

template <class E>
void check_error_type(const char* message) {
  INFO(message);
  try {
    throw E(message);
  } catch (const Error& e) {  // every one is caught as Error ...
    CHECK(std::string(e.what()) == message);
  }
  try {
    throw E(std::string(message));
  } catch (const std::runtime_error& e) {  // ... and as std::runtime_error
    CHECK(std::string(e.what()) == message);
  }
}

}  // namespace

TEST_CASE("Every error derives from Error and std::runtime_error", "[errors]") {
  check_error_type<Error>("error");
  check_error_type<ProxyResolveMissingKeyError>("missing");
  check_error_type<StoreExistsError>("exists");
  check_error_type<StoreNotFoundError>("not found");
  check_error_type<SerializationError>("serialization");
  check_error_type<NotSerializableError>("not serializable");
  check_error_type<ConnectionError>("connection");
  check_error_type<TimeoutError>("timeout");
  check_error_type<StoreOperationError>("operation");

  CHECK_THROWS_AS(throw NotSerializableError("x"), SerializationError);
  CHECK_THROWS_AS(throw TimeoutError("x"), ConnectionError);
}

TEST_CASE("Error messages name the store and the key and the types involved", "[errors]") {
  const ScopedStoreName name(unique_name("messages"));
  auto store = std::make_shared<LocalStore>(name);

  SECTION("ProxyResolveMissingKeyError: store, type, key and target type") {
    const Key key{"0123456789abcdef0123456789abcdef"};
    auto p = store->proxy_from_key<std::vector<double>>(key);
    CHECK_THROWS_MATCHES(*p, ProxyResolveMissingKeyError,
                         MessageContains({name.get(), "local", key.id, "vector<f64>"}));
  }

  SECTION("SerializationError for a wrong type: store, key, both types") {
    const Key key = store->set(std::string("text"));
    CHECK_THROWS_MATCHES(store->get<int>(key), SerializationError,
                         MessageContains({name.get(), key.id, "string", "i32"}));
    auto p = store->proxy_from_key<int>(key);
    CHECK_THROWS_MATCHES(*p, SerializationError, MessageContains({"string", "i32"}));
  }

  SECTION("StoreExistsError: the store") {
    register_store(store);
    CHECK_THROWS_MATCHES(register_store(std::make_shared<LocalStore>(name)), StoreExistsError,
                         MessageContains(name.get()));
  }

  SECTION("StoreNotFoundError: the store and its type") {
    CHECK_THROWS_MATCHES(get_or_create_store(StoreConfig{"martian", name, {}}), StoreNotFoundError,
                         MessageContains({name.get(), "martian"}));
  }

  SECTION("NotSerializableError: the target type") {
    const Proxy<std::vector<int>> p(
        LambdaFactory<std::vector<int>>([] { return std::vector<int>{}; }));
    CHECK_THROWS_MATCHES(serialize(p), NotSerializableError, MessageContains("vector<i32>"));
  }

  SECTION("Error for an empty proxy: its type") {
    const Proxy<std::map<std::string, int>> empty;
    CHECK_THROWS_MATCHES(*empty, Error, MessageContains("map<string,i32>"));
  }

  SECTION("SerializationError for corrupt bytes: the type being decoded") {
    CHECK_THROWS_MATCHES(deserialize<std::vector<double>>("garbage"), SerializationError,
                         MessageContains("vector<f64>"));
  }
}

TEST_CASE("ConnectionError names host:port when no server listens", "[errors]") {
  // A loopback port that was free a moment ago: nothing answers there.
  const int port = proxystore::test::free_loopback_port();
  const ScopedStoreName name(unique_name("nowhere"));
  RedisOptions options;
  options.connect_timeout = std::chrono::milliseconds(2000);
  auto store = std::make_shared<RedisStore>(name, "127.0.0.1", port, options);  // no connect yet
  const std::string address = "127.0.0.1:" + std::to_string(port);
  CHECK_THROWS_MATCHES(store->set(1), ConnectionError, MessageContains({name.get(), address}));
  auto p = store->proxy_from_key<int>(Key{"0123456789abcdef0123456789abcdef"});
  CHECK_THROWS_MATCHES(*p, ConnectionError, MessageContains(address));
  CHECK_FALSE(is_resolved(p));
}
