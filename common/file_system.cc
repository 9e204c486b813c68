#include "common/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace patchfarm {

absl::Status FileSystem::RemoveTree(const std::string& path) {
  absl::StatusOr<FileInfo> info = LStat(path);
  if (!info.ok()) return absl::IsNotFound(info.status()) ? absl::OkStatus() : info.status();
  if (info->type != FileType::kDirectory) {
    absl::Status status = Unlink(path);
    return status.ok() || absl::IsNotFound(status) ? absl::OkStatus() : status;
  }
  if ((info->mode & 0700) != 0700) Chmod(path, info->mode | 0700).IgnoreError();  // Best effort.
  PF_ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirectory(path));
  for (const std::string& name : names) PF_RETURN_IF_ERROR(RemoveTree(path + "/" + name));
  absl::Status status = RemoveDirectory(path);
  return status.ok() || absl::IsNotFound(status) ? absl::OkStatus() : status;
}

namespace {

constexpr size_t kCopyBufferBytes = 1 << 20;

// ErrnoToStatus, with the two codes callers of a FileSystem tell apart.
absl::Status FsError(int err, absl::string_view operation, absl::string_view path) {
  if (err == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(operation, " ", path, ": already exists"));
  }
  if (err == ENOTEMPTY) {
    return absl::FailedPreconditionError(absl::StrCat(operation, " ", path, ": not empty"));
  }
  return ErrnoToStatus(err, operation, path);
}

absl::Status WriteFd(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return FsError(errno, "write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

FileInfo ToInfo(const struct stat& st) {
  FileInfo info;
  switch (st.st_mode & S_IFMT) {
    case S_IFREG:
      info.type = FileType::kRegular;
      break;
    case S_IFDIR:
      info.type = FileType::kDirectory;
      break;
    case S_IFLNK:
      info.type = FileType::kSymlink;
      break;
    default:
      info.type = FileType::kOther;
  }
  info.mode = st.st_mode & 07777;
  info.size = static_cast<uint64_t>(st.st_size);
  info.modified = absl::TimeFromTimespec(st.st_mtim);
  info.changed = absl::TimeFromTimespec(st.st_ctim);
  return info;
}

class PosixWritableFile : public WritableFile {
 public:
  PosixWritableFile(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) close(fd_);
  }
  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": append after close"));
    return WriteFd(fd_, data, path_);
  }
  absl::Status Sync() override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat(path_, ": sync after close"));
    if (fsync(fd_) != 0) return FsError(errno, "fsync", path_);
    return absl::OkStatus();
  }
  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int rc = close(fd_);
    fd_ = -1;
    if (rc != 0) return FsError(errno, "close", path_);
    return absl::OkStatus();
  }

 private:
  int fd_;
  std::string path_;
};

class PosixFileLock : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { close(fd_); }

 private:
  int fd_;
};

// Sets exactly `permissions` on a file just created (the umask narrowed them);
// on failure closes and removes it.
absl::Status SetPermissions(int fd, const std::string& path, uint32_t permissions) {
  if (fchmod(fd, static_cast<mode_t>(permissions)) == 0) return absl::OkStatus();
  int err = errno;
  close(fd);
  unlink(path.c_str());
  return FsError(err, "chmod", path);
}

class PosixFileSystem : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             OpenMode mode,
                                                             uint32_t permissions) override {
    int flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC;
    flags |= mode == OpenMode::kCreateNew ? O_EXCL : O_APPEND;
    int fd = open(path.c_str(), flags, static_cast<mode_t>(permissions));
    if (fd < 0) return FsError(errno, mode == OpenMode::kCreateNew ? "create" : "open", path);
    if (mode == OpenMode::kCreateNew) PF_RETURN_IF_ERROR(SetPermissions(fd, path, permissions));
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, path));
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> CreateTemporary(const std::string& prefix,
                                                                uint32_t permissions,
                                                                std::string* path) override {
    std::string name = absl::StrCat(prefix, "XXXXXX");
    int fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd < 0) return FsError(errno, "create temporary file", name);
    PF_RETURN_IF_ERROR(SetPermissions(fd, name, permissions));
    *path = name;
    return std::unique_ptr<WritableFile>(new PosixWritableFile(fd, name));
  }

  absl::Status CopyFile(const std::string& from, const std::string& to,
                        uint32_t permissions) override {
    // A FIFO must not hang; a symlink is not followed.
    int in = open(from.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0) return FsError(errno, "open", from);
    struct stat st;
    if (fstat(in, &st) != 0) {
      int err = errno;
      close(in);
      return FsError(err, "stat", from);
    }
    if (!S_ISREG(st.st_mode)) {
      close(in);
      return absl::InvalidArgumentError(absl::StrCat(from, ": not a regular file"));
    }
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    int out = open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   static_cast<mode_t>(permissions));
    if (out < 0) {
      int err = errno;
      close(in);
      return FsError(err, "create", to);
    }
    absl::Status status;
    if (fchmod(out, static_cast<mode_t>(permissions)) != 0) status = FsError(errno, "chmod", to);
    uint64_t done = 0;
    while (status.ok() && done < size) {
      ssize_t n = copy_file_range(in, nullptr, out, nullptr, size - done, 0);
      if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
        std::string buffer(kCopyBufferBytes, '\0');  // Fallback: read and write.
        while (status.ok()) {
          ssize_t got = read(in, buffer.data(), buffer.size());
          if (got < 0 && errno == EINTR) continue;
          if (got < 0) status = FsError(errno, "read", from);
          if (got <= 0) break;
          status = WriteFd(out, absl::string_view(buffer.data(), static_cast<size_t>(got)), to);
          done += static_cast<uint64_t>(got);
        }
        break;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) status = FsError(errno, "copy to", to);
      if (n == 0) status = absl::DataLossError(absl::StrCat(from, ": shrank while copying"));
      if (n > 0) done += static_cast<uint64_t>(n);
    }
    close(in);
    if (close(out) != 0 && status.ok()) status = FsError(errno, "close", to);
    return status;
  }

  absl::StatusOr<std::unique_ptr<ByteSource>> OpenReadable(const std::string& path) override {
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
    return std::unique_ptr<ByteSource>(std::move(source));
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    return ReadFileToString(path);
  }

  absl::Status Rename(const std::string& from, const std::string& to) override {
    if (rename(from.c_str(), to.c_str()) != 0) {
      return FsError(errno, absl::StrCat("rename ", from, " to"), to);
    }
    return absl::OkStatus();
  }

  absl::Status Unlink(const std::string& path) override {
    if (unlink(path.c_str()) != 0) return FsError(errno, "remove", path);
    return absl::OkStatus();
  }

  absl::Status MakeDirectory(const std::string& path, uint32_t mode) override {
    if (mkdir(path.c_str(), static_cast<mode_t>(mode)) != 0) return FsError(errno, "mkdir", path);
    return absl::OkStatus();
  }

  absl::Status RemoveDirectory(const std::string& path) override {
    if (rmdir(path.c_str()) != 0) {
      // Linux says EEXIST or ENOTEMPTY for a directory that is not empty.
      return FsError(errno == EEXIST ? ENOTEMPTY : errno, "rmdir", path);
    }
    return absl::OkStatus();
  }

  absl::Status Symlink(const std::string& target, const std::string& path) override {
    if (symlink(target.c_str(), path.c_str()) != 0) return FsError(errno, "symlink", path);
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> ReadLink(const std::string& path) override {
    std::string target(4096, '\0');
    while (true) {
      ssize_t n = readlink(path.c_str(), target.data(), target.size());
      if (n < 0) return FsError(errno, "readlink", path);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        return target;
      }
      target.resize(target.size() * 2);
    }
  }

  absl::Status Chmod(const std::string& path, uint32_t mode) override {
    // Not through a symlink put at `path` since the caller looked (a local
    // user's, in an install a root updater changes): it changed the mode of
    // any file. glibc does it by an O_PATH descriptor, through /proc.
    if (fchmodat(AT_FDCWD, path.c_str(), static_cast<mode_t>(mode), AT_SYMLINK_NOFOLLOW) == 0) {
      return absl::OkStatus();
    }
    int err = errno;
    if (err != EOPNOTSUPP) return FsError(err, "chmod", path);
    const absl::Status symlink_there =
        absl::FailedPreconditionError(absl::StrCat("chmod ", path, ": a symlink is there now"));
    // A symlink, or a glibc before 2.32 or no /proc: by a descriptor of the
    // file itself, opened without following a symlink.
    int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP) return symlink_there;
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
      // Unreadable to us (not root, whom a swap could harm): by name.
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) return FsError(errno, "chmod", path);
      if (S_ISLNK(st.st_mode)) return symlink_there;
      if (chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) return FsError(errno, "chmod", path);
      return absl::OkStatus();
    }
    if (fd < 0) return FsError(errno, "chmod", path);
    err = fchmod(fd, static_cast<mode_t>(mode)) == 0 ? 0 : errno;
    close(fd);
    return err == 0 ? absl::OkStatus() : FsError(err, "chmod", path);
  }

  absl::Status Touch(const std::string& path) override {
    if (utimensat(AT_FDCWD, path.c_str(), nullptr, 0) != 0) {
      return FsError(errno, "set the time of", path);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<FileInfo> LStat(const std::string& path) override {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return FsError(errno, "stat", path);
    return ToInfo(st);
  }

  absl::StatusOr<FileInfo> Stat(const std::string& path) override {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return FsError(errno, "stat", path);
    return ToInfo(st);
  }

  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) return FsError(errno, "open directory", dir);
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
      errno = 0;
    }
    int err = errno;
    closedir(d);
    if (err != 0) return FsError(err, "read directory", dir);
    return names;
  }

  absl::Status SyncDirectory(const std::string& dir) override { return FsyncDirectory(dir); }

  absl::Status SyncFileSystem(const std::string& path) override {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return FsError(errno, "open", path);
    int rc = syncfs(fd);
    int err = errno;
    close(fd);
    if (rc != 0) return FsError(err, "syncfs", path);
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return FsError(errno, "open", path);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      close(fd);
      if (err == EWOULDBLOCK) return absl::UnavailableError(absl::StrCat(path, " is locked"));
      return FsError(err, "lock", path);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd));
  }
};

}  // namespace

FileSystem* DefaultFileSystem() {
  static FileSystem* const fs = new PosixFileSystem();
  return fs;
}

}  // namespace patchfarm
