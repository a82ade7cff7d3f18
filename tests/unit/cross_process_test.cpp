// SPDX-License-Identifier: Apache-2.0
// A real second process: proxies cross a pipe and resolve in a process with no store registered.
#include "support/child_process.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using proxystore::test::ChildResult;
using proxystore::test::run_child;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

/// Runs `proxy_consumer <type>` with `input` on stdin.
ChildResult consume(const std::string& type, const std::string& input) {
  return run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {type}, input);
}

ChildResult produce(const std::vector<std::string>& args, const std::string& input) {
  return run_child(PROXYSTORE_HELPER_PROXY_PRODUCER, args, input);
}

}  // namespace

TEST_CASE("A FileStore proxy resolves in another process that has no store",
          "[proxy][file][store]") {
  TempDir dir;
  const ScopedStoreName name(unique_name("xproc"));
  auto store = std::make_shared<FileStore>(name, dir / "objects");

  SECTION("string") {
    const std::string text = "hello from the parent, with \"quotes\" and\ttabs";
    const ChildResult child = consume("string", serialize(store->proxy(text)));
    INFO(child.describe());
    CHECK(child.exit_code == 0);
    CHECK(child.out == text);
  }

  SECTION("vector of doubles") {
    auto p = store->proxy(std::vector<double>{1.5, 2.5, 3.0});
    const ChildResult child = consume("vector_f64", serialize(p));
    INFO(child.describe());
    CHECK(child.exit_code == 0);
    CHECK(child.out == "size=3 sum=7");
    CHECK_FALSE(is_resolved(p));  // serializing did not resolve it here
  }

  SECTION("64-bit integer") {
    const ChildResult child = consume("i64", serialize(store->proxy(1234567890123LL)));
    INFO(child.describe());
    CHECK(child.exit_code == 0);
    CHECK(child.out == "1234567890123");
  }

  SECTION("a large object travels by reference, not inside the proxy") {
    const std::vector<double> values(1 << 18, 0.5);
    const std::string bytes = serialize(store->proxy(values));
    CHECK(bytes.size() < 300);
    const ChildResult child = consume("vector_f64", bytes);
    INFO(child.describe());
    CHECK(child.exit_code == 0);
    CHECK(child.out == "size=262144 sum=131072");
  }
}

TEST_CASE("An evict proxy resolves once across processes and then the key is gone",
          "[proxy][file][store]") {
  TempDir dir;
  const ScopedStoreName name(unique_name("xproc-evict"));
  auto store = std::make_shared<FileStore>(name, dir / "objects");
  ProxyOptions options;
  options.evict = true;
  auto p = store->proxy(std::string("only once"), options);
  const Key key = get_factory(p).target<StoreFactory<std::string>>()->key();
  const std::string bytes = serialize(p);

  const ChildResult first = consume("string", bytes);
  INFO(first.describe());
  CHECK(first.exit_code == 0);
  CHECK(first.out == "only once");
  CHECK_FALSE(std::filesystem::exists(dir / "objects" / key.id));
  CHECK_FALSE(store->exists(key));

  const ChildResult second = consume("string", bytes);
  INFO(second.describe());
  CHECK(second.exit_code == 3);
  CHECK_THAT(second.out, StartsWith("error: ProxyResolveMissingKeyError: ") && Contains(key.id) &&
                             Contains(name.get()));
}

TEST_CASE("A LocalStore proxy does not resolve in another process", "[proxy][store]") {
  // Documented: in another process a LocalStore of the same name is a new,
  // empty store.
  const ScopedStoreName name(unique_name("xproc-local"));
  auto store = std::make_shared<LocalStore>(name);
  auto p = store->proxy(std::string("stays here"));
  const ChildResult child = consume("string", serialize(p));
  INFO(child.describe());
  CHECK(child.exit_code == 3);
  CHECK_THAT(child.out, StartsWith("error: ProxyResolveMissingKeyError: ") && Contains(name.get()));
  CHECK(p == "stays here");  // still fine in this process
}

TEST_CASE("Bad input reaches another process as a SerializationError", "[proxy][serialize]") {
  TempDir dir;
  const ScopedStoreName name(unique_name("xproc-bad"));
  auto store = std::make_shared<FileStore>(name, dir / "objects");

  SECTION("a proxy of another type names both types") {
    const ChildResult child = consume("i64", serialize(store->proxy(std::string("text"))));
    INFO(child.describe());
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, StartsWith("error: SerializationError: ") && Contains("proxy<string>") &&
                              Contains("proxy<i64>"));
  }

  SECTION("garbage") {
    const ChildResult child = consume("string", "not a proxy at all");
    INFO(child.describe());
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, StartsWith("error: SerializationError: "));
  }

  SECTION("a truncated proxy") {
    const std::string bytes = serialize(store->proxy(std::string("text")));
    const ChildResult child = consume("string", bytes.substr(0, bytes.size() - 3));
    INFO(child.describe());
    CHECK(child.exit_code == 3);
    CHECK_THAT(child.out, StartsWith("error: SerializationError: "));
  }
}

TEST_CASE("A proxy produced by another process resolves here", "[proxy][file][store]") {
  TempDir dir;
  const std::string name = unique_name("from-child");
  REQUIRE(get_store(name) == nullptr);

  const ChildResult child =
      produce({"file", (dir / "objects").string(), name, "string"}, "made by the child");
  INFO(child.describe());
  REQUIRE(child.exit_code == 0);
  auto p = deserialize<Proxy<std::string>>(child.out);
  CHECK_FALSE(is_resolved(p));
  CHECK(p == "made by the child");
  // Resolution rebuilt the child's store here from the proxy's config.
  auto rebuilt = std::dynamic_pointer_cast<FileStore>(get_store(name));
  REQUIRE(rebuilt != nullptr);
  CHECK(std::filesystem::equivalent(rebuilt->directory(), dir / "objects"));
  unregister_store(name);

  const ChildResult vector_child = produce(
      {"file", (dir / "objects").string(), unique_name("from-child"), "vector_f64"}, "1 2 3.5");
  INFO(vector_child.describe());
  REQUIRE(vector_child.exit_code == 0);
  auto v = deserialize<Proxy<std::vector<double>>>(vector_child.out);
  CHECK(v == std::vector<double>{1, 2, 3.5});
  unregister_store(get_factory(v).target<StoreFactory<std::vector<double>>>()->config().name);
}

TEST_CASE("Producer and consumer processes talk through this process", "[proxy][file][store]") {
  TempDir dir;
  const std::string name = unique_name("relay");
  const ChildResult producer =
      produce({"file", (dir / "objects").string(), name, "string", "evict"}, "relayed");
  INFO(producer.describe());
  REQUIRE(producer.exit_code == 0);
  const ChildResult consumer = consume("string", producer.out);
  INFO(consumer.describe());
  CHECK(consumer.exit_code == 0);
  CHECK(consumer.out == "relayed");
  CHECK(std::filesystem::is_empty(dir / "objects"));  // evicted by the consumer

  const ChildResult local = produce({"local", unique_name("child-local"), "string"}, "lost");
  INFO(local.describe());
  REQUIRE(local.exit_code == 0);
  const ChildResult lost = consume("string", local.out);
  CHECK(lost.exit_code == 3);
  CHECK_THAT(lost.out, StartsWith("error: ProxyResolveMissingKeyError: "));
}

TEST_CASE("run_child reports exit codes and output", "[proxy]") {
  // The helpers' usage errors: exit 2, message on stderr.
  const ChildResult usage = run_child(PROXYSTORE_HELPER_PROXY_CONSUMER, {}, "");
  CHECK(usage.exit_code == 2);
  CHECK_THAT(usage.err, Contains("usage"));
  CHECK(usage.out.empty());
  CHECK_FALSE(usage.timed_out);

  // Several MiB back out through stdout, without a pipe deadlock.
  TempDir dir;
  const ScopedStoreName name(unique_name("big-pipe"));
  auto store = std::make_shared<FileStore>(name, dir / "objects");
  const std::string big(4 << 20, 'z');
  const std::string proxy_bytes = serialize(store->proxy(big));
  const ChildResult child = consume("string", proxy_bytes);
  CHECK(child.exit_code == 0);
  CHECK(child.out.size() == big.size());
  CHECK(child.out == big);

  CHECK_THROWS(run_child("/nonexistent/helper", {}, ""));
}
