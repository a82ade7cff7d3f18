// SPDX-License-Identifier: Apache-2.0
#include <proxystore/detail/printable.hpp>
#include <proxystore/errors.hpp>
#include <proxystore/stores/file.hpp>

#include "detail/machine_memory.hpp"

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <string>
#include <system_error>
#include <typeinfo>
#include <utility>

namespace proxystore {

using detail::printable;

namespace {

/// Closes a file descriptor on scope exit.
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
  /// Gives up ownership.
  int release() noexcept { return std::exchange(fd_, -1); }

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

/// A path as messages quote it (it may come from a proxy).
std::string shown(const std::filesystem::path& path) {
  return printable(path.native(), 512);
}

std::string errno_text(int error) {
  return std::error_code(error, std::generic_category()).message();
}

const char* file_kind(mode_t mode) {
  if (S_ISLNK(mode))
    return "a symbolic link (not followed)";
  if (S_ISFIFO(mode))
    return "a FIFO";
  if (S_ISDIR(mode))
    return "a directory";
  if (S_ISCHR(mode) || S_ISBLK(mode))
    return "a device";
  if (S_ISSOCK(mode))
    return "a socket";
  return "not a regular file";
}

/// Opens the directory `real` (a real path: no symlink in it), refusing a
/// symlink in its place and, where /proc tells, a directory reached
/// through a component swapped for a symlink since `real` was resolved.
/// Returns the descriptor, or -1 with errno set.
int open_real_directory(const std::filesystem::path& real) {
  const int fd = ::open(real.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return -1;
  std::array<char, 4096> target{};
  const std::string link = fmt::format("/proc/self/fd/{}", fd);
  const ssize_t n = ::readlink(link.c_str(), target.data(), target.size());
  if (n > 0 && static_cast<std::size_t>(n) < target.size() &&
      std::string_view(target.data(), static_cast<std::size_t>(n)) != real.native()) {
    ::close(fd);
    errno = ELOOP;
    return -1;
  }
  return fd;
}

}  // namespace

/// The store's open directory; files are reached only beneath it.
class FileStore::DirectoryHandle {
 public:
  explicit DirectoryHandle(int fd) noexcept : fd_(fd) {}
  int fd() const noexcept { return fd_.get(); }
  /// Whether the directory was deleted (it has no name left).
  bool deleted() const noexcept {
    struct stat info {};
    return ::fstat(fd_.get(), &info) != 0 || info.st_nlink == 0;
  }

 private:
  FileDescriptor fd_;
};

FileStore::FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options)
    : FileStore(std::move(name), directory, options, Missing::create) {}

FileStore::FileStore(std::string name, const std::filesystem::path& directory, StoreOptions options,
                     Missing missing)
    : Store(std::move(name), options) {
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(directory, error);
  if (!error && missing == Missing::create) {
    // The user's own path, normalised as they write it (created if need be).
    absolute = absolute.lexically_normal();
    std::filesystem::create_directories(absolute, error);
  }
  // A config's path is resolved by the kernel alone — no lexical step — so
  // the store opens exactly the directory the store policy judged
  // (detail::check_store_directory).
  if (error) {
    throw StoreOperationError(fmt::format("file store '{}': cannot create directory '{}': {}",
                                          printable(this->name()), shown(directory),
                                          error.message()));
  }
  directory_ = std::filesystem::canonical(absolute, error);
  const int fd = error ? -1 : open_real_directory(directory_);
  if (fd < 0) {
    const std::string why = error ? error.message() : errno_text(errno);
    throw StoreOperationError(fmt::format(
        "file store '{}': directory '{}' {}: {}", printable(this->name()), shown(directory),
        missing == Missing::fail ? "is missing or cannot be opened (a store rebuilt "
                                   "from a config never creates its directory)"
                                 : "cannot be opened",
        why));
  }
  directory_handle_ = std::make_shared<const DirectoryHandle>(fd);
}

StoreConfig FileStore::config() const {
  return StoreConfig{"file", name(), {{"directory", directory_.string()}}};
}

std::shared_ptr<FileStore> FileStore::from_config(const StoreConfig& config) {
  auto it = config.options.find("directory");
  if (it == config.options.end() || it->second.empty()) {
    throw Error(
        fmt::format("file store '{}': config has no 'directory' option", printable(config.name)));
  }
  // Not make_shared: the constructor that never creates the directory is private.
  return std::shared_ptr<FileStore>(new FileStore(config.name, it->second, {}, Missing::fail));
}

std::shared_ptr<const FileStore::DirectoryHandle> FileStore::open_directory(const Key& key) const {
  std::lock_guard<std::mutex> lock(directory_mutex_);
  if (directory_handle_->deleted()) {
    // Deleted and perhaps made again: reopen it by its (real) path.
    const int fd = open_real_directory(directory_);
    if (fd < 0) {
      throw StoreOperationError(fmt::format("file store '{}' key '{}': directory '{}' is missing",
                                            printable(name()), printable(key.id),
                                            shown(directory_)));
    }
    directory_handle_ = std::make_shared<const DirectoryHandle>(fd);
  }
  return directory_handle_;
}

const std::string& FileStore::file_name(const Key& key) const {
  if (!is_safe_file_name(key.id)) {
    throw StoreOperationError(fmt::format(
        "file store '{}': key '{}' is not a valid file name (letters, digits, '-', '_', '.')",
        printable(name()), printable(key.id)));
  }
  return key.id;
}

void FileStore::do_put(const Key& key, std::string_view bytes) {
  write_object(key, bytes, {});
}

void FileStore::do_put_parts(const Key& key, std::string_view head, std::string_view body) {
  // A class derived from FileStore may decorate do_put (count, encrypt):
  // for it the value goes through do_put, joined first, as for any store.
  if (typeid(*this) != typeid(FileStore)) {
    Store::do_put_parts(key, head, body);
    return;
  }
  write_object(key, head, body);  // writev: the body is never copied
}

void FileStore::write_object(const Key& key, std::string_view head, std::string_view body) {
  const std::string& target = file_name(key);
  const auto directory = open_directory(key);
  // Write a private temporary file, then rename it over the target: rename
  // is atomic within a directory, so readers see the old object or the new
  // one, never a partial write. Renaming over a planted symlink or FIFO
  // replaces the entry; nothing is followed.
  const std::string temporary = fmt::format(".tmp-{}-{}", key.id, random_key().id);
  auto fail = [&](const char* step, int error) {
    ::unlinkat(directory->fd(), temporary.c_str(), 0);
    throw StoreOperationError(fmt::format("file store '{}' key '{}': {} '{}' failed: {}",
                                          printable(name()), key.id, step,
                                          shown(directory_ / temporary), errno_text(error)));
  };
  FileDescriptor file(::openat(directory->fd(), temporary.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (file.get() < 0) {
    const int error = errno;
    if (error == ENOENT) {
      throw StoreOperationError(fmt::format("file store '{}' key '{}': directory '{}' is missing",
                                            printable(name()), key.id, shown(directory_)));
    }
    fail("creating", error);
  }
  // The head and the body in one writev while both remain, then what is
  // left of either; a short write resumes where it stopped.
  std::array<std::string_view, 2> parts{head, body};
  std::size_t first = 0;  // the first part with bytes left
  for (;;) {
    while (first < parts.size() && parts[first].empty())
      ++first;
    if (first == parts.size())
      break;
    std::array<iovec, 2> vectors{};
    int count = 0;
    for (std::size_t i = first; i < parts.size(); ++i) {
      if (!parts[i].empty()) {
        vectors[count].iov_base = const_cast<char*>(parts[i].data());
        vectors[count].iov_len = parts[i].size();
        ++count;
      }
    }
    ssize_t n = ::writev(file.get(), vectors.data(), count);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      fail("writing", errno);
    }
    for (std::size_t i = first; i < parts.size() && n > 0; ++i) {
      const std::size_t used = std::min(parts[i].size(), static_cast<std::size_t>(n));
      parts[i].remove_prefix(used);
      n -= static_cast<ssize_t>(used);
    }
  }
  if (file.close() != 0)
    fail("closing", errno);
  if (::renameat(directory->fd(), temporary.c_str(), directory->fd(), target.c_str()) != 0)
    fail("renaming", errno);
}

int FileStore::open_object(const Key& key, std::uint64_t& size) const {
  const std::string& id = file_name(key);
  const auto directory = open_directory(key);
  const std::filesystem::path path = directory_ / id;  // for messages only
  auto fail = [&](const char* step, int error) {
    throw StoreOperationError(fmt::format("file store '{}' key '{}': {} '{}' failed: {}",
                                          printable(name()), key.id, step, shown(path),
                                          errno_text(error)));
  };
  auto refuse = [&](mode_t mode) {
    throw StoreOperationError(
        fmt::format("file store '{}' key '{}': '{}' is {}, not an object file", printable(name()),
                    key.id, shown(path), file_kind(mode)));
  };
  // Look before opening: a FIFO, device or symlink under the key's name is
  // refused without being opened (opening a FIFO would block).
  struct stat info {};
  if (::fstatat(directory->fd(), id.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno != ENOENT)
      fail("inspecting", errno);
    return -1;  // never stored (the directory itself was there just now)
  }
  if (!S_ISREG(info.st_mode))
    refuse(info.st_mode);
  // O_NOFOLLOW and O_NONBLOCK: if the entry was swapped since, opening
  // neither follows a symlink nor blocks on a FIFO; fstat tells the rest.
  FileDescriptor file(
      ::openat(directory->fd(), id.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  if (file.get() < 0) {
    const int error = errno;
    if (error == ENOENT)
      return -1;  // evicted meanwhile
    if (error == ELOOP)
      refuse(S_IFLNK);
    fail("opening", error);
  }
  if (::fstat(file.get(), &info) != 0)
    fail("inspecting", errno);
  if (!S_ISREG(info.st_mode))
    refuse(info.st_mode);
  // The size must be backed before it is allocated: a sparse file can
  // claim any size without using the disk.
  size = static_cast<std::uint64_t>(info.st_size);
  if (size > options().max_object_size) {
    throw SerializationError(fmt::format(
        "file store '{}' key '{}': '{}' holds {} bytes, over the maximum object size {}",
        printable(name()), key.id, shown(path), size, options().max_object_size));
  }
  if (detail::exceeds_machine_memory(size)) {
    throw StoreOperationError(fmt::format(
        "file store '{}' key '{}': '{}' holds {} bytes, more than this machine's memory "
        "(RAM and swap: {} bytes)",
        printable(name()), key.id, shown(path), size, detail::machine_memory_bytes()));
  }
  return file.release();
}

/// Reads an open object file front to back, straight into the caller's
/// memory (Store::get: the object's own). The size is the one fstat gave
/// (checked by open_object); a file cut short meanwhile is an error.
class FileStore::FileReader final : public ValueReader {
 public:
  FileReader(const FileStore& store, const Key& key, int fd, std::uint64_t size) noexcept
      : store_(store), key_(key), file_(fd), size_(static_cast<std::size_t>(size)) {}

  std::size_t size() const noexcept override { return size_; }
  /// The size fstat gave, checked against max_object_size and the memory.
  bool size_is_backed() const noexcept override { return true; }

  void read(char* into, std::size_t n) override {
    while (n != 0) {
      // One read per call where the kernel allows (Linux moves at most
      // about 2 GiB per read).
      const ssize_t got = ::read(file_.get(), into, std::min<std::size_t>(n, INT_MAX));
      if (got < 0) {
        if (errno == EINTR)
          continue;
        throw StoreOperationError(fmt::format("file store '{}' key '{}': reading '{}' failed: {}",
                                              printable(store_.name()), key_.id, path(),
                                              errno_text(errno)));
      }
      if (got == 0) {
        throw StoreOperationError(fmt::format(
            "file store '{}' key '{}': '{}' ended after {} of its {} bytes (changed while read)",
            printable(store_.name()), key_.id, path(), position_, size_));
      }
      into += got;
      n -= static_cast<std::size_t>(got);
      position_ += static_cast<std::size_t>(got);
    }
  }

 private:
  std::string path() const { return shown(store_.directory_ / key_.id); }

  const FileStore& store_;
  const Key& key_;
  FileDescriptor file_;
  std::size_t size_;
  std::size_t position_ = 0;
};

std::optional<Bytes> FileStore::do_get(const Key& key) {
  std::uint64_t size = 0;
  const int fd = open_object(key, size);
  if (fd < 0)
    return std::nullopt;
  FileDescriptor file(fd);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::read(file.get(), bytes.data() + filled,
                             std::min<std::size_t>(bytes.size() - filled, INT_MAX));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      throw StoreOperationError(fmt::format("file store '{}' key '{}': reading '{}' failed: {}",
                                            printable(name()), key.id, shown(directory_ / key.id),
                                            errno_text(errno)));
    }
    if (n == 0)
      break;  // shorter than fstat said: decoding will report it
    filled += static_cast<std::size_t>(n);
  }
  bytes.resize(filled);
  return Bytes(std::move(bytes));
}

bool FileStore::do_read(const Key& key, const std::function<void(ValueReader&)>& consume) {
  // A class derived from FileStore may decorate do_get (count, decrypt):
  // for it every read goes through do_get, as for any store.
  if (typeid(*this) != typeid(FileStore))
    return Store::do_read(key, consume);
  std::uint64_t size = 0;
  const int fd = open_object(key, size);
  if (fd < 0)
    return false;
  FileReader reader(*this, key, fd, size);
  consume(reader);
  return true;
}

bool FileStore::do_exists(const Key& key) {
  const std::string& id = file_name(key);
  const auto directory = open_directory(key);
  struct stat info {};
  return ::fstatat(directory->fd(), id.c_str(), &info, AT_SYMLINK_NOFOLLOW) == 0 &&
         S_ISREG(info.st_mode);
}

void FileStore::do_evict(const Key& key) {
  const std::string& id = file_name(key);
  const auto directory = open_directory(key);
  if (::unlinkat(directory->fd(), id.c_str(), 0) != 0 && errno != ENOENT) {
    throw StoreOperationError(fmt::format("file store '{}' key '{}': removing '{}' failed: {}",
                                          printable(name()), key.id, shown(directory_ / id),
                                          errno_text(errno)));
  }
}

}  // namespace proxystore
