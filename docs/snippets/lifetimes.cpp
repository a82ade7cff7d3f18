// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/lifetimes.md: lifetimes, ownership, futures, lockers.
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

void context_lifetime() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-context");
  //! [context]
  ps::Key key;
  {
    auto scope = std::make_shared<ps::ContextLifetime>();
    ps::ProxyOptions options;
    options.lifetime = scope;
    ps::Proxy<std::string> p = store->proxy(std::string("temporary"), options);
    key = ps::get_factory(p).target<ps::StoreFactory<std::string>>()->key();
    CHECK(store->exists(key));
  }  // the scope ends (also when an exception unwinds it): its objects are evicted
  CHECK(!store->exists(key));
  //! [context]
}

void lease_lifetime() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-lease");
  //! [lease]
  auto lease = std::make_shared<ps::LeaseLifetime>(store, std::chrono::milliseconds(200));
  ps::ProxyOptions options;
  options.lifetime = lease;
  ps::Proxy<int> p = store->proxy(42, options);
  lease->extend(std::chrono::seconds(10));  // still needed: push the deadline back
  CHECK(*p == 42);
  lease->close();  // done early: evict now (the destructor would, too)
  CHECK(lease->done());
  //! [lease]
}

void static_lifetime() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-static");
  //! [static]
  ps::ProxyOptions options;
  options.lifetime = ps::StaticLifetime::instance();  // evicted at normal process exit
  ps::Proxy<std::string> config = store->proxy(std::string("shared for the whole run"), options);
  //! [static]
  CHECK(config == "shared for the whole run");
}

void ownership() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-owned");
  //! [owned]
  ps::OwnedProxy<std::vector<int>> owned = store->owned_proxy(std::vector<int>{1, 2, 3});
  {
    ps::RefProxy<std::vector<int>> a = ps::borrow(owned);  // many shared borrows ...
    ps::RefProxy<std::vector<int>> b = a;
    CHECK(a->size() == 3 && b->size() == 3);
    try {
      ps::mut_borrow(owned);  // ... or one mutable borrow, never both
      CHECK(!"unreachable");
    } catch (const ps::BorrowError& e) {
      std::printf("%s\n", e.what());  // names the store, the key and the live borrows
    }
  }
  {
    ps::RefMutProxy<std::vector<int>> m = ps::mut_borrow(owned);
    m->push_back(4);  // seen by the owner (never written back to the store)
  }
  CHECK(owned->size() == 4);
  ps::OwnedProxy<std::vector<int>> copy = ps::clone(owned);  // a new object and key
  const ps::Key key = owned.key();
  owned.reset();  // or destruction: the object is evicted
  CHECK(!store->exists(key) && copy->size() == 4);
  //! [owned]
}

void future() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-future");
  //! [future]
  ps::FutureOptions options;
  options.timeout = std::chrono::seconds(30);  // then FutureTimeoutError
  ps::Future<std::string> future = store->future<std::string>(options);
  const std::string wire = ps::serialize(future.proxy());  // send it now

  std::thread consumer([&] {
    auto p = ps::deserialize<ps::Proxy<std::string>>(wire);
    CHECK(p == "computed later");  // waits for set_result
  });
  future.set_result("computed later");
  consumer.join();
  //! [future]
}

void locker() {
  auto store = std::make_shared<ps::LocalStore>("lifetimes-doc-locker");
  //! [locker]
  ps::ProxyLocker<std::string> locked = ps::lock(store->proxy(std::string("payload")));
  // `locked` has no ->, *, conversion or comparison: passing it on cannot
  // resolve it by accident. It serializes exactly like the proxy inside.
  const ps::Proxy<std::string>& p = locked.unlock();
  CHECK(p == "payload");
  //! [locker]
}

int main() {
  return run_snippet("lifetimes", [] {
    context_lifetime();
    lease_lifetime();
    static_lifetime();
    ownership();
    future();
    locker();
  });
}
