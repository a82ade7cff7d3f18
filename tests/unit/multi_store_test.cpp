// SPDX-License-Identifier: Apache-2.0
// MultiStore over in-process children: routing by size, tag and priority,
// keys that remember their child, batches, config round trips and every
// malformed-input path. (Redis + FileStore routing and the cross-process
// rebuild: tests/integration/multi_store_redis_test.cpp.)
#include <proxystore/proxystore.hpp>

#include "support/matchers.hpp"
#include "support/store_fixtures.hpp"
#include "support/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <cstddef>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace proxystore;  // NOLINT(google-build-using-namespace): test file
using proxystore::test::CountingBackend;
using proxystore::test::MessageContains;
using proxystore::test::ScopedStoreName;
using proxystore::test::TempDir;
using proxystore::test::unique_name;

namespace {

using Routes = std::vector<MultiStore::Route>;
using Tags = std::vector<std::string>;

std::shared_ptr<LocalStore> local(const std::string& prefix) {
  return std::make_shared<LocalStore>(unique_name(prefix));
}

/// The serialized size Store::set reports to the router for `text`.
std::size_t stored_size(const std::string& text) {
  return serialize(text).size();
}

/// Whether `child` holds `key` of `multi` (asked of the child directly,
/// with the id the child knows).
bool held_by(const MultiStore& multi, const Key& key, Store& child) {
  const auto [owner, child_key] = multi.locate(key);
  return owner.get() == &child && child.exists(child_key);
}

RoutingPolicy sizes(std::size_t min_size, std::size_t max_size) {
  RoutingPolicy policy;
  policy.min_size = min_size;
  policy.max_size = max_size;
  return policy;
}

/// A LocalStore that records what do_new_key_for / do_new_keys_for saw.
class InfoRecordingStore final : public LocalStore {
 public:
  using LocalStore::LocalStore;
  std::vector<std::pair<std::size_t, Tags>> seen;  ///< (size, tags) per minted key
  int batch_calls = 0;

 protected:
  Key do_new_key_for(const PutInfo& info) override {
    seen.emplace_back(info.size, info.tags);
    return LocalStore::do_new_key_for(info);
  }
  std::vector<Key> do_new_keys_for(const std::vector<PutInfo>& infos) override {
    ++batch_calls;
    for (const PutInfo& info : infos)
      seen.emplace_back(info.size, info.tags);
    return LocalStore::do_new_keys_for(infos);
  }
};

}  // namespace

// --- the key-minting hook every store has ---------------------------------------------

TEST_CASE("do_new_key_for sees each object's serialized size and the caller's tags",
          "[multistore][store]") {
  auto store = std::make_shared<InfoRecordingStore>(unique_name("infos"));
  const std::string text(100, 'x');
  const std::vector<double> numbers(1000, 1.5);

  store->set(text);
  store->set(numbers, SetOptions{{"hot", "f64"}});
  ProxyOptions options;
  options.tags = {"proxied"};
  auto proxy = store->proxy(std::string("p"), options);
  store->set_batch(std::vector<std::string>{"a", "bbb"}, SetOptions{{"batch"}});

  REQUIRE(store->seen.size() == 5);
  CHECK(store->seen[0] == std::pair<std::size_t, Tags>{stored_size(text), {}});
  CHECK(store->seen[1] == std::pair<std::size_t, Tags>{serialize(numbers).size(), {"hot", "f64"}});
  CHECK(store->seen[2] == std::pair<std::size_t, Tags>{stored_size("p"), {"proxied"}});
  CHECK(store->seen[3] == std::pair<std::size_t, Tags>{stored_size("a"), {"batch"}});
  CHECK(store->seen[4] == std::pair<std::size_t, Tags>{stored_size("bbb"), {"batch"}});
  CHECK(store->batch_calls == 1);  // a batch mints its keys together
  CHECK(*proxy == "p");
}

// --- routing ------------------------------------------------------------------------

TEST_CASE("MultiStore routes by serialized size, bounds inclusive", "[multistore]") {
  auto small = local("ms-small");
  auto big = local("ms-big");
  const std::string at_limit(50, 's');
  const std::size_t limit = stored_size(at_limit);
  MultiStore multi(unique_name("ms-size"),
                   Routes{{small, sizes(0, limit)},
                          {big, sizes(limit + 1, std::numeric_limits<std::size_t>::max())}});

  const Key fits = multi.set(at_limit);
  const Key over = multi.set(at_limit + "s");  // one byte more
  CHECK(held_by(multi, fits, *small));
  CHECK(held_by(multi, over, *big));
  CHECK_FALSE(big->exists(multi.locate(fits).second));
  CHECK_FALSE(small->exists(multi.locate(over).second));
  CHECK(multi.get<std::string>(fits) == at_limit);
  CHECK(multi.get<std::string>(over) == at_limit + "s");
  CHECK(multi.route_for(limit) == small);
  CHECK(multi.route_for(limit + 1) == big);
  // The key's id says which child holds it.
  CHECK(fits.id.rfind(small->name() + "/", 0) == 0);
  CHECK(over.id.rfind(big->name() + "/", 0) == 0);
}

TEST_CASE("MultiStore routes by tags: superset tags are required, subset tags are allowed",
          "[multistore]") {
  auto hot = local("ms-hot");
  auto restricted = local("ms-xy");
  auto fallback = local("ms-rest");
  RoutingPolicy requires_hot;
  requires_hot.superset_tags = {"hot"};
  RoutingPolicy only_x_y;
  only_x_y.subset_tags = {"x", "y"};
  MultiStore multi(unique_name("ms-tags"),
                   Routes{{hot, requires_hot}, {restricted, only_x_y}, {fallback, {}}});

  CHECK(held_by(multi, multi.set(1, SetOptions{{"hot"}}), *hot));
  CHECK(held_by(multi, multi.set(2, SetOptions{{"x", "hot"}}), *hot));  // hot is tried first
  CHECK(held_by(multi, multi.set(3, SetOptions{{"x"}}), *restricted));
  CHECK(held_by(multi, multi.set(4, SetOptions{{"y", "x"}}), *restricted));
  CHECK(held_by(multi, multi.set(5, SetOptions{{"x", "z"}}), *fallback));  // z not allowed
  CHECK(held_by(multi, multi.set(6), *restricted));  // no tags: a subset of any list

  ProxyOptions options;
  options.tags = {"hot"};
  auto proxies = multi.proxy_batch(std::vector<int>{7, 8}, options);
  for (const auto& proxy : proxies) {
    const auto* factory = get_factory(proxy).target<StoreFactory<int>>();
    REQUIRE(factory != nullptr);
    CHECK(held_by(multi, factory->key(), *hot));
  }
  CHECK(proxies[0] == 7);
  CHECK(proxies[1] == 8);
}

TEST_CASE("MultiStore tries higher priorities first; equal priorities keep their order",
          "[multistore]") {
  auto first = local("ms-first");
  auto second = local("ms-second");
  auto preferred = local("ms-preferred");
  RoutingPolicy high;
  high.priority = 5;

  SECTION("ties keep the given order") {
    MultiStore multi(unique_name("ms-prio"), Routes{{first, {}}, {second, {}}});
    CHECK(held_by(multi, multi.set(1), *first));
  }
  SECTION("a later route with a higher priority wins") {
    MultiStore multi(unique_name("ms-prio"), Routes{{first, {}}, {second, {}}, {preferred, high}});
    CHECK(held_by(multi, multi.set(1), *preferred));
    REQUIRE(multi.routes().size() == 3);
    CHECK(multi.routes()[0].store == preferred);
    CHECK(multi.routes()[1].store == first);
    CHECK(multi.routes()[2].store == second);
  }
  SECTION("a higher-priority route that refuses the object is skipped") {
    RoutingPolicy high_small = sizes(0, 4);
    high_small.priority = 5;
    MultiStore multi(unique_name("ms-prio"), Routes{{first, {}}, {preferred, high_small}});
    CHECK(held_by(multi, multi.set(std::string(100, 'x')), *first));
  }
}

TEST_CASE("MultiStore with no accepting route throws naming the store, size and tags",
          "[multistore]") {
  auto small = std::make_shared<CountingBackend<LocalStore>>(unique_name("ms-only-small"));
  RoutingPolicy policy = sizes(0, 64);
  policy.superset_tags = {"ok"};
  const ScopedStoreName name(unique_name("ms-none"));
  MultiStore multi(name, Routes{{small, policy}});
  const std::string big(100, 'b');

  CHECK_THROWS_MATCHES(multi.set(big, SetOptions{{"ok", "weird\"tag"}}), StoreOperationError,
                       MessageContains({name.get(), std::to_string(stored_size(big)) + " bytes",
                                        "\"ok\"", "weird\"tag", small->name()}));
  CHECK_THROWS_MATCHES(multi.set(1), StoreOperationError, MessageContains({name.get(), "no tags"}));
  CHECK_THROWS_AS(multi.set_batch(std::vector<std::string>{"a", big}, SetOptions{{"ok"}}),
                  StoreOperationError);
  CHECK_THROWS_AS(multi.proxy(big), StoreOperationError);
  CHECK(small->puts == 0);  // nothing half-stored
  CHECK(small->put_batches == 0);
}

// --- operations follow the key --------------------------------------------------------

TEST_CASE("MultiStore batches mix children: one backend batch per child, values in order",
          "[multistore]") {
  auto small = std::make_shared<CountingBackend<LocalStore>>(unique_name("ms-bsmall"));
  auto big = std::make_shared<CountingBackend<LocalStore>>(unique_name("ms-bbig"));
  MultiStore multi(unique_name("ms-batch"), Routes{{small, sizes(0, 40)}, {big, {}}});
  const std::vector<std::string> values = {"a", std::string(200, 'B'), "c", std::string(300, 'D')};

  const std::vector<Key> keys = multi.set_batch(values);
  REQUIRE(keys.size() == 4);
  CHECK(held_by(multi, keys[0], *small));
  CHECK(held_by(multi, keys[1], *big));
  CHECK(held_by(multi, keys[2], *small));
  CHECK(held_by(multi, keys[3], *big));
  CHECK(small->put_batches == 1);
  CHECK(big->put_batches == 1);

  std::vector<Key> asked = keys;
  asked.insert(asked.begin() + 1, Key{small->name() + "/missing"});
  const auto fetched = multi.get_batch<std::string>(asked);
  REQUIRE(fetched.size() == 5);
  CHECK(fetched[0] == values[0]);
  CHECK_FALSE(fetched[1].has_value());
  CHECK(fetched[2] == values[1]);
  CHECK(fetched[3] == values[2]);
  CHECK(fetched[4] == values[3]);
  CHECK(small->get_batches == 1);
  CHECK(small->get_batch_keys == 3);
  CHECK(big->get_batches == 1);
  CHECK(big->get_batch_keys == 2);
}

TEST_CASE("MultiStore exists and evict go to the child holding the key", "[multistore]") {
  auto small = local("ms-esmall");
  auto big = local("ms-ebig");
  MultiStore multi(unique_name("ms-evict"), Routes{{small, sizes(0, 40)}, {big, {}}});
  const Key a = multi.set(std::string("a"));
  const Key b = multi.set(std::string(500, 'b'));
  CHECK(multi.exists(a));
  CHECK(multi.exists(b));
  CHECK(multi.get<std::string>(a) == "a");  // now cached by the MultiStore

  multi.evict(a);
  CHECK_FALSE(multi.exists(a));
  CHECK_FALSE(small->exists(multi.locate(a).second));
  CHECK_FALSE(multi.get<std::string>(a).has_value());  // evict dropped the cache entry too
  CHECK(multi.exists(b));
  CHECK(big->exists(multi.locate(b).second));
  multi.evict(a);  // evicting again is a no-op
}

TEST_CASE("MultiStore: evict proxies, lifetimes, owned proxies and futures follow the key",
          "[multistore][lifetimes]") {
  auto small = local("ms-lsmall");
  auto big = local("ms-lbig");
  auto multi = std::make_shared<MultiStore>(unique_name("ms-life"),
                                            Routes{{small, sizes(0, 40)}, {big, {}}});
  const ScopedStoreName registered(multi->name());

  SECTION("an evict proxy removes the object from its child") {
    ProxyOptions options;
    options.evict = true;
    auto proxy = multi->proxy(std::string(100, 'e'), options);
    const Key key = get_factory(proxy).target<StoreFactory<std::string>>()->key();
    REQUIRE(held_by(*multi, key, *big));
    CHECK(proxy->size() == 100);
    CHECK_FALSE(big->exists(multi->locate(key).second));
  }
  SECTION("a context lifetime evicts from each child") {
    Key in_small;
    Key in_big;
    {
      ProxyOptions options;
      options.lifetime = std::make_shared<ContextLifetime>();
      auto p = multi->proxy(std::string("s"), options);
      auto q = multi->proxy(std::string(100, 'b'), options);
      in_small = get_factory(p).target<StoreFactory<std::string>>()->key();
      in_big = get_factory(q).target<StoreFactory<std::string>>()->key();
      CHECK(held_by(*multi, in_small, *small));
      CHECK(held_by(*multi, in_big, *big));
    }
    CHECK_FALSE(small->exists(multi->locate(in_small).second));
    CHECK_FALSE(big->exists(multi->locate(in_big).second));
  }
  SECTION("an owned proxy evicts from its child when dropped") {
    Key key;
    {
      OwnedProxy<std::string> owned = multi->owned_proxy(std::string(100, 'o'));
      key = owned.key();
      CHECK(held_by(*multi, key, *big));
    }
    CHECK_FALSE(big->exists(multi->locate(key).second));
  }
  SECTION("a future's key routes as an empty object; its proxy waits for the result") {
    Future<std::string> future = multi->future<std::string>();
    CHECK(multi->locate(future.key()).first == small);
    auto proxy = future.proxy();
    CHECK_FALSE(future.done());
    future.set_result("done");
    CHECK(future.done());
    CHECK(proxy == "done");
  }
}

TEST_CASE("MultiStore: a key naming no child throws a clear StoreOperationError", "[multistore]") {
  auto child = local("ms-known");
  const ScopedStoreName name(unique_name("ms-keys"));
  auto multi = std::make_shared<MultiStore>(name, Routes{{child, {}}});
  const std::string expected_prefix = "'" + child->name() + "/'";

  for (const std::string& id :
       std::vector<std::string>{"other/abc", "abc", child->name(), child->name() + "-x/abc"}) {
    CAPTURE(id);
    CHECK_THROWS_MATCHES(multi->get<std::string>(Key{id}), StoreOperationError,
                         MessageContains({name.get(), "'" + id + "'", expected_prefix}));
    CHECK_THROWS_AS(multi->exists(Key{id}), StoreOperationError);
    CHECK_THROWS_AS(multi->evict(Key{id}), StoreOperationError);
    CHECK_THROWS_AS(multi->get_batch<std::string>({Key{id}}), StoreOperationError);
  }
  auto proxy = multi->proxy_from_key<std::string>(Key{"nowhere/1"});
  CHECK_THROWS_MATCHES(resolve(proxy), StoreOperationError, MessageContains("'nowhere/1'"));
  // A child key that is simply absent is a missing key, as in any store.
  auto missing = multi->proxy_from_key<std::string>(Key{child->name() + "/absent"});
  CHECK_THROWS_AS(resolve(missing), ProxyResolveMissingKeyError);
}

TEST_CASE("MultiStore refuses routes that would make keys ambiguous or cannot route",
          "[multistore]") {
  auto a = std::make_shared<LocalStore>(unique_name("ms-a"));
  auto a_again = std::make_shared<LocalStore>(a->name());
  auto a_nested = std::make_shared<LocalStore>(a->name() + "/b");
  const std::string name = unique_name("ms-bad");

  CHECK_THROWS_MATCHES(MultiStore(name, Routes{}), Error, MessageContains({name, "route"}));
  CHECK_THROWS_MATCHES(MultiStore(name, Routes{{nullptr, {}}}), Error,
                       MessageContains({name, "route 0 has no store"}));
  CHECK_THROWS_MATCHES(MultiStore(name, Routes{{a, {}}, {a_again, {}}}), Error,
                       MessageContains({name, a->name()}));
  CHECK_THROWS_MATCHES(MultiStore(name, Routes{{a, {}}, {a_nested, {}}}), Error,
                       MessageContains({name, "ambiguous"}));
  CHECK_THROWS_MATCHES(MultiStore(a->name(), Routes{{a, {}}}), Error, MessageContains("same name"));
  CHECK_THROWS_MATCHES(MultiStore(name, Routes{{a, sizes(10, 9)}}), Error,
                       MessageContains({name, "min_size 10 > max_size 9"}));
}

// --- nesting and config ------------------------------------------------------------------

TEST_CASE("A MultiStore can route to another MultiStore", "[multistore]") {
  auto tiny = local("ms-tiny");
  auto medium = local("ms-medium");
  auto big = local("ms-nbig");
  auto inner = std::make_shared<MultiStore>(unique_name("ms-inner"),
                                            Routes{{tiny, sizes(0, 30)}, {medium, {}}});
  MultiStore outer(unique_name("ms-outer"), Routes{{inner, sizes(0, 200)}, {big, {}}});

  const Key t = outer.set(std::string("t"));
  const Key m = outer.set(std::string(100, 'm'));
  const Key b = outer.set(std::string(1000, 'b'));
  auto [t_child, t_inner_key] = outer.locate(t);
  CHECK(t_child == inner);
  CHECK(held_by(*inner, t_inner_key, *tiny));
  CHECK(held_by(*inner, outer.locate(m).second, *medium));
  CHECK(held_by(outer, b, *big));
  CHECK(outer.get<std::string>(m) == std::string(100, 'm'));
  CHECK(outer.get_batch<std::string>({t, b})[0] == "t");

  const StoreConfig config = outer.config();
  CHECK(config.options.at("route.0.type") == "multi");
  CHECK(config.options.at("route.0.option.route.0.name") == tiny->name());
  CHECK(MultiStore::from_config(config)->config() == config);
}

TEST_CASE("MultiStore config round-trips names, options and tags of any bytes",
          "[multistore][serialize]") {
  TempDir dir;
  const std::string awkward = std::string("a\"b=c,d.e\\f\n{g}\0h\xff", 18);
  auto files = std::make_shared<FileStore>(unique_name("ms-files ") + awkward,
                                           dir / "dir with spaces=and,commas");
  auto memory = local("ms-mem.option.x");
  RoutingPolicy tagged;
  tagged.min_size = 7;
  tagged.max_size = 123456789;
  tagged.priority = -3;
  tagged.subset_tags = {awkward, "", "route.0.type"};
  tagged.superset_tags = {"z"};
  const ScopedStoreName files_name(files->name());
  const ScopedStoreName memory_name(memory->name());
  register_store(files);
  register_store(memory);
  MultiStore multi(unique_name("ms-config\n") + awkward, Routes{{memory, tagged}, {files, {}}});

  const StoreConfig config = multi.config();
  CHECK(config.type == "multi");
  CHECK(config.options.at("routes") == "2");
  CHECK(config.options.at("route.0.name") == files->name());  // priority 0 before -3
  CHECK(config.options.at("route.0.option.directory") == files->directory().string());
  CHECK(config.options.at("route.1.subset_tag.0") == awkward);

  // The wire form (what a proxy carries) and cereal's other archives.
  const StoreConfig decoded = deserialize<StoreConfig>(serialize(config));
  CHECK(decoded == config);

  // Rebuilt (children found by name here): the same routes, the same config.
  auto rebuilt = MultiStore::from_config(decoded);
  CHECK(rebuilt->config() == config);
  REQUIRE(rebuilt->routes().size() == 2);
  CHECK(rebuilt->routes()[0].store == files);
  CHECK(rebuilt->routes()[1].store == memory);
  CHECK(rebuilt->routes()[1].policy == tagged);

  // Rebuilt with the children gone from the registry: a child config is
  // rebuilt only through the store policy, which refuses control bytes
  // (here: "\n" and "\0" in the FileStore's name) whatever it allows.
  unregister_store(files->name());
  unregister_store(memory->name());
  CHECK_THROWS_MATCHES(MultiStore::from_config(decoded), ForbiddenStoreError,
                       MessageContains({"control bytes", "\\x0a", "\\x00"}));
  CHECK(get_store(files->name()) == nullptr);
}

TEST_CASE("MultiStore::from_config rejects malformed configs with clear errors",
          "[multistore][registry]") {
  auto child = local("ms-mchild");
  const ScopedStoreName child_name(child->name());
  register_store(child);
  const ScopedStoreName name(unique_name("ms-malformed"));
  const StoreConfig good = MultiStore(name, Routes{{child, {}}}).config();
  REQUIRE(MultiStore::from_config(good)->routes()[0].store == child);

  auto with = [&](const std::string& option, const std::string& value) {
    StoreConfig config = good;
    config.options[option] = value;
    return config;
  };
  auto without = [&](const std::string& option) {
    StoreConfig config = good;
    config.options.erase(option);
    return config;
  };
  const std::vector<std::pair<StoreConfig, std::string>> cases = {
      {without("routes"), "option 'routes' is missing"},
      {with("routes", "two"), "option 'routes' is 'two'"},
      {with("routes", "-1"), "option 'routes' is '-1'"},
      {with("routes", "0"), "'routes' is 0"},
      {with("routes", "18446744073709551615"), "'routes' is 18446744073709551615"},
      {with("routes", "99999999999999999999"), "not a non-negative integer in range"},
      {without("route.0.type"), "option 'route.0.type' is missing"},
      {without("route.0.name"), "option 'route.0.name' is missing"},
      {with("route.0.max_size", "1e3"), "option 'route.0.max_size' is '1e3'"},
      {with("route.0.priority", "99999999999"), "option 'route.0.priority'"},
      {with("route.0.subset_tags", "1"), "option 'route.0.subset_tag.0' is missing"},
      {with("route.0.superset_tags", "1000000"), "claims 1000000 tags"},
      {with("route.1.type", "local"), "unknown option 'route.1.type'"},
      {with("colour", "blue"), "unknown option 'colour'"},
      {with("route.0.name", name.get()), "route 0 names the multi store itself"},
  };
  for (const auto& [config, message] : cases) {
    CAPTURE(config, message);
    CHECK_THROWS_MATCHES(MultiStore::from_config(config), Error,
                         MessageContains({"multi store '" + name.get() + "'", message}));
    CHECK_THROWS_AS(get_or_create_store(config), Error);
  }
  CHECK(get_store(name.get()) == nullptr);  // nothing half-built was registered

  StoreConfig unknown_type = with("route.0.type", "no-such-type");
  unknown_type.options["route.0.name"] = unique_name("ms-unknown-child");
  CHECK_THROWS_MATCHES(MultiStore::from_config(unknown_type), StoreNotFoundError,
                       MessageContains("no-such-type"));
}

TEST_CASE("A MultiStore proxy resolves through the registry's \"multi\" builder",
          "[multistore][registry]") {
  TempDir dir;
  auto files = std::make_shared<FileStore>(unique_name("ms-rfiles"), dir / "objects");
  const ScopedStoreName files_name(files->name());
  register_store(files);
  const ScopedStoreName name(unique_name("ms-registry"));
  auto multi = std::make_shared<MultiStore>(name, Routes{{files, {}}});
  const std::string bytes = serialize(multi->proxy(std::string("via the builder")));
  unregister_store(name.get());  // as in a process that never saw the MultiStore
  multi.reset();

  auto proxy = deserialize<Proxy<std::string>>(bytes);
  CHECK(proxy == "via the builder");
  auto rebuilt = std::dynamic_pointer_cast<MultiStore>(get_store(name.get()));
  REQUIRE(rebuilt != nullptr);
  CHECK(rebuilt->routes()[0].store == files);  // the registered child was reused
}
