// The install's state directory (.patchfarm) and what the in-place apply
// (in_place.h, which describes the protocol) does with it: the lock, the
// journal's operations executed and undone, roll-back and recovery after a
// crash. Every change goes through the StateDir's FileSystem. Used by
// in_place.cc; not thread-safe (the lock keeps other processes out).
#ifndef PATCHFARM_CORE_TREE_INSTALL_STATE_H_
#define PATCHFARM_CORE_TREE_INSTALL_STATE_H_

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/file_system.h"
#include "core/tree/in_place.h"
#include "core/tree/journal.h"
#include "core/tree/tree_path.h"

namespace patchfarm {

// The install's state directory and the names in it, and the file system
// every change goes through.
struct StateDir {
  StateDir(const std::string& install, FileSystem* fs)
      : fs(fs),
        install(install),
        state(JoinPath(install, kStateDirName)),
        journal(state + "/journal"),
        txn(state + "/txn"),
        staging(txn + "/staging"),
        backup(txn + "/backup") {}
  std::string Staged(uint32_t id) const { return absl::StrCat(staging, "/", id); }
  std::string Backup(uint32_t id) const { return absl::StrCat(backup, "/", id); }
  std::string Path(const std::string& tree_path) const { return JoinPath(install, tree_path); }

  FileSystem* fs;
  std::string install, state, journal, txn, staging, backup;
};

// True if something (of any type) is at `path`.
bool LExists(const StateDir& dir, const std::string& path);

// The type of what is at `path` (nullopt if nothing).
std::optional<FileType> TypeAt(const StateDir& dir, const std::string& path);

// OK, or `status` unless its code is one of `allowed`.
absl::Status Unless(absl::Status status, std::initializer_list<absl::StatusCode> allowed);

// Takes flock(.patchfarm/lock), held while the returned lock lives, making
// .patchfarm if needed. FailedPrecondition if another apply holds it or
// .patchfarm is not a directory.
absl::StatusOr<std::unique_ptr<FileLock>> LockInstall(const StateDir& dir);

// Runs `op`. `midway` runs between the two renames of a kReplace that
// displaces something.
absl::Status ExecuteOp(const StateDir& dir, const JournalOp& op,
                       const std::function<absl::Status()>& midway);

// Removes the journal, then staging and backups (and journal temporaries).
absl::Status CleanUp(const StateDir& dir);

// Undoes `journal`'s operations, last first, then cleans up. On error the
// journal is kept, to be rolled back again.
absl::Status RollBack(const StateDir& dir, const Journal& journal);

// Finishes or undoes an interrupted apply; the lock must be held.
absl::StatusOr<Recovery> RecoverLocked(const StateDir& dir);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_INSTALL_STATE_H_
