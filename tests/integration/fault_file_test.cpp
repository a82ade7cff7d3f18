// SPDX-License-Identifier: Apache-2.0
// FileStore under filesystem faults: the directory vanishes, turns
// read-only, or fills up. The promise: a clear StoreOperationError, objects
// already stored stay readable, and a reader never sees a half-written
// object (no file appears for a failed write; no temporary file is left).
//
// Read-only and disk-full need a private mount (tmpfs), which needs root
// and a kernel that allows it. Where neither mount nor `chattr +i` works
// the case WARNs "not run" and passes (Catch2 v2 has no SKIP); the
// vanished-directory case needs nothing and always runs.
#include "support/temp_dir.hpp"

#include <proxystore/proxystore.hpp>

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace {

using namespace proxystore;
using proxystore::test::TempDir;
using proxystore::test::unique_name;
namespace fs = std::filesystem;

/// A FileStore with predictable keys ("obj-0", "obj-1", ...), so a test can
/// look for the file of a write that failed.
class KeyedFileStore : public FileStore {
 public:
  using FileStore::FileStore;
  [[nodiscard]] Key last_key() const { return Key{"obj-" + std::to_string(next_ - 1)}; }

 protected:
  Key do_new_key() override { return Key{"obj-" + std::to_string(next_++)}; }

 private:
  std::atomic<int> next_{0};
};

/// Names of the entries in `dir`.
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    names.push_back(entry.path().filename().string());
  return names;
}

bool has_temporary_file(const fs::path& dir) {
  for (const auto& name : entries(dir)) {
    if (name.rfind(".tmp-", 0) == 0)
      return true;
  }
  return false;
}

/// A tmpfs mounted on `dir` for the scope (unmounted on destruction).
class TmpfsMount {
 public:
  TmpfsMount(const fs::path& dir, const std::string& options) : dir_(dir) {
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0) {
      mounted_ = true;
    } else {
      error_ = std::strerror(errno);
    }
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  ~TmpfsMount() {
    if (mounted_)
      ::umount2(dir_.c_str(), MNT_DETACH);
  }
  [[nodiscard]] bool mounted() const noexcept { return mounted_; }
  [[nodiscard]] const std::string& error() const noexcept { return error_; }
  /// Remounts read-only (true) or read-write (false).
  bool set_read_only(bool read_only) const {
    const unsigned long flags =
        MS_REMOUNT | (read_only ? static_cast<unsigned long>(MS_RDONLY) : 0UL);
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", flags, nullptr) == 0;
  }

 private:
  fs::path dir_;
  bool mounted_ = false;
  std::string error_;
};

bool run_command(const std::string& command) {
  return std::system((command + " >/dev/null 2>&1").c_str()) == 0;  // NOLINT(cert-env33-c)
}

/// The write must fail with a StoreOperationError naming the store, and
/// leave no file for its key and no temporary file behind.
void expect_clean_write_failure(KeyedFileStore& store, const std::string& value,
                                const char* reason) {
  std::string message;
  try {
    store.set(value);
    FAIL("the write succeeded");
  } catch (const StoreOperationError& e) {
    message = e.what();
  }
  INFO(message);
  CHECK_THAT(message, Catch::Contains(store.name()) && Catch::Contains(reason));
  const Key failed = store.last_key();
  CHECK_FALSE(fs::exists(store.directory() / failed.id));
  CHECK_FALSE(store.exists(failed));
  CHECK_FALSE(store.get<std::string>(failed).has_value());
  CHECK_FALSE(has_temporary_file(store.directory()));
}

}  // namespace

TEST_CASE("fault: a FileStore whose directory vanishes fails clearly and recovers",
          "[fault][file]") {
  TempDir root("proxystore-fault-vanish");
  auto store = std::make_shared<KeyedFileStore>(unique_name("fault-vanish"), root / "objects");
  const Key before = store->set(std::string("before"));
  const auto proxy = store->proxy(std::string("proxied"));
  fs::remove_all(root / "objects");

  std::string message;
  try {
    store->set(std::string("while gone"));
    FAIL("a write into a vanished directory succeeded");
  } catch (const StoreOperationError& e) {
    message = e.what();
  }
  CHECK_THAT(message, Catch::Contains(store->name()) && Catch::Contains("missing") &&
                          Catch::Contains((root / "objects").string()));
  // Reads fail clearly too: a vanished directory is not "never stored".
  message.clear();
  try {
    static_cast<void>(store->get<std::string>(before));
    FAIL("a read from a vanished directory did not throw");
  } catch (const StoreOperationError& e) {
    message = e.what();
  }
  CHECK_THAT(message,
             Catch::Contains(store->name()) && Catch::Contains((root / "objects").string()));
  CHECK_THROWS_AS(resolve(deserialize<Proxy<std::string>>(serialize(proxy))), StoreOperationError);

  // Back again: the same store works.
  fs::create_directories(root / "objects");
  const Key after = store->set(std::string("after"));
  CHECK(store->get<std::string>(after) == "after");
  unregister_store(store->name());
}

TEST_CASE("fault: a FileStore whose directory turns read-only fails clearly and recovers",
          "[fault][file]") {
  TempDir root("proxystore-fault-ro");
  const fs::path dir = root / "objects";
  fs::create_directories(dir);

  // As root, chmod does not stop writes: use a read-only mount, else the
  // immutable attribute.
  TmpfsMount mount(dir, "size=4m,mode=0755");
  bool read_only = false;
  std::string method;
  std::string reason;
  if (mount.mounted()) {
    method = "read-only tmpfs remount";
    reason = "Read-only file system";
  } else if (run_command("chattr -i '" + dir.string() + "'")) {
    method = "chattr +i";
    reason = "Operation not permitted";
  }
  if (method.empty()) {
    WARN("not run: neither mount(tmpfs) (" << mount.error() << ") nor chattr works here");
    return;
  }
  auto store = std::make_shared<KeyedFileStore>(unique_name("fault-ro"), dir);
  const Key before = store->set(std::string("before"));

  if (mount.mounted()) {
    read_only = mount.set_read_only(true);
  } else {
    read_only = run_command("chattr +i '" + dir.string() + "'");
  }
  if (!read_only) {
    WARN("not run: could not make " << dir << " read-only with " << method);
    return;
  }
  INFO("read-only by " << method);
  expect_clean_write_failure(*store, "while read-only", reason.c_str());
  CHECK(store->get<std::string>(before) == "before");  // reads still work

  if (mount.mounted()) {
    REQUIRE(mount.set_read_only(false));
  } else {
    REQUIRE(run_command("chattr -i '" + dir.string() + "'"));
  }
  const Key after = store->set(std::string("after"));
  CHECK(store->get<std::string>(after) == "after");
  store.reset();
}

TEST_CASE("fault: a full disk fails a FileStore write cleanly, never half-written",
          "[fault][file]") {
  TempDir root("proxystore-fault-full");
  const fs::path dir = root / "small";
  fs::create_directories(dir);
  TmpfsMount mount(dir, "size=1m,mode=0755");
  if (!mount.mounted()) {
    WARN("not run: cannot mount a 1 MB tmpfs (" << mount.error()
                                                << "); the disk-full case needs root and mount");
    return;
  }
  auto store = std::make_shared<KeyedFileStore>(unique_name("fault-full"), dir);

  // Fill the disk with 100 KB objects until a write is refused.
  std::vector<std::pair<Key, std::string>> stored;
  std::string message;
  for (int i = 0; i < 40 && message.empty(); ++i) {
    const std::string value(100 * 1024, static_cast<char>('a' + i % 26));
    try {
      stored.emplace_back(store->set(value), value);
    } catch (const StoreOperationError& e) {
      message = e.what();
    }
  }
  REQUIRE_FALSE(message.empty());
  CHECK_THAT(message, Catch::Contains(store->name()) && Catch::Contains("No space left"));
  const Key failed = store->last_key();
  CHECK_FALSE(fs::exists(dir / failed.id));
  CHECK_FALSE(has_temporary_file(dir));
  CHECK(entries(dir).size() == stored.size());

  // Further writes — small or larger than the whole disk — fail the same way.
  expect_clean_write_failure(*store, std::string(100 * 1024, 'x'), "No space left");
  expect_clean_write_failure(*store, std::string(2 * 1024 * 1024, 'y'), "No space left");

  // What was stored before is intact; evicting makes room again.
  for (const auto& [key, value] : stored)
    CHECK(store->get<std::string>(key) == value);
  for (std::size_t i = 0; i < 3 && i < stored.size(); ++i)
    store->evict(stored[i].first);
  const std::string value(100 * 1024, 'z');
  CHECK(store->get<std::string>(store->set(value)) == value);
  store.reset();
}
