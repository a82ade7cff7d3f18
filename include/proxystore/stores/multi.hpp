// SPDX-License-Identifier: Apache-2.0
/// \file
/// MultiStore: one store in front of several, each object routed by size and tags.
#pragma once

// A MultiStore owns an ordered list of routes — a child store and the
// RoutingPolicy saying which objects it takes — and sends each new object
// to the first child whose policy accepts it:
//
//   auto multi = std::make_shared<ps::MultiStore>("data", std::vector<ps::MultiStore::Route>{
//       {redis, small},     // RoutingPolicy{.max_size = 1 << 20}
//       {shared_files, {}}, // everything else
//   });
//   auto p = multi->proxy(big_vector);  // lands in shared_files
//
// Routing happens when the key is minted (Store::do_new_key_for), with the
// serialized size and the tags of SetOptions / ProxyOptions. The key
// remembers the child: its id is "<child name>/<child's key id>", and every
// later operation (get, exists, evict, batches, lifetimes, futures) goes to
// that child.
//
// config() carries every child's full StoreConfig and every policy, so a
// proxy made by a MultiStore resolves in another process: the type "multi"
// is registered, and its builder rebuilds (or reuses, by name) each child
// through get_or_create_store — each child checked by the store policy as
// its own type would be (security.hpp).

#include <proxystore/config.hpp>
#include <proxystore/store.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proxystore {

/// Which objects a MultiStore route takes. An object is accepted when all
/// three hold:
///   * size:  `min_size <= size <= max_size`, where size is the serialized
///            size in bytes (header and body, as Store::set writes it);
///   * subset_tags: empty, or every tag of the object is one of them
///            (the object's tags are a subset: "the tags this route allows");
///   * superset_tags: every one of them is a tag of the object (the
///            object's tags are a superset: "the tags this route requires").
/// So an untagged object passes any subset_tags but no non-empty
/// superset_tags. Among accepting routes the highest `priority` wins; equal
/// priorities keep the order the routes were given in.
struct RoutingPolicy {
  /// Smallest accepted serialized size in bytes (inclusive).
  std::size_t min_size = 0;
  /// Largest accepted serialized size in bytes (inclusive).
  std::size_t max_size = std::numeric_limits<std::size_t>::max();
  /// If non-empty, the only tags an accepted object may carry.
  std::vector<std::string> subset_tags;
  /// Tags an accepted object must all carry.
  std::vector<std::string> superset_tags;
  /// Routes with a higher priority are tried first.
  int priority = 0;

  /// Whether an object of `size` serialized bytes tagged `tags` is accepted.
  bool accepts(std::size_t size, const std::vector<std::string>& tags) const;

  /// @{
  /// Equal when every field is equal (tags compared as given).
  friend bool operator==(const RoutingPolicy& a, const RoutingPolicy& b) {
    return a.min_size == b.min_size && a.max_size == b.max_size && a.subset_tags == b.subset_tags &&
           a.superset_tags == b.superset_tags && a.priority == b.priority;
  }
  friend bool operator!=(const RoutingPolicy& a, const RoutingPolicy& b) { return !(a == b); }
  /// @}
};

/// A store that routes each object to one of several child stores by its
/// serialized size and tags (see RoutingPolicy), and every later operation
/// on its key to that same child. Thread-safe (the routes never change).
///
/// Caching and metrics: the MultiStore has its own object cache and
/// metrics (its StoreOptions). It moves bytes through the children's
/// backend hooks, so their caches and metrics see only exists() and
/// evict(), which go through the children's public operations (so an
/// evict also drops the object from the child's cache).
///
/// Config: type "multi", options
///   `routes`                    number of routes, n
///   `route.<i>.type` / `.name`  child i's StoreConfig type and name
///   `route.<i>.option.<o>`      child i's option o (verbatim; a nested
///                               MultiStore's options nest the same way)
///   `route.<i>.min_size`, `.max_size`, `.priority`
///   `route.<i>.subset_tags`, `.superset_tags`   tag counts m, then
///   `route.<i>.subset_tag.<j>`, `.superset_tag.<j>` the tags, j < m
/// with i in routing order (priority applied). Every name and value is a
/// map entry of its own, so any bytes round-trip without escaping.
class MultiStore : public Store {
 public:
  /// A child store and the objects it takes.
  struct Route {
    /// The child store (never null).
    std::shared_ptr<Store> store;
    /// Which objects it takes.
    RoutingPolicy policy;
  };

  /// A store named `name` routing over `routes` (tried by descending
  /// priority, ties in the given order).
  /// @throws Error if `routes` is empty, a store is null, two children
  ///         share a name, a child is named like the MultiStore, one
  ///         child's name followed by '/' starts another's (keys would be
  ///         ambiguous), or a policy has min_size > max_size.
  MultiStore(std::string name, std::vector<Route> routes, StoreOptions options = {});

  StoreConfig config() const override;

  /// Rebuilds a MultiStore from `config()` output (the registry's builder
  /// for type "multi"): each child is get_or_create_store(child config) —
  /// the store of that name if this process has one, else rebuilt,
  /// registered and checked by the store policy.
  /// @throws Error if the config is malformed (names the option).
  static std::shared_ptr<MultiStore> from_config(const StoreConfig& config);

  /// The routes in routing order (by descending priority, ties in the
  /// given order).
  const std::vector<Route>& routes() const noexcept { return routes_; }

  /// The child a new object of `size` serialized bytes tagged `tags`
  /// would go to.
  /// @throws StoreOperationError if no route accepts it.
  const std::shared_ptr<Store>& route_for(std::size_t size,
                                          const std::vector<std::string>& tags = {}) const;

  /// The child holding `key` and the key's id inside that child.
  /// @throws StoreOperationError if the key names no child of this store.
  std::pair<std::shared_ptr<Store>, Key> locate(const Key& key) const;

 protected:
  /// Routes as a zero-byte object without tags (a Future's key: its size
  /// is not known yet).
  Key do_new_key() override;
  /// Picks the child (route_for), mints its key there.
  Key do_new_key_for(const PutInfo& info) override;
  /// Routes each entry; each child mints its keys in one call.
  std::vector<Key> do_new_keys_for(const std::vector<PutInfo>& infos) override;
  void do_put(const Key& key, std::string_view bytes) override;
  std::optional<Bytes> do_get(const Key& key) override;
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;
  /// Groups the items by child: one batch per child.
  void do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) override;
  /// Groups the keys by child: one batch per child; values in key order.
  std::vector<std::optional<Bytes>> do_get_batch(const std::vector<Key>& keys) override;
  bool do_expire(const Key& key, std::chrono::milliseconds ttl) override;
  std::optional<Bytes> do_wait_get(const Key& key, std::chrono::milliseconds timeout) override;
  void do_put_result(const Key& key, std::string_view bytes) override;
  /// The TTL writes go to the child with their TTL, so a child with an
  /// atomic form (RedisStore: SET ... PX) keeps it.
  void do_put_with_ttl(const Key& key, std::string_view bytes,
                       std::chrono::milliseconds ttl) override;
  void do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                             std::chrono::milliseconds ttl) override;
  void do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                             std::chrono::milliseconds ttl) override;
  void do_put_result_with_ttl(const Key& key, std::string_view bytes,
                              std::chrono::milliseconds ttl) override;

 private:
  /// `items` grouped by child (index as in routes_), with the children's ids.
  std::vector<std::vector<std::pair<Key, std::string_view>>> shares_of(
      const std::vector<std::pair<Key, std::string_view>>& items) const;
  /// The index in routes_ of the child holding `key`, and the child's id.
  std::pair<std::size_t, Key> split(const Key& key) const;
  /// The children's names, quoted and comma-separated, each followed by
  /// `suffix` (for error messages).
  std::string child_names(std::string_view suffix) const;
  /// The index in routes_ of the route taking (size, tags).
  std::size_t route_index(std::size_t size, const std::vector<std::string>& tags) const;
  /// The MultiStore key of child `index`'s key `child_key`.
  Key join(std::size_t index, const Key& child_key) const;

  std::vector<Route> routes_;
};

}  // namespace proxystore
