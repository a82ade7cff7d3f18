// SPDX-License-Identifier: Apache-2.0
#include <proxystore/errors.hpp>
#include <proxystore/stores/file.hpp>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

namespace proxystore {
namespace {

/// Closes a file descriptor on scope exit (unless released).
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() {
    if (fd_ >= 0)
      ::close(fd_);
  }
  int get() const noexcept { return fd_; }
  /// Closes now, reporting the error a deferred write may surface here.
  int close() noexcept { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

bool is_safe_file_name(const std::string& id) {
  if (id.empty() || id.size() > 200 || id.front() == '.')
    return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok)
      return false;
  }
  return true;
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

}  // namespace

FileStore::FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options)
    : Store(std::move(name), options) {
  std::error_code error;
  directory_ = std::filesystem::absolute(directory, error).lexically_normal();
  if (!error)
    std::filesystem::create_directories(directory_, error);
  if (error) {
    throw StoreOperationError(fmt::format("file store '{}': cannot create directory '{}': {}",
                                          this->name(), directory.string(), error.message()));
  }
}

StoreConfig FileStore::config() const {
  return StoreConfig{"file", name(), {{"directory", directory_.string()}}};
}

std::shared_ptr<FileStore> FileStore::from_config(const StoreConfig& config) {
  auto it = config.options.find("directory");
  if (it == config.options.end() || it->second.empty()) {
    throw Error(fmt::format("file store '{}': config has no 'directory' option", config.name));
  }
  return std::make_shared<FileStore>(config.name, it->second);
}

std::filesystem::path FileStore::path_of(const Key& key) const {
  if (!is_safe_file_name(key.id)) {
    throw StoreOperationError(fmt::format(
        "file store '{}': key '{}' is not a valid file name (letters, digits, '-', '_', '.')",
        name(), key.id));
  }
  return directory_ / key.id;
}

void FileStore::do_put(const Key& key, std::string_view bytes) {
  const std::filesystem::path target = path_of(key);
  // Write a private temporary file, then rename it over the target: rename
  // is atomic within a directory, so readers see the old object or the new
  // one, never a partial write.
  const std::filesystem::path temporary =
      directory_ / fmt::format(".tmp-{}-{}", key.id, random_key().id);
  auto fail = [&](const char* step, int error) {
    ::unlink(temporary.c_str());
    throw StoreOperationError(fmt::format("file store '{}' key '{}': {} '{}' failed: {}", name(),
                                          key.id, step, temporary.string(), errno_text(error)));
  };
  FileDescriptor file(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (file.get() < 0) {
    const int error = errno;
    if (error == ENOENT) {
      throw StoreOperationError(fmt::format("file store '{}' key '{}': directory '{}' is missing",
                                            name(), key.id, directory_.string()));
    }
    fail("creating", error);
  }
  for (std::size_t written = 0; written < bytes.size();) {
    const ssize_t n = ::write(file.get(), bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("writing", errno);
    }
    written += static_cast<std::size_t>(n);
  }
  if (file.close() != 0)
    fail("closing", errno);
  if (::rename(temporary.c_str(), target.c_str()) != 0)
    fail("renaming", errno);
}

std::optional<Bytes> FileStore::do_get(const Key& key) {
  const std::filesystem::path path = path_of(key);
  FileDescriptor file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  auto fail = [&](const char* step, int error) {
    throw StoreOperationError(fmt::format("file store '{}' key '{}': {} '{}' failed: {}", name(),
                                          key.id, step, path.string(), errno_text(error)));
  };
  if (file.get() < 0) {
    const int error = errno;
    if (error != ENOENT)
      fail("opening", error);
    // No file: the key was never stored — unless the whole directory is
    // gone, which is a fault to report, not an absent object.
    struct stat directory_info {};
    if (::stat(directory_.c_str(), &directory_info) != 0 || !S_ISDIR(directory_info.st_mode)) {
      throw StoreOperationError(fmt::format("file store '{}' key '{}': directory '{}' is missing",
                                            name(), key.id, directory_.string()));
    }
    return std::nullopt;
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0)
    fail("inspecting", errno);
  std::string bytes(static_cast<std::size_t>(info.st_size), '\0');
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(file.get(), bytes.data() + filled, bytes.size() - filled);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("reading", errno);
    }
    if (n == 0)
      break;  // shorter than fstat said: decoding will report it
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return Bytes(std::move(bytes));
}

bool FileStore::do_exists(const Key& key) {
  struct stat info {};
  return ::stat(path_of(key).c_str(), &info) == 0;
}

void FileStore::do_evict(const Key& key) {
  const std::filesystem::path path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw StoreOperationError(fmt::format("file store '{}' key '{}': removing '{}' failed: {}",
                                          name(), key.id, path.string(), errno_text(errno)));
  }
}

}  // namespace proxystore
