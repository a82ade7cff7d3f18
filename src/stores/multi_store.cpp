// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/stores/multi.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>

namespace proxystore {
namespace {

using detail::printable;
using detail::StoreAccess;

/// Tags for messages: ["a", "b"], or "no tags".
std::string describe_tags(const std::vector<std::string>& tags) {
  if (tags.empty())
    return "no tags";
  std::string out = "tags [";
  const char* separator = "";
  for (const auto& tag : tags) {
    out += fmt::format("{}\"{}\"", separator, printable(tag));
    separator = ", ";
  }
  return out + "]";
}

bool contains(const std::vector<std::string>& tags, const std::string& tag) {
  return std::find(tags.begin(), tags.end(), tag) != tags.end();
}

// --- config encoding ---------------------------------------------------------

std::string route_prefix(std::size_t index) {
  return fmt::format("route.{}.", index);
}

void write_tags(StoreConfig& config, const std::string& prefix, const char* kind,
                const std::vector<std::string>& tags) {
  config.options[fmt::format("{}{}_tags", prefix, kind)] = std::to_string(tags.size());
  for (std::size_t j = 0; j < tags.size(); ++j)
    config.options[fmt::format("{}{}_tag.{}", prefix, kind, j)] = tags[j];
}

/// Reads a MultiStore config, consuming the options it understands, so
/// that whatever is left over is reported as unknown.
class ConfigReader {
 public:
  explicit ConfigReader(const StoreConfig& config)
      : name_(config.name), remaining_(config.options) {}

  std::string take(const std::string& option) {
    auto it = remaining_.find(option);
    if (it == remaining_.end())
      throw malformed(fmt::format("option '{}' is missing", printable(option)));
    std::string value = std::move(it->second);
    remaining_.erase(it);
    return value;
  }

  template <class Integer>
  Integer take_integer(const std::string& option) {
    const std::string text = take(option);
    Integer value{};
    const char* end = text.data() + text.size();
    const auto [stop, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || stop != end) {
      throw malformed(
          fmt::format("option '{}' is '{}', not a {} integer in range", option, printable(text),
                      std::numeric_limits<Integer>::is_signed ? "signed" : "non-negative"));
    }
    return value;
  }

  /// Every option starting with `prefix`, the prefix removed.
  std::map<std::string, std::string> take_prefixed(const std::string& prefix) {
    std::map<std::string, std::string> taken;
    auto it = remaining_.lower_bound(prefix);
    while (it != remaining_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
      taken.emplace(it->first.substr(prefix.size()), std::move(it->second));
      it = remaining_.erase(it);
    }
    return taken;
  }

  std::vector<std::string> take_tags(const std::string& prefix, const char* kind) {
    const auto count = take_integer<std::size_t>(fmt::format("{}{}_tags", prefix, kind));
    if (count > remaining_.size())
      throw malformed(fmt::format("option '{}{}_tags' claims {} tags", prefix, kind, count));
    std::vector<std::string> tags;
    for (std::size_t j = 0; j < count; ++j)
      tags.push_back(take(fmt::format("{}{}_tag.{}", prefix, kind, j)));
    return tags;
  }

  /// Throws if an option was not consumed (a typo, or a newer format).
  void expect_nothing_left() const {
    if (!remaining_.empty())
      throw malformed(fmt::format("unknown option '{}'", printable(remaining_.begin()->first)));
  }

  std::size_t remaining() const noexcept { return remaining_.size(); }

  Error malformed(const std::string& what) const {
    return Error{fmt::format("multi store '{}': malformed config: {}", printable(name_), what)};
  }

 private:
  std::string name_;
  std::map<std::string, std::string> remaining_;
};

}  // namespace

// --- RoutingPolicy -----------------------------------------------------------------

bool RoutingPolicy::accepts(std::size_t size, const std::vector<std::string>& tags) const {
  if (size < min_size || size > max_size)
    return false;
  const bool allowed =
      subset_tags.empty() || std::all_of(tags.begin(), tags.end(), [&](const std::string& tag) {
        return contains(subset_tags, tag);
      });
  const bool required_present =
      std::all_of(superset_tags.begin(), superset_tags.end(),
                  [&](const std::string& tag) { return contains(tags, tag); });
  return allowed && required_present;
}

// --- MultiStore: construction and config ------------------------------------------

MultiStore::MultiStore(std::string name, std::vector<Route> routes, StoreOptions options)
    : Store(std::move(name), options), routes_(std::move(routes)) {
  if (routes_.empty())
    throw Error(fmt::format("multi store '{}': needs at least one route", this->name()));
  std::set<std::string> names;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const Route& route = routes_[i];
    if (!route.store)
      throw Error(fmt::format("multi store '{}': route {} has no store", this->name(), i));
    const std::string& child = route.store->name();
    if (child == this->name()) {
      throw Error(
          fmt::format("multi store '{}': route {} is a store of the same name", this->name(), i));
    }
    if (!names.insert(child).second) {
      throw Error(
          fmt::format("multi store '{}': two routes use stores named '{}'", this->name(), child));
    }
    if (route.policy.min_size > route.policy.max_size) {
      throw Error(
          fmt::format("multi store '{}': route {} (store '{}') has min_size {} > max_size {}",
                      this->name(), i, child, route.policy.min_size, route.policy.max_size));
    }
  }
  // A key is "<child>/<id>": no child name plus '/' may begin another's,
  // or a key could belong to two children.
  for (const std::string& a : names) {
    for (const std::string& b : names) {
      if (a != b && b.compare(0, a.size() + 1, a + "/") == 0) {
        throw Error(fmt::format("multi store '{}': child names '{}' and '{}' make keys ambiguous",
                                this->name(), a, b));
      }
    }
  }
  std::stable_sort(routes_.begin(), routes_.end(), [](const Route& a, const Route& b) {
    return a.policy.priority > b.policy.priority;
  });
}

StoreConfig MultiStore::config() const {
  StoreConfig config{"multi", name(), {}};
  config.options["routes"] = std::to_string(routes_.size());
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const std::string prefix = route_prefix(i);
    const StoreConfig child = routes_[i].store->config();
    config.options[prefix + "type"] = child.type;
    config.options[prefix + "name"] = child.name;
    for (const auto& [option, value] : child.options)
      config.options[fmt::format("{}option.{}", prefix, option)] = value;
    const RoutingPolicy& policy = routes_[i].policy;
    config.options[prefix + "min_size"] = std::to_string(policy.min_size);
    config.options[prefix + "max_size"] = std::to_string(policy.max_size);
    config.options[prefix + "priority"] = std::to_string(policy.priority);
    write_tags(config, prefix, "subset", policy.subset_tags);
    write_tags(config, prefix, "superset", policy.superset_tags);
  }
  return config;
}

std::shared_ptr<MultiStore> MultiStore::from_config(const StoreConfig& config) {
  ConfigReader reader(config);
  const auto count = reader.take_integer<std::size_t>("routes");
  // Every route takes options: a count beyond them is forged (and must not
  // size an allocation). A missing option is reported by name below.
  if (count == 0 || count > reader.remaining()) {
    throw reader.malformed(
        fmt::format("'routes' is {} for {} other options", count, reader.remaining()));
  }
  std::vector<Route> routes;
  routes.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::string prefix = route_prefix(i);
    StoreConfig child;
    child.type = reader.take(prefix + "type");
    child.name = reader.take(prefix + "name");
    child.options = reader.take_prefixed(prefix + "option.");
    RoutingPolicy policy;
    policy.min_size = reader.take_integer<std::size_t>(prefix + "min_size");
    policy.max_size = reader.take_integer<std::size_t>(prefix + "max_size");
    policy.priority = reader.take_integer<int>(prefix + "priority");
    policy.subset_tags = reader.take_tags(prefix, "subset");
    policy.superset_tags = reader.take_tags(prefix, "superset");
    if (child.name == config.name) {
      // Rebuilding it would find the MultiStore being built: a loop.
      throw reader.malformed(fmt::format("route {} names the multi store itself", i));
    }
    routes.push_back(Route{nullptr, std::move(policy)});
    routes.back().store = get_or_create_store(child);
  }
  reader.expect_nothing_left();
  return std::make_shared<MultiStore>(config.name, std::move(routes));
}

// --- routing ---------------------------------------------------------------------

std::size_t MultiStore::route_index(std::size_t size, const std::vector<std::string>& tags) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].policy.accepts(size, tags))
      return i;
  }
  throw StoreOperationError(
      fmt::format("multi store '{}': no route accepts an object of {} bytes with {} (children: {})",
                  name(), size, describe_tags(tags), child_names("")));
}

std::string MultiStore::child_names(std::string_view suffix) const {
  std::string names;
  for (const Route& route : routes_)
    names += fmt::format("{}'{}{}'", names.empty() ? "" : ", ", route.store->name(), suffix);
  return names;
}

const std::shared_ptr<Store>& MultiStore::route_for(std::size_t size,
                                                    const std::vector<std::string>& tags) const {
  return routes_[route_index(size, tags)].store;
}

Key MultiStore::join(std::size_t index, const Key& child_key) const {
  return Key{routes_[index].store->name() + "/" + child_key.id};
}

std::pair<std::size_t, Key> MultiStore::split(const Key& key) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    const std::string& child = routes_[i].store->name();
    if (key.id.size() > child.size() && key.id[child.size()] == '/' &&
        key.id.compare(0, child.size(), child) == 0) {
      return {i, Key{key.id.substr(child.size() + 1)}};
    }
  }
  throw StoreOperationError(
      fmt::format("multi store '{}': key '{}' names none of its child stores (keys start with {})",
                  name(), printable(key.id), child_names("/")));
}

std::pair<std::shared_ptr<Store>, Key> MultiStore::locate(const Key& key) const {
  auto [index, child_key] = split(key);
  return {routes_[index].store, std::move(child_key)};
}

// --- backend hooks: each forwards to the child holding the key -----------------------

Key MultiStore::do_new_key() {
  static const std::vector<std::string> no_tags;
  return do_new_key_for(PutInfo{0, no_tags});
}

Key MultiStore::do_new_key_for(const PutInfo& info) {
  const std::size_t index = route_index(info.size, info.tags);
  return join(index, StoreAccess::new_key_for(*routes_[index].store, info));
}

std::vector<Key> MultiStore::do_new_keys_for(const std::vector<PutInfo>& infos) {
  // Group the batch by route, so each child mints its share in one call.
  std::vector<std::vector<std::size_t>> positions(routes_.size());
  for (std::size_t k = 0; k < infos.size(); ++k)
    positions[route_index(infos[k].size, infos[k].tags)].push_back(k);
  std::vector<Key> keys(infos.size());
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (positions[i].empty())
      continue;
    std::vector<PutInfo> share;
    share.reserve(positions[i].size());
    for (std::size_t k : positions[i])
      share.push_back(infos[k]);
    std::vector<Key> minted = StoreAccess::new_keys_for(*routes_[i].store, share);
    if (minted.size() != share.size()) {
      throw StoreOperationError(fmt::format("multi store '{}': child '{}' minted {} keys for {}",
                                            name(), routes_[i].store->name(), minted.size(),
                                            share.size()));
    }
    for (std::size_t j = 0; j < minted.size(); ++j)
      keys[positions[i][j]] = join(i, minted[j]);
  }
  return keys;
}

void MultiStore::do_put(const Key& key, std::string_view bytes) {
  auto [child, child_key] = locate(key);
  StoreAccess::put(*child, child_key, bytes);
}

std::optional<Bytes> MultiStore::do_get(const Key& key) {
  auto [child, child_key] = locate(key);
  return StoreAccess::get(*child, child_key);
}

void MultiStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  auto [child, child_key] = locate(key);
  StoreAccess::put_parts(*child, child_key, head, body);
}

bool MultiStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  auto [child, child_key] = locate(key);
  return StoreAccess::read(*child, child_key, consume);
}

bool MultiStore::do_exists(const Key& key) {
  auto [child, child_key] = locate(key);
  return child->exists(child_key);
}

void MultiStore::do_evict(const Key& key) {
  auto [child, child_key] = locate(key);
  child->evict(child_key);  // public: drops it from the child's cache too
}

std::vector<std::vector<std::pair<Key, std::string_view>>> MultiStore::shares_of(
    const std::vector<std::pair<Key, std::string_view>>& items) const {
  std::vector<std::vector<std::pair<Key, std::string_view>>> shares(routes_.size());
  for (const auto& [key, bytes] : items) {
    auto [index, child_key] = split(key);
    shares[index].emplace_back(std::move(child_key), bytes);
  }
  return shares;
}

void MultiStore::do_put_batch(const std::vector<std::pair<Key, std::string_view>>& items) {
  const auto shares = shares_of(items);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!shares[i].empty())
      StoreAccess::put_batch(*routes_[i].store, shares[i]);
  }
}

void MultiStore::do_put_batch_with_ttl(const std::vector<std::pair<Key, std::string_view>>& items,
                                       std::chrono::milliseconds ttl) {
  const auto shares = shares_of(items);
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!shares[i].empty())
      StoreAccess::put_batch_with_ttl(*routes_[i].store, shares[i], ttl);
  }
}

void MultiStore::do_put_with_ttl(const Key& key, std::string_view bytes,
                                 std::chrono::milliseconds ttl) {
  auto [child, child_key] = locate(key);
  StoreAccess::put_with_ttl(*child, child_key, bytes, ttl);
}

void MultiStore::do_put_parts_with_ttl(const Key& key, std::string_view head, std::string_view body,
                                       std::chrono::milliseconds ttl) {
  auto [child, child_key] = locate(key);
  StoreAccess::put_parts_with_ttl(*child, child_key, head, body, ttl);
}

void MultiStore::do_put_result_with_ttl(const Key& key, std::string_view bytes,
                                        std::chrono::milliseconds ttl) {
  auto [child, child_key] = locate(key);
  StoreAccess::put_result_with_ttl(*child, child_key, bytes, ttl);
}

std::vector<std::optional<Bytes>> MultiStore::do_get_batch(const std::vector<Key>& keys) {
  std::vector<std::vector<Key>> shares(routes_.size());
  std::vector<std::vector<std::size_t>> positions(routes_.size());
  for (std::size_t k = 0; k < keys.size(); ++k) {
    auto [index, child_key] = split(keys[k]);
    shares[index].push_back(std::move(child_key));
    positions[index].push_back(k);
  }
  std::vector<std::optional<Bytes>> values(keys.size());
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (shares[i].empty())
      continue;
    std::vector<std::optional<Bytes>> fetched =
        StoreAccess::get_batch(*routes_[i].store, shares[i]);
    if (fetched.size() != shares[i].size()) {
      throw StoreOperationError(
          fmt::format("multi store '{}': child '{}' returned {} values for a batch of {} keys",
                      name(), routes_[i].store->name(), fetched.size(), shares[i].size()));
    }
    for (std::size_t j = 0; j < fetched.size(); ++j)
      values[positions[i][j]] = std::move(fetched[j]);
  }
  return values;
}

bool MultiStore::do_expire(const Key& key, std::chrono::milliseconds ttl) {
  auto [child, child_key] = locate(key);
  return StoreAccess::expire(*child, child_key, ttl);
}

std::optional<Bytes> MultiStore::do_wait_get(const Key& key, std::chrono::milliseconds timeout) {
  auto [child, child_key] = locate(key);
  return StoreAccess::wait_get(*child, child_key, timeout);
}

void MultiStore::do_put_result(const Key& key, std::string_view bytes) {
  auto [child, child_key] = locate(key);
  StoreAccess::put_result(*child, child_key, bytes);
}

}  // namespace proxystore
