// SPDX-License-Identifier: Apache-2.0
/// \file
/// The minimal consumer header: what a program that receives proxies needs.
///
/// A process that only *receives* proxies — deserializes a `Proxy<T>`
/// another process made, and uses it — needs proxies, factories,
/// serialization, the registries, the store policy and the errors, but
/// none of the concrete stores, streams, the executor or the lock helpers:
/// a store named by a proxy is rebuilt from its config by the builder the
/// library registers for its type ("local", "file", "redis",
/// "redis-cluster", "peer"), which is compiled into the library. This
/// header offers exactly that, and compiles faster and in less memory than
/// `<proxystore/proxystore.hpp>` (docs/performance.md, "Compile cost").
///
/// Includes: proxy.hpp, factory.hpp, store_factory.hpp, future.hpp (a
/// future's proxies), store.hpp (the Store base), serialize.hpp,
/// type_name.hpp, registry.hpp, security.hpp (StorePolicy, signing keys),
/// errors.hpp, key.hpp, config.hpp, bytes.hpp, version.hpp. To create
/// stores, stream, or run tasks, include their headers too (or the
/// umbrella header, which includes everything).
#pragma once

#include <proxystore/bytes.hpp>
#include <proxystore/config.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/factory.hpp>
#include <proxystore/future.hpp>
#include <proxystore/key.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/security.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store.hpp>
#include <proxystore/store_factory.hpp>
#include <proxystore/type_name.hpp>
#include <proxystore/version.hpp>
