// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/errors.md: each exception, provoked on purpose.
#include <proxystore/proxystore.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "check.hpp"

namespace ps = proxystore;

// Runs `provoke` and checks it throws exactly an `E`; prints the message.
template <class E, class F>
void expect(const char* name, F provoke) {
  try {
    provoke();
  } catch (const E& e) {
    std::printf("%-28s %s\n", name, e.what());
    return;
  }
  CHECK(!"the expected exception was not thrown");
}

int main() {
  return run_snippet("errors", [] {
    auto store = std::make_shared<ps::LocalStore>("errors-doc");

    //! [missing_key]
    ps::ProxyOptions once;
    once.evict = true;
    const std::string wire = ps::serialize(store->proxy(std::string("one-shot"), once));
    CHECK(ps::deserialize<ps::Proxy<std::string>>(wire) == "one-shot");  // resolves, evicts

    expect<ps::ProxyResolveMissingKeyError>("ProxyResolveMissingKeyError", [&] {
      ps::resolve(ps::deserialize<ps::Proxy<std::string>>(wire));  // a second consumer
    });
    //! [missing_key]

    //! [store_exists]
    ps::register_store(std::make_shared<ps::LocalStore>("results"));
    expect<ps::StoreExistsError>("StoreExistsError", [] {
      ps::register_store(std::make_shared<ps::LocalStore>("results"));
    });
    ps::register_store(std::make_shared<ps::LocalStore>("results"), /*exist_ok=*/true);
    //! [store_exists]

    //! [store_not_found]
    expect<ps::StoreNotFoundError>("StoreNotFoundError", [] {
      ps::get_or_create_store(ps::StoreConfig{"no-such-type", "elsewhere", {}});
    });
    //! [store_not_found]

    //! [serialization]
    expect<ps::SerializationError>("SerializationError", [] {
      (void)ps::deserialize<std::vector<int>>(ps::serialize(std::string("not a vector")));
    });
    //! [serialization]

    //! [not_serializable]
    expect<ps::NotSerializableError>("NotSerializableError", [] {
      ps::Proxy<int> local{ps::LambdaFactory<int>([] { return 1; })};
      (void)ps::serialize(local);
    });
    //! [not_serializable]

    //! [connection]
    ps::RedisOptions options;
    options.connect_timeout = std::chrono::milliseconds(500);
    auto nowhere = std::make_shared<ps::RedisStore>("errors-redis", "127.0.0.1", 1, options);
    expect<ps::ConnectionError>("ConnectionError", [&] {  // TimeoutError derives from it
      nowhere->set(std::string("x"));                     // the first operation connects
    });
    //! [connection]

    //! [operation]
    const auto file = std::filesystem::temp_directory_path() / ("errors-" + ps::random_key().id);
    std::ofstream(file) << "a file, not a directory";
    expect<ps::StoreOperationError>(
        "StoreOperationError", [&] { ps::FileStore impossible("errors-file", file / "objects"); });
    std::filesystem::remove(file);
    //! [operation]

    //! [base]
    try {
      ps::Proxy<std::string> empty;
      (void)empty->size();
    } catch (const ps::Error& e) {  // every proxystore exception derives from ps::Error
      std::printf("%-28s %s\n", "Error", e.what());
    }
    //! [base]
  });
}
