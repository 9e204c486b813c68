#include "common/fault_injection_file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

std::string BaseName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

absl::Status Dead() {
  return absl::AbortedError("simulated crash: the process is dead, the file system unreachable");
}

}  // namespace

// A WritableFile whose Append and Sync go through the gate and whose Sync
// records the file's durable size.
class FaultInjectionFileSystem::TrackedFile : public WritableFile {
 public:
  TrackedFile(FaultInjectionFileSystem* fs, std::unique_ptr<WritableFile> file, Key key)
      : fs_(fs), file_(std::move(file)), key_(key) {}

  absl::Status Append(absl::string_view data) override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    PF_RETURN_IF_ERROR(fs_->Gate(true));
    return file_->Append(data);
  }

  absl::Status Sync() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    PF_RETURN_IF_ERROR(fs_->Gate(true));
    PF_RETURN_IF_ERROR(file_->Sync());
    auto it = fs_->files_.find(key_);
    if (it != fs_->files_.end()) fs_->MarkSynced(&it->second);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    std::lock_guard<std::mutex> lock(fs_->mu_);
    absl::Status status = file_->Close();  // Releases the descriptor even when dead.
    if (fs_->dead_) return Dead();
    return status;
  }

 private:
  FaultInjectionFileSystem* fs_;
  std::unique_ptr<WritableFile> file_;
  Key key_;
};

FaultInjectionFileSystem::FaultInjectionFileSystem(std::string scratch_dir, FileSystem* base)
    : base_(base) {
  for (int i = 0;; ++i) {
    graveyard_ = absl::StrCat(scratch_dir, "/fault-injection-graveyard-", getpid(), "-", i);
    if (mkdir(graveyard_.c_str(), 0700) == 0) break;
    PF_CHECK(errno == EEXIST);
  }
  graveyard_fd_ = open(graveyard_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  PF_CHECK(graveyard_fd_ >= 0);
}

FaultInjectionFileSystem::~FaultInjectionFileSystem() {
  std::lock_guard<std::mutex> lock(mu_);
  Checkpoint();
  close(graveyard_fd_);
  rmdir(graveyard_.c_str());
}

void FaultInjectionFileSystem::CrashAfter(int64_t operations) {
  std::lock_guard<std::mutex> lock(mu_);
  crash_at_ = operations_ + operations;
}

bool FaultInjectionFileSystem::crashed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return dead_;
}

int64_t FaultInjectionFileSystem::operations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return operations_;
}

absl::Status FaultInjectionFileSystem::Gate(bool mutating) {
  if (dead_) return Dead();
  if (!mutating) return absl::OkStatus();
  if (crash_at_ >= 0 && operations_ >= crash_at_) {
    dead_ = true;
    return Dead();
  }
  ++operations_;
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<FaultInjectionFileSystem::DirNode>> FaultInjectionFileSystem::DirOf(
    const std::string& path) {
  return NodeOf(DirName(path));
}

absl::StatusOr<std::shared_ptr<FaultInjectionFileSystem::DirNode>> FaultInjectionFileSystem::NodeOf(
    const std::string& dir) {
  int fd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "fault injection: open directory", dir);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "fault injection: stat", dir);
  }
  Key key{st.st_dev, st.st_ino};
  auto it = dirs_.find(key);
  if (it != dirs_.end()) {
    close(fd);
    return it->second;
  }
  auto node = std::make_shared<DirNode>();
  node->fd = fd;
  dirs_[key] = node;
  return node;
}

absl::Status FaultInjectionFileSystem::RecordCreate(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::shared_ptr<DirNode> dir, DirOf(path));
  Change change;
  change.kind = Change::Kind::kCreate;
  change.dir = dir;
  change.name = BaseName(path);
  struct stat st;
  if (fstatat(dir->fd, change.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return ErrnoToStatus(errno, "fault injection: stat", path);
  }
  change.entry = {st.st_dev, st.st_ino};
  changes_.push_back(std::move(change));
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::TrackFile(const std::string& path, bool created) {
  int fd = open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "fault injection: open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "fault injection: stat", path);
  }
  Key key{st.st_dev, st.st_ino};
  if (files_.count(key) != 0) {
    close(fd);
    return absl::OkStatus();
  }
  // A file met for the first time holds only durable bytes, unless just made.
  files_[key] = FileNode{fd, created ? 0 : static_cast<uint64_t>(st.st_size)};
  return absl::OkStatus();
}

void FaultInjectionFileSystem::MarkSynced(FileNode* node) {
  struct stat st;
  if (fstat(node->fd, &st) == 0) node->synced_size = static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::string> FaultInjectionFileSystem::Bury(const std::string& path) {
  std::string name = absl::StrCat("b", next_buried_++);
  if (linkat(AT_FDCWD, path.c_str(), graveyard_fd_, name.c_str(), 0) != 0) {
    return ErrnoToStatus(errno, "fault injection: keep a link to", path);
  }
  return name;
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::OpenWritable(
    const std::string& path, OpenMode mode, uint32_t permissions) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat st;
  const bool created = lstat(path.c_str(), &st) != 0;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      base_->OpenWritable(path, mode, permissions));
  if (created) PF_RETURN_IF_ERROR(RecordCreate(path));
  PF_RETURN_IF_ERROR(TrackFile(path, created));
  if (lstat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "fault injection: stat", path);
  return std::unique_ptr<WritableFile>(
      new TrackedFile(this, std::move(file), Key{st.st_dev, st.st_ino}));
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::CreateTemporary(
    const std::string& prefix, uint32_t permissions, std::string* path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      base_->CreateTemporary(prefix, permissions, path));
  PF_RETURN_IF_ERROR(RecordCreate(*path));
  PF_RETURN_IF_ERROR(TrackFile(*path, /*created=*/true));
  struct stat st;
  if (lstat(path->c_str(), &st) != 0) return ErrnoToStatus(errno, "fault injection: stat", *path);
  return std::unique_ptr<WritableFile>(
      new TrackedFile(this, std::move(file), Key{st.st_dev, st.st_ino}));
}

absl::Status FaultInjectionFileSystem::CopyFile(const std::string& from, const std::string& to,
                                                uint32_t permissions) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat st;
  const bool existed = lstat(to.c_str(), &st) == 0;
  absl::Status status = base_->CopyFile(from, to, permissions);
  if (!existed && lstat(to.c_str(), &st) == 0) {  // Made, even if the copy failed midway.
    PF_RETURN_IF_ERROR(RecordCreate(to));
    PF_RETURN_IF_ERROR(TrackFile(to, /*created=*/true));
  }
  return status;
}

absl::StatusOr<std::unique_ptr<ByteSource>> FaultInjectionFileSystem::OpenReadable(
    const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->OpenReadable(path);
}

absl::StatusOr<std::string> FaultInjectionFileSystem::ReadFile(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->ReadFile(path);
}

absl::Status FaultInjectionFileSystem::Rename(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat source, target;
  if (lstat(from.c_str(), &source) != 0) return base_->Rename(from, to);  // Its error.
  Change change;
  change.kind = Change::Kind::kRename;
  change.entry = {source.st_dev, source.st_ino};
  change.name = BaseName(from);
  change.to_name = BaseName(to);
  PF_ASSIGN_OR_RETURN(change.dir, DirOf(from));
  PF_ASSIGN_OR_RETURN(change.to_dir, DirOf(to));
  if (lstat(to.c_str(), &target) == 0) {
    if (target.st_dev == source.st_dev && target.st_ino == source.st_ino) {
      return base_->Rename(from, to);  // The same file: rename(2) does nothing.
    }
    if (S_ISDIR(target.st_mode)) {
      change.replaced_directory = true;
      change.mode = target.st_mode & 07777;
    } else {
      PF_ASSIGN_OR_RETURN(change.buried, Bury(to));
    }
  }
  absl::Status status = base_->Rename(from, to);
  if (!status.ok()) {
    if (!change.buried.empty()) unlinkat(graveyard_fd_, change.buried.c_str(), 0);
    return status;
  }
  changes_.push_back(std::move(change));
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::Unlink(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || S_ISDIR(st.st_mode)) return base_->Unlink(path);
  Change change;
  change.kind = Change::Kind::kRemove;
  change.name = BaseName(path);
  change.entry = {st.st_dev, st.st_ino};
  PF_ASSIGN_OR_RETURN(change.dir, DirOf(path));
  PF_ASSIGN_OR_RETURN(change.buried, Bury(path));
  absl::Status status = base_->Unlink(path);
  if (!status.ok()) {
    unlinkat(graveyard_fd_, change.buried.c_str(), 0);
    return status;
  }
  changes_.push_back(std::move(change));
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::MakeDirectory(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  PF_RETURN_IF_ERROR(base_->MakeDirectory(path, mode));
  return RecordCreate(path);
}

absl::Status FaultInjectionFileSystem::RemoveDirectory(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat st;
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return base_->RemoveDirectory(path);
  Change change;
  change.kind = Change::Kind::kRemoveDirectory;
  change.name = BaseName(path);
  change.mode = st.st_mode & 07777;
  change.entry = {st.st_dev, st.st_ino};
  auto it = dirs_.find(change.entry);
  if (it != dirs_.end()) change.removed = it->second;
  PF_ASSIGN_OR_RETURN(change.dir, DirOf(path));
  PF_RETURN_IF_ERROR(base_->RemoveDirectory(path));
  changes_.push_back(std::move(change));
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::Symlink(const std::string& target, const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  PF_RETURN_IF_ERROR(base_->Symlink(target, path));
  return RecordCreate(path);
}

absl::StatusOr<std::string> FaultInjectionFileSystem::ReadLink(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->ReadLink(path);
}

absl::Status FaultInjectionFileSystem::Chmod(const std::string& path, uint32_t mode) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  return base_->Chmod(path, mode);
}

absl::Status FaultInjectionFileSystem::Touch(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  return base_->Touch(path);
}

absl::StatusOr<FileInfo> FaultInjectionFileSystem::LStat(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->LStat(path);
}

absl::StatusOr<FileInfo> FaultInjectionFileSystem::Stat(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->Stat(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::ListDirectory(
    const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(false));
  return base_->ListDirectory(dir);
}

absl::Status FaultInjectionFileSystem::SyncDirectory(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  PF_RETURN_IF_ERROR(base_->SyncDirectory(dir));
  PF_ASSIGN_OR_RETURN(std::shared_ptr<DirNode> node, NodeOf(dir));
  for (Change& change : changes_) {
    if (change.dir == node || change.to_dir == node) change.durable = true;
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionFileSystem::SyncFileSystem(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  PF_RETURN_IF_ERROR(base_->SyncFileSystem(path));
  Checkpoint();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectionFileSystem::LockFile(
    const std::string& path) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(Gate(true));
  struct stat st;
  const bool created = lstat(path.c_str(), &st) != 0;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> file_lock, base_->LockFile(path));
  if (created) PF_RETURN_IF_ERROR(RecordCreate(path));
  return file_lock;
}

}  // namespace patchfarm
