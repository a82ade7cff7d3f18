// SPDX-License-Identifier: Apache-2.0
/// \file
/// Umbrella header: everything a user of proxystore needs.
#pragma once

#include <proxystore/bytes.hpp>
#include <proxystore/config.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/executor.hpp>
#include <proxystore/factory.hpp>
#include <proxystore/future.hpp>
#include <proxystore/key.hpp>
#include <proxystore/lifetimes.hpp>
#include <proxystore/locker.hpp>
#include <proxystore/metrics.hpp>
#include <proxystore/ownership.hpp>
#include <proxystore/proxy.hpp>
#include <proxystore/registry.hpp>
#include <proxystore/security.hpp>
#include <proxystore/serialize.hpp>
#include <proxystore/store.hpp>
#include <proxystore/store_factory.hpp>
#include <proxystore/stores/file.hpp>
#include <proxystore/stores/local.hpp>
#include <proxystore/stores/multi.hpp>
#include <proxystore/stores/redis.hpp>
#include <proxystore/stores/redis_cluster.hpp>
#include <proxystore/stream.hpp>
#include <proxystore/type_name.hpp>
#include <proxystore/version.hpp>

// Smart pointers as stored objects (std::shared_ptr, std::unique_ptr):
// cereal's support for them is heavy to compile, so serialize.hpp (and
// consumer.hpp) leave it out; the umbrella header keeps it.
#include <cereal/types/memory.hpp>
