// SPDX-License-Identifier: Apache-2.0
/// \file
/// FileStore: one file per object in a directory (shared or local).
#pragma once

#include <proxystore/store.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace proxystore {

/// Stores each object as one file, `<directory>/<key id>`. Writes are
/// atomic (a temporary file renamed into place), so a reader sees a whole
/// object or none, also across processes sharing the directory. Config:
/// type "file", option "directory" (the directory's real path).
///
/// The directory is opened once and every file is reached beneath that
/// open directory, never by a path resolved again: an object file must be
/// a regular file in it (a symlink is not followed; a FIFO, device or
/// directory under a key's name is an error, not a hang), and its size is
/// checked — against StoreOptions::max_object_size and the machine's
/// memory — before anything is allocated. If the directory is deleted, the
/// store reopens it by its path when it reappears.
class FileStore : public Store {
 public:
  /// Creates `directory` if it is missing (a store rebuilt from a config,
  /// see from_config(), never does).
  /// @throws StoreOperationError if the directory cannot be created or opened.
  FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options = {});

  StoreConfig config() const override;

  /// Rebuilds a store from `config()` output (the registry's builder, so
  /// the config may come from a proxy). Never creates the directory.
  /// @throws Error if a required option is missing.
  /// @throws StoreOperationError (naming the store and the directory) if
  ///         the directory does not exist or cannot be opened.
  static std::shared_ptr<FileStore> from_config(const StoreConfig& config);

  /// The directory holding the objects: its real path (absolute, symlinks
  /// and ".." resolved) when the store was built.
  const std::filesystem::path& directory() const noexcept { return directory_; }

 protected:
  void do_put(const Key& key, std::string_view bytes) override;
  /// Writes head and body with one writev (the body is not copied).
  void do_put_parts(const Key& key, std::string_view head, std::string_view body) override;
  std::optional<Bytes> do_get(const Key& key) override;
  /// Reads the file straight into the caller's memory (Store::get: a
  /// vector's or string's own), with no intermediate buffer.
  bool do_read(const Key& key, const std::function<void(ValueReader&)>& consume) override;
  bool do_exists(const Key& key) override;
  void do_evict(const Key& key) override;

 private:
  /// What the constructor does with a directory that does not exist.
  enum class Missing { create, fail };
  /// The open directory (file_store.cpp).
  class DirectoryHandle;
  /// A ValueReader over an open object file (file_store.cpp).
  class FileReader;

  FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options,
            Missing missing);

  /// The open directory, reopened by its path if it was deleted since.
  /// @throws StoreOperationError naming `key` if the directory is missing.
  std::shared_ptr<const DirectoryHandle> open_directory(const Key& key) const;

  /// The file name of `key`; refuses ids that could leave the directory.
  const std::string& file_name(const Key& key) const;

  /// Writes `head` then `body` as the object file of `key`, atomically.
  void write_object(const Key& key, std::string_view head, std::string_view body);

  /// Opens the object file of `key` for reading (beneath the directory,
  /// regular files only) and sets `size` to its checked size. Returns the
  /// descriptor (the caller closes it), or -1 if there is no object.
  /// @throws StoreOperationError / SerializationError naming store, key and path.
  int open_object(const Key& key, std::uint64_t& size) const;

  std::filesystem::path directory_;
  mutable std::mutex directory_mutex_;
  mutable std::shared_ptr<const DirectoryHandle> directory_handle_;
};

}  // namespace proxystore
