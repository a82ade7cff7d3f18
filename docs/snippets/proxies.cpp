// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/proxies.md.
#include <proxystore/proxystore.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <complex>

#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

void access_forms() {
  //! [access]
  auto store = std::make_shared<ps::LocalStore>("proxies-doc");
  ps::Proxy<std::vector<int>> p = store->proxy(std::vector<int>{3, 1, 4, 1, 5});

  CHECK(p->size() == 5);               // operator-> resolves on first use
  CHECK((*p).front() == 3);            // operator*
  CHECK(p[2] == 4);                    // operator[], because std::vector has one
  const std::vector<int>& digits = p;  // implicit conversion to const T&
  int sum = 0;
  for (int d : p)  // range-for, because std::vector is a range
    sum += d;
  CHECK(sum == 14 && digits.back() == 5);
  CHECK(p == std::vector<int>({3, 1, 4, 1, 5}));  // comparisons forward to T
  //! [access]
}

void free_functions() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-free");
  //! [free]
  ps::Proxy<std::string> p = store->proxy(std::string("lazy"));
  CHECK(!ps::is_resolved(p));  // nothing fetched yet
  ps::resolve(p);              // fetch now (a no-op once resolved)
  CHECK(ps::is_resolved(p));
  std::string& text = ps::extract(p);  // T& (const T& for a const proxy)
  CHECK(text == "lazy");

  // The factory says where the target comes from.
  const auto* from_store = ps::get_factory(p).target<ps::StoreFactory<std::string>>();
  CHECK(from_store != nullptr && from_store->config().name == "proxies-doc-free");

  // Prefetch in the background; an access meanwhile waits for it.
  ps::Proxy<std::string> q = store->proxy(std::string("prefetched"));
  ps::resolve_async(q);
  CHECK(q == "prefetched");
  //! [free]
}

void copies_share() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-copies");
  //! [copies]
  ps::Proxy<std::vector<int>> a = store->proxy(std::vector<int>{1, 2, 3});
  ps::Proxy<std::vector<int>> b = a;  // a reference-count bump, no fetch

  b->push_back(4);                              // resolves once, for a and b alike
  CHECK(ps::is_resolved(a) && a->size() == 4);  // a sees b's change...

  // ...but it is never written back: a proxy deserialized elsewhere (or
  // here) fetches the stored object again.
  auto c = ps::deserialize<ps::Proxy<std::vector<int>>>(ps::serialize(a));
  CHECK(c->size() == 3);
  //! [copies]
}

void strings_and_formatting() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-strings");
  //! [strings]
  ps::Proxy<std::string> name = store->proxy(std::string("ada"));
  CHECK(name == "ada" && "ada" == name);             // p == u and u == p
  CHECK(fmt::format("<{:>5}>", name) == "<  ada>");  // fmt formats the target
  std::ostringstream out;
  out << name;  // so does operator<<
  CHECK(out.str() == "ada");
  std::unordered_set<ps::Proxy<std::string>> set{name};  // std::hash forwards too
  CHECK(std::hash<ps::Proxy<std::string>>{}(name) == std::hash<std::string>{}("ada"));
  //! [strings]
}

void failure_and_retry() {
  //! [retry]
  int calls = 0;
  ps::Proxy<int> flaky{ps::LambdaFactory<int>([&calls] {
    if (++calls == 1)
      throw ps::ConnectionError("store 'x' at 127.0.0.1:6379: GET failed: connection reset");
    return 42;
  })};

  try {
    (void)*flaky;  // the first access fails: the factory's exception reaches the caller
  } catch (const ps::ConnectionError&) {
  }
  CHECK(!ps::is_resolved(flaky));
  CHECK(*flaky == 42);  // the next access tries again
  CHECK(calls == 2);
  //! [retry]
}

void move_only_and_empty() {
  //! [move_only]
  // Move-only (or non-default-constructible) targets work with a LambdaFactory.
  ps::Proxy<std::unique_ptr<int>> owner{
      ps::LambdaFactory<std::unique_ptr<int>>([] { return std::make_unique<int>(7); })};
  CHECK(**owner == 7);

  ps::Proxy<std::string> empty;  // default-constructed: no factory
  try {
    (void)empty->size();
    CHECK(false);
  } catch (const ps::Error&) {  // "empty Proxy<string>: it has no factory ..."
  }
  //! [move_only]
}

void populate_target() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-populate");
  //! [populate]
  ps::ProxyOptions options;
  options.populate_target = true;  // the producer keeps its object: no fetch back
  ps::Proxy<std::string> p = store->proxy(std::string("already here"), options);
  CHECK(ps::is_resolved(p));

  // Serialized copies still carry only the factory.
  auto remote = ps::deserialize<ps::Proxy<std::string>>(ps::serialize(p));
  CHECK(!ps::is_resolved(remote));
  //! [populate]
}

//! [in_struct]
// A struct holding proxies serializes small: each proxy writes its factory.
struct Job {
  std::string name;
  ps::Proxy<std::vector<double>> input;

  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, input);
  }
};
PROXYSTORE_TYPE_NAME(Job, "example.job");
//! [in_struct]

void proxies_in_structs() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-struct");
  //! [in_struct_use]
  Job job{"smooth", store->proxy(std::vector<double>(100'000, 1.0))};
  const std::string wire = ps::serialize(job);
  CHECK(wire.size() < 200);  // not 800 kB

  Job received = ps::deserialize<Job>(wire);  // Proxy is default-constructible
  CHECK(received.input->size() == 100'000);
  //! [in_struct_use]
}

//! [limits_template]
template <class T>
T largest(const std::vector<T>& values) {
  return *std::max_element(values.begin(), values.end());
}
//! [limits_template]

void what_a_proxy_cannot_do() {
  auto store = std::make_shared<ps::LocalStore>("proxies-doc-limits");
  //! [limits]
  ps::Proxy<std::vector<int>> v = store->proxy(std::vector<int>{3, 1, 4});

  // Members need ->: `v.size()` looks for a member of Proxy.
  CHECK(v->size() == 3);

  // Deduction sees a Proxy, not a vector: `largest(v)` does not compile.
  CHECK(largest(*v) == 4);      // pass the target...
  CHECK(largest<int>(v) == 4);  // ...or name T, and the conversion applies

  // No conversion to std::string_view: take it from the string.
  ps::Proxy<std::string> s = store->proxy(std::string("hello"));
  std::string_view view = *s;  // valid while some copy of s lives
  CHECK(view.substr(1, 3) == "ell");

  // Operator templates (std::string, std::complex...) do not deduce either:
  // `s + "!"` and `z * 2.0` do not compile. Dereference first.
  CHECK(*s + "!" == "hello!");
  ps::Proxy<std::complex<double>> z = store->proxy(std::complex<double>(1, 2));
  CHECK(*z * 2.0 == std::complex<double>(2, 4));
  ps::Proxy<int> n = store->proxy(41);
  CHECK(n + 1 == 42);  // built-in arithmetic works through the conversion

  // A change is local: every copy in this process sees it, the store never.
  ps::Proxy<std::vector<int>> copy = v;
  v->push_back(1);
  CHECK(copy->size() == 4);
  auto elsewhere = ps::deserialize<ps::Proxy<std::vector<int>>>(ps::serialize(v));
  CHECK(elsewhere->size() == 3);  // resolved again from the store: {3, 1, 4}
  ps::Proxy<std::vector<int>> updated = store->proxy(ps::extract(v));  // store the change
  CHECK(updated->size() == 4);
  //! [limits]
}

int main() {
  return run_snippet("proxies", [] {
    access_forms();
    free_functions();
    copies_share();
    strings_and_formatting();
    failure_and_retry();
    move_only_and_empty();
    populate_target();
    proxies_in_structs();
    what_a_proxy_cannot_do();
  });
}
