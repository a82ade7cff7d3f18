// SPDX-License-Identifier: Apache-2.0
/// \file
/// FileStore: one file per object in a directory (shared or local).
#pragma once

#include <proxystore/store.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace proxystore {

/// Stores each object as one file, `<directory>/<key id>`. Writes are
/// atomic (a temporary file renamed into place), so a reader sees a whole
/// object or none, also across processes sharing the directory. The
/// directory is created if missing. Config: type "file", option
/// "directory" (absolute).
class FileStore : public Store {
 public:
  /// @throws StoreOperationError if the directory cannot be created.
  FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options = {});

  StoreConfig config() const override;

  /// Rebuilds a store from `config()` output (the registry's builder).
  /// @throws Error if a required option is missing.
  static std::shared_ptr<FileStore> from_config(const StoreConfig& config);

  /// The directory holding the objects (absolute, normalised).
  const std::filesystem::path& directory() const noexcept { return directory_; }

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  std::optional<Bytes> do_get(const Key& key) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;

 private:
  /// The file of `key`; refuses ids that could leave the directory.
  std::filesystem::path path_of(const Key& key) const;

  std::filesystem::path directory_;
};

}  // namespace proxystore
