// FaultInjectionFileSystem's power loss (fault_injection_file_system.h): the
// changes not made durable are undone, newest first, on the real directory
// tree the test runs in.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/fault_injection_file_system.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

std::string FdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

absl::Status RepairError(absl::string_view what, absl::string_view name) {
  return absl::InternalError(
      absl::StrCat("simulated power loss: cannot ", what, " ", name, ": ", strerror(errno)));
}

bool ExistsAt(int dirfd, const std::string& name, struct stat* st) {
  return fstatat(dirfd, name.c_str(), st, AT_SYMLINK_NOFOLLOW) == 0;
}

// Removes `name` in `dirfd` and everything under it, never following symlinks.
void RemoveAt(int dirfd, const std::string& name) {
  struct stat st;
  if (!ExistsAt(dirfd, name, &st)) return;
  if (!S_ISDIR(st.st_mode)) {
    unlinkat(dirfd, name.c_str(), 0);
    return;
  }
  if (fchmodat(dirfd, name.c_str(), (st.st_mode & 07777) | 0700, 0) != 0) {
    // Removal below fails where it must.
  }
  int fd = openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd >= 0) {
    std::vector<std::string> names;
    if (DIR* d = fdopendir(dup(fd))) {
      while (struct dirent* e = readdir(d)) {
        std::string child = e->d_name;
        if (child != "." && child != "..") names.push_back(child);
      }
      closedir(d);
    }
    for (const std::string& child : names) RemoveAt(fd, child);
    close(fd);
  }
  unlinkat(dirfd, name.c_str(), AT_REMOVEDIR);
}

}  // namespace

absl::Status FaultInjectionFileSystem::Undo(const Change& change) {
  struct stat st;
  switch (change.kind) {
    case Change::Kind::kCreate:
      // Only if the name still holds what was created (it may have moved on).
      if (ExistsAt(change.dir->fd, change.name, &st) &&
          Key{st.st_dev, st.st_ino} == change.entry) {
        RemoveAt(change.dir->fd, change.name);
      }
      return absl::OkStatus();
    case Change::Kind::kRemove:
      if (!ExistsAt(change.dir->fd, change.name, &st) &&
          renameat(graveyard_fd_, change.buried.c_str(), change.dir->fd, change.name.c_str()) != 0) {
        return RepairError("restore removed", change.name);
      }
      return absl::OkStatus();
    case Change::Kind::kRemoveDirectory: {
      if (ExistsAt(change.dir->fd, change.name, &st)) return absl::OkStatus();
      if (mkdirat(change.dir->fd, change.name.c_str(), change.mode) != 0 ||
          fchmodat(change.dir->fd, change.name.c_str(), change.mode, 0) != 0) {
        return RepairError("restore removed directory", change.name);
      }
      if (change.removed != nullptr) {  // Earlier changes in it now act on the new one.
        int fd = openat(change.dir->fd, change.name.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) != 0) return RepairError("open restored", change.name);
        close(change.removed->fd);
        change.removed->fd = fd;
        dirs_.erase(change.entry);
        dirs_[Key{st.st_dev, st.st_ino}] = change.removed;
      }
      return absl::OkStatus();
    }
    case Change::Kind::kRename:
      if (ExistsAt(change.to_dir->fd, change.to_name, &st) &&
          Key{st.st_dev, st.st_ino} == change.entry &&
          !ExistsAt(change.dir->fd, change.name, &st)) {
        if (renameat(change.to_dir->fd, change.to_name.c_str(), change.dir->fd,
                     change.name.c_str()) != 0) {
          return RepairError("rename back", change.to_name);
        }
      }
      if (ExistsAt(change.to_dir->fd, change.to_name, &st)) return absl::OkStatus();
      if (!change.buried.empty() &&
          renameat(graveyard_fd_, change.buried.c_str(), change.to_dir->fd,
                   change.to_name.c_str()) != 0) {
        return RepairError("restore replaced", change.to_name);
      }
      if (change.replaced_directory &&
          (mkdirat(change.to_dir->fd, change.to_name.c_str(), change.mode) != 0 ||
           fchmodat(change.to_dir->fd, change.to_name.c_str(), change.mode, 0) != 0)) {
        return RepairError("restore replaced directory", change.to_name);
      }
      return absl::OkStatus();
  }
  return absl::InternalError("unknown change");
}

absl::Status FaultInjectionFileSystem::SimulatePowerLoss() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status status;
  for (auto change = changes_.rbegin(); change != changes_.rend(); ++change) {
    if (!change->durable) status.Update(Undo(*change));
  }
  for (auto& [key, node] : files_) {
    struct stat st;
    if (fstat(node.fd, &st) != 0 || static_cast<uint64_t>(st.st_size) <= node.synced_size) continue;
    const std::string path = FdPath(node.fd);
    if (truncate(path.c_str(), static_cast<off_t>(node.synced_size)) == 0) continue;
    // A read-only file: writable for the moment.
    if (errno == EACCES && chmod(path.c_str(), (st.st_mode & 07777) | 0200) == 0) {
      int rc = truncate(path.c_str(), static_cast<off_t>(node.synced_size));
      int err = errno;
      chmod(path.c_str(), st.st_mode & 07777);
      errno = err;
      if (rc == 0) continue;
    }
    status.Update(RepairError("truncate", path));
  }
  Checkpoint();
  dead_ = false;
  crash_at_ = -1;
  return status;
}

void FaultInjectionFileSystem::Checkpoint() {
  changes_.clear();
  for (auto& [key, node] : files_) close(node.fd);
  files_.clear();
  for (auto& [key, node] : dirs_) close(node->fd);
  dirs_.clear();
  for (uint64_t i = 0; i < next_buried_; ++i) {
    unlinkat(graveyard_fd_, absl::StrCat("b", i).c_str(), 0);
  }
  next_buried_ = 0;
}

}  // namespace patchfarm
