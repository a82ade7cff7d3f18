// SPDX-License-Identifier: Apache-2.0
/// \file
/// Forward declarations of the public types.
#pragma once

/// Everything a program uses: proxies (Proxy, the free functions on them),
/// factories, stores and their builders, the registries, serialization and
/// the errors. One header brings it all: `#include <proxystore/proxystore.hpp>`.
/// Names in `proxystore::detail` are internals: do not depend on them.
namespace proxystore {

struct Key;
struct StoreConfig;
struct StoreOptions;
struct ProxyOptions;
struct StoreMetrics;
class Bytes;
class Store;
class LocalStore;
class FileStore;
class RedisStore;
class MultiStore;
struct RoutingPolicy;
struct SetOptions;
struct PutInfo;
struct RedisOptions;

template <class T>
class Proxy;
template <class T>
class Factory;
template <class T>
class SimpleFactory;
template <class T>
class LambdaFactory;
template <class T>
class StoreFactory;
template <class T>
class FutureFactory;
template <class T>
class Future;
struct FutureOptions;
template <class T>
class OwnedProxy;
template <class T>
class RefProxy;
template <class T>
class RefMutProxy;
template <class T>
class ProxyLocker;
class Lifetime;

}  // namespace proxystore
