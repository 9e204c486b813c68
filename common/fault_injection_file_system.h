// A FileSystem for crash tests, modelled on LevelDB's FaultInjectionTestEnv:
// it forwards every call to a real file system (the files are real, in a test's
// temporary directory) and keeps the bookkeeping a power loss needs:
// - per file, the size at its last fsync (WritableFile::Sync);
// - per directory, the names created (files, directories, symlinks), renamed
//   and removed since its last fsync (SyncDirectory). A rename is durable once
//   either of its two directories is synced (one journal transaction);
// - SyncFileSystem makes everything durable.
// SimulatePowerLoss() then drops what was not made durable: it undoes, newest
// first, every name change whose directory was not synced since (a created
// name is removed with everything under it, a removed file or symlink comes
// back with its content, a removed directory comes back empty, a renamed
// entry goes back to its old name and what it replaced comes back), and
// truncates every file to its size at its last fsync. Mode and time changes
// (Chmod, Touch) are not modelled: they always survive.
//
// To stop the code under test at a point, CrashAfter(n) lets n more mutating
// operations (create, append, sync, rename, unlink, mkdir, rmdir, symlink,
// chmod, copy, touch, lock) through; from then on every call fails with
// Aborted ("the process is dead"), reads included, and changes nothing, so
// the code under test runs on only to return its error. SimulatePowerLoss()
// brings the file system back to life.
//
// Limits: files are identified by inode while tracked, so hard links and
// renames are followed; files and directories the test made before the fault
// file system saw them (or through another FileSystem) count as durable.
// Removed names are kept as hard links under `scratch_dir`, which must be on
// the same file system as the files the test writes.
// For tests only. Thread-safe (each call holds one lock).
#ifndef PATCHFARM_COMMON_FAULT_INJECTION_FILE_SYSTEM_H_
#define PATCHFARM_COMMON_FAULT_INJECTION_FILE_SYSTEM_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "common/file_system.h"

namespace patchfarm {

class FaultInjectionFileSystem : public FileSystem {
 public:
  // `scratch_dir` must exist. `base` must outlive this object; so must this
  // object every WritableFile it returns.
  explicit FaultInjectionFileSystem(std::string scratch_dir,
                                    FileSystem* base = DefaultFileSystem());
  ~FaultInjectionFileSystem() override;
  FaultInjectionFileSystem(const FaultInjectionFileSystem&) = delete;
  FaultInjectionFileSystem& operator=(const FaultInjectionFileSystem&) = delete;

  // The next `operations` mutating operations succeed; the one after fails and
  // the file system is dead from then on. Crash() is CrashAfter(0).
  void CrashAfter(int64_t operations);
  void Crash() { CrashAfter(0); }
  bool crashed() const;
  // Mutating operations let through so far.
  int64_t operations() const;

  // Drops every write and every name change not made durable (see above),
  // forgets all bookkeeping (what remains is durable) and revives the file
  // system. Internal if a repair step failed (the test cannot go on).
  absl::Status SimulatePowerLoss();

  absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                             OpenMode mode,
                                                             uint32_t permissions) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> CreateTemporary(const std::string& prefix,
                                                                uint32_t permissions,
                                                                std::string* path) override;
  absl::Status CopyFile(const std::string& from, const std::string& to,
                        uint32_t permissions) override;
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenReadable(const std::string& path) override;
  absl::StatusOr<std::string> ReadFile(const std::string& path) override;
  absl::Status Rename(const std::string& from, const std::string& to) override;
  absl::Status Unlink(const std::string& path) override;
  absl::Status MakeDirectory(const std::string& path, uint32_t mode) override;
  absl::Status RemoveDirectory(const std::string& path) override;
  absl::Status Symlink(const std::string& target, const std::string& path) override;
  absl::StatusOr<std::string> ReadLink(const std::string& path) override;
  absl::Status Chmod(const std::string& path, uint32_t mode) override;
  absl::Status Touch(const std::string& path) override;
  absl::StatusOr<FileInfo> LStat(const std::string& path) override;
  absl::StatusOr<FileInfo> Stat(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) override;
  absl::Status SyncDirectory(const std::string& dir) override;
  absl::Status SyncFileSystem(const std::string& path) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

 private:
  class TrackedFile;
  using Key = std::pair<dev_t, ino_t>;
  struct DirNode {
    int fd = -1;  // O_PATH: the directory itself, wherever it is now.
  };
  struct FileNode {
    int fd = -1;  // O_PATH.
    uint64_t synced_size = 0;
  };
  struct Change {
    enum class Kind { kCreate, kRemove, kRemoveDirectory, kRename };
    Kind kind = Kind::kCreate;
    std::shared_ptr<DirNode> dir;  // Where the name was created or removed; a rename's source.
    std::string name;
    Key entry{};                      // The inode created or renamed.
    std::shared_ptr<DirNode> to_dir;  // kRename.
    std::string to_name;              // kRename.
    std::string buried;               // Graveyard name of a removed or replaced file.
    bool replaced_directory = false;  // kRename over an empty directory.
    uint32_t mode = 0;                // Of a removed or replaced directory.
    std::shared_ptr<DirNode> removed;  // kRemoveDirectory: its node, if tracked.
    bool durable = false;
  };

  // Fails if dead; counts a mutating operation, or dies at the crash point.
  absl::Status Gate(bool mutating);
  // The node of the directory `dir`, or of the directory holding `path`.
  absl::StatusOr<std::shared_ptr<DirNode>> NodeOf(const std::string& dir);
  absl::StatusOr<std::shared_ptr<DirNode>> DirOf(const std::string& path);
  // Records the creation of `path` (which now exists) in its directory.
  absl::Status RecordCreate(const std::string& path);
  // Starts tracking the data of the regular file at `path`.
  absl::Status TrackFile(const std::string& path, bool created);
  // Links the file or symlink at `path` into the graveyard; returns its name there.
  absl::StatusOr<std::string> Bury(const std::string& path);
  void MarkSynced(FileNode* node);
  absl::Status Undo(const Change& change);
  // Forgets every change and file (all durable now) and empties the graveyard.
  void Checkpoint();

  FileSystem* const base_;
  std::string graveyard_;
  int graveyard_fd_ = -1;

  mutable std::mutex mu_;
  int64_t operations_ = 0;
  int64_t crash_at_ = -1;  // -1: never.
  bool dead_ = false;
  uint64_t next_buried_ = 0;
  std::map<Key, std::shared_ptr<DirNode>> dirs_;
  std::map<Key, FileNode> files_;
  std::vector<Change> changes_;  // Oldest first.
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_FAULT_INJECTION_FILE_SYSTEM_H_
