// SPDX-License-Identifier: Apache-2.0
/// \file
/// The process-wide registries: stores by name, store builders by type.
#pragma once

#include <proxystore/config.hpp>
#include <proxystore/fwd.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace proxystore {

/// Builds a store from its config: returns a store named `config.name`,
/// without registering it.
using StoreBuilder = std::function<std::shared_ptr<Store>(const StoreConfig&)>;

/// Registers `store` under its name.
/// @throws StoreExistsError if the name is taken and `exist_ok` is false;
///         with `exist_ok` the new store replaces the old one.
/// @throws Error if `store` is null.
void register_store(std::shared_ptr<Store> store, bool exist_ok = false);

/// The store registered under `name`, or null.
std::shared_ptr<Store> get_store(std::string_view name);

/// Removes `name` from the registry (a no-op if absent).
void unregister_store(std::string_view name);

/// Sets how stores of `type` are rebuilt from a StoreConfig in a process
/// that has no store of that name. "local", "file" and "redis" are
/// registered already; registering a type again replaces its builder.
void register_store_type(std::string type, StoreBuilder builder);

/// The store registered under `config.name`, or else one built from
/// `config` by its type's builder and registered — atomically: concurrent
/// callers never build two. Stores rebuilt this way are bounded by
/// StorePolicy::max_rebuilt_stores (security.hpp): beyond it the least
/// recently used rebuilt store is unregistered; stores registered by this
/// process are never evicted.
/// @throws StoreNotFoundError if no builder is registered for `config.type`.
/// @throws whatever the builder throws (e.g. Error for a bad option).
std::shared_ptr<Store> get_or_create_store(const StoreConfig& config);

namespace detail {
/// How many stores rebuilt by get_or_create_store() are registered now
/// (for tests and diagnostics).
std::size_t rebuilt_store_count();
}  // namespace detail

}  // namespace proxystore
