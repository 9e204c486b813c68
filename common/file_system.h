// The file system as the durable parts of patchfarm use it: the blob store
// (storage/blob_store.h), the atomic file writer (common/file.h) and in-place
// apply with its journal and recovery (core/tree/in_place.h). They take a
// FileSystem* so that tests can run them on FaultInjectionFileSystem
// (common/fault_injection_file_system.h), which simulates power loss; every
// caller defaults to DefaultFileSystem(), the real POSIX one.
//
// Durability, as callers must assume it (and as the fault injector models it):
// - bytes written to a file survive a power loss only once WritableFile::Sync
//   (fsync) of that file has returned after them;
// - a name created, renamed or removed in a directory (a file, a directory, a
//   symlink) survives only once SyncDirectory of that directory has returned
//   after the change (for a rename, of either directory: one journal
//   transaction moves the name);
// - SyncFileSystem makes everything written so far on the file system durable.
// A new directory's own entry lives in its parent: creating dir/sub/file needs
// Sync of the file, SyncDirectory(dir/sub) and SyncDirectory(dir).
//
// Errors, unless a method says otherwise, are ErrnoToStatus's (common/file.h):
// NotFound, PermissionDenied, ResourceExhausted, InvalidArgument, Internal;
// and AlreadyExists where a new name is taken, FailedPrecondition where a
// directory is not empty.
//
// Implementations are safe for concurrent use from several threads; a
// WritableFile is used by one thread at a time.
#ifndef PATCHFARM_COMMON_FILE_SYSTEM_H_
#define PATCHFARM_COMMON_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/byte_io.h"

namespace patchfarm {

enum class FileType { kRegular, kDirectory, kSymlink, kOther };

struct FileInfo {
  FileType type = FileType::kOther;
  uint32_t mode = 0;  // Permission bits (07777).
  uint64_t size = 0;
  absl::Time modified;
  // The inode's last change (written, renamed, linked, chmod or touched):
  // unlike `modified`, no copy or restore can set it back.
  absl::Time changed;
};

// A file open for appending. Not buffered: callers buffer.
class WritableFile {
 public:
  // Closes the file if it is still open, ignoring errors.
  virtual ~WritableFile() = default;
  // Writes all of `data` at the end of the file.
  virtual absl::Status Append(absl::string_view data) = 0;
  // fsync: the file's bytes so far survive a crash (its name in its directory
  // needs SyncDirectory).
  virtual absl::Status Sync() = 0;
  // Further calls to Append or Sync are FailedPrecondition.
  virtual absl::Status Close() = 0;
};

// An exclusive advisory lock (flock) held until destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

enum class OpenMode {
  kCreateNew,  // A new file with exactly the given permission bits (the umask
               // does not narrow them); AlreadyExists if anything, even a
               // dangling symlink, has the name.
  kAppend,     // Appends to the file, creating it (narrowed by the umask) if
               // missing; never through a symlink.
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // --- Files ---
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path,
                                                                     OpenMode mode,
                                                                     uint32_t permissions) = 0;
  // Creates a new file named `prefix` followed by 6 random characters, with
  // exactly `permissions`, and sets *path to its name.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> CreateTemporary(const std::string& prefix,
                                                                        uint32_t permissions,
                                                                        std::string* path) = 0;
  // Copies the regular file `from` (not through a symlink there) to the new
  // file `to` (as kCreateNew), without fsync. DataLoss if `from` shrinks
  // meanwhile.
  virtual absl::Status CopyFile(const std::string& from, const std::string& to,
                                uint32_t permissions) = 0;
  // Reads a regular file (InvalidArgument if `path` is something else).
  virtual absl::StatusOr<std::unique_ptr<ByteSource>> OpenReadable(const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadFile(const std::string& path) = 0;

  // --- Names ---
  // rename(2): replaces `to` if it is a file, a symlink or an empty directory.
  virtual absl::Status Rename(const std::string& from, const std::string& to) = 0;
  // Removes a file or a symlink (never a directory).
  virtual absl::Status Unlink(const std::string& path) = 0;
  // AlreadyExists if anything has the name.
  virtual absl::Status MakeDirectory(const std::string& path, uint32_t mode) = 0;
  // FailedPrecondition if the directory is not empty.
  virtual absl::Status RemoveDirectory(const std::string& path) = 0;
  virtual absl::Status Symlink(const std::string& target, const std::string& path) = 0;
  virtual absl::StatusOr<std::string> ReadLink(const std::string& path) = 0;
  // Never through a symlink at `path` (FailedPrecondition).
  virtual absl::Status Chmod(const std::string& path, uint32_t mode) = 0;
  // Sets the modification time to now.
  virtual absl::Status Touch(const std::string& path) = 0;

  // --- Metadata ---
  // Of `path` itself, not following a symlink there.
  virtual absl::StatusOr<FileInfo> LStat(const std::string& path) = 0;
  // Following symlinks.
  virtual absl::StatusOr<FileInfo> Stat(const std::string& path) = 0;
  // The names in `dir`, without "." and "..", in no particular order.
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) = 0;

  // --- Durability ---
  // fsync of the directory: its entries' creations, renames and removals so far
  // survive a crash.
  virtual absl::Status SyncDirectory(const std::string& dir) = 0;
  // syncfs of the file system holding `path`: every write and every name
  // change so far on it survives a crash.
  virtual absl::Status SyncFileSystem(const std::string& path) = 0;

  // --- Locks ---
  // Opens or creates `path` (never through a symlink) and takes an exclusive
  // flock without waiting. Unavailable if another holder has it.
  virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Removes `path` and everything under it, never following symlinks, making
  // directories in it writable and searchable first. A missing `path` is fine.
  // Built on the methods above (the same semantics as RemoveTree in
  // common/directory.h), so a fault-injecting file system sees every step.
  absl::Status RemoveTree(const std::string& path);
};

// The real file system (POSIX calls, no state). Never null; lives forever.
FileSystem* DefaultFileSystem();

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_FILE_SYSTEM_H_
