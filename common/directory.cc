#include "common/directory.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/file.h"

namespace patchfarm {
namespace {

// Makes each directory writable and searchable before its contents go.
int OpenUp(const char* path, const struct stat* st, int type, struct FTW*) {
  if (type == FTW_D && (st->st_mode & 0700) != 0700) chmod(path, (st->st_mode & 07777) | 0700);
  return 0;
}

int RemoveOne(const char* path, const struct stat* st, int type, struct FTW*) {
  (void)st;
  int rc = (type == FTW_DP) ? rmdir(path) : unlink(path);
  return rc == 0 || errno == ENOENT ? 0 : errno;
}

}  // namespace

absl::Status MakeDirectories(const std::string& root, const std::string& relative) {
  std::string path = root;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t slash = relative.find('/', start);
    if (slash == std::string::npos) slash = relative.size();
    absl::StrAppend(&path, "/", relative.substr(start, slash - start));
    if (mkdir(path.c_str(), 0755) != 0) {
      if (errno != EEXIST) return ErrnoToStatus(errno, "mkdir", path);
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", path);
      if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(path + ": not a directory");
    }
    start = slash + 1;
  }
  return absl::OkStatus();
}

absl::Status Chmod(const std::string& path, uint32_t mode) {
  if (chmod(path.c_str(), mode) != 0) return ErrnoToStatus(errno, "chmod", path);
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoToStatus(errno, "stat", path);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoToStatus(errno, "remove", path);
    return absl::OkStatus();
  }
  nftw(path.c_str(), OpenUp, 64, FTW_PHYS);  // Best effort; failures show below.
  int err = nftw(path.c_str(), RemoveOne, 64, FTW_DEPTH | FTW_PHYS);
  if (err != 0) return ErrnoToStatus(err > 0 ? err : errno, "remove tree", path);
  return absl::OkStatus();
}

absl::Status SyncFileSystem(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  int rc = syncfs(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoToStatus(err, "syncfs", path);
  return absl::OkStatus();
}

}  // namespace patchfarm
