// SPDX-License-Identifier: Apache-2.0
// TempDir: a fresh directory under the system temp dir, removed on destruction.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace proxystore::test {

/// Creates a unique, empty directory (mkdtemp) and removes it, with all its
/// contents, when destroyed. Not copyable; movable.
class TempDir {
 public:
  /// @throws std::system_error if the directory cannot be created.
  explicit TempDir(std::string_view prefix = "proxystore-test");
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept;
  TempDir& operator=(TempDir&& other) noexcept;
  ~TempDir();

  /// The directory (absolute).
  const std::filesystem::path& path() const noexcept { return path_; }

  /// `path() / name`.
  std::filesystem::path operator/(const std::filesystem::path& name) const { return path_ / name; }

  /// Writes `bytes` to `path() / name` (replacing it) and returns the path.
  std::filesystem::path write_file(const std::filesystem::path& name, std::string_view bytes) const;

  /// The contents of `path() / name`.
  /// @throws std::system_error if it cannot be read.
  std::string read_file(const std::filesystem::path& name) const;

 private:
  void remove() noexcept;

  std::filesystem::path path_;
};

/// A name no other test in this process uses, e.g. "prefix-7" (for stores:
/// the registry is process-wide).
std::string unique_name(std::string_view prefix);

}  // namespace proxystore::test
