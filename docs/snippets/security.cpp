// SPDX-License-Identifier: Apache-2.0
// Snippets for docs/cross-process.md (trusting proxies from other processes).
#include <proxystore/proxystore.hpp>
#include <proxystore/security.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "check.hpp"

namespace ps = proxystore;
namespace fs = std::filesystem;

void signing() {
  auto store = std::make_shared<ps::LocalStore>("security-doc");
  //! [signing]
  // Producer and consumer hold the same key (or both set PROXYSTORE_SIGNING_KEY).
  ps::set_signing_key("a shared secret that never travels");

  const std::string wire = ps::serialize(store->proxy(std::string("signed")));  // + HMAC-SHA256
  CHECK(ps::deserialize<ps::Proxy<std::string>>(wire) == "signed");

  std::string tampered = wire;
  tampered.back() ^= 0x01;  // one flipped bit anywhere in the factory
  try {
    (void)ps::deserialize<ps::Proxy<std::string>>(tampered);
    CHECK(false);
  } catch (const ps::SignatureError&) {  // checked before the payload is decoded
  }
  ps::clear_signing_key();
  //! [signing]
}

void policy() {
  const fs::path base = fs::temp_directory_path() / ("security-" + ps::random_key().id);
  //! [policy]
  // Which stores this process may rebuild from a proxy's config. The default
  // allows the built-in types, loopback hosts plus PROXYSTORE_ALLOWED_HOSTS,
  // and directories under PROXYSTORE_ALLOWED_DIRS (any, when unset).
  ps::StorePolicy policy = ps::StorePolicy::from_environment();
  policy.allowed_dirs = {(base / "shared").string()};
  ps::set_store_policy(policy);

  auto elsewhere = std::make_shared<ps::FileStore>("elsewhere", base / "private");
  const std::string wire = ps::serialize(elsewhere->proxy(std::string("x")));
  ps::unregister_store("elsewhere");  // as in a process that never created it

  try {
    ps::resolve(ps::deserialize<ps::Proxy<std::string>>(wire));
    CHECK(false);
  } catch (const ps::ForbiddenStoreError&) {  // refused before any file is opened
  }
  //! [policy]
  ps::set_store_policy(ps::StorePolicy::from_environment());
  fs::remove_all(base);
}

int main() {
  return run_snippet("security", [] {
    signing();
    policy();
  });
}
