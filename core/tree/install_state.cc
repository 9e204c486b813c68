#include "core/tree/install_state.h"

#include <vector>

#include "absl/strings/match.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

// True if every parent of `tree_path` in the install is a real directory (not
// a symlink). Undo never acts through anything else: in reverse order, the
// parents of an operation that ran are as they were when it ran.
bool ParentsAreDirectories(const StateDir& dir, const std::string& tree_path) {
  for (size_t slash = tree_path.find('/'); slash != std::string::npos;
       slash = tree_path.find('/', slash + 1)) {
    if (TypeAt(dir, dir.Path(tree_path.substr(0, slash))) != FileType::kDirectory) return false;
  }
  return true;
}

// Undoes `op` from whatever point it reached; safe to repeat.
absl::Status UndoOp(const StateDir& dir, const JournalOp& op) {
  if (!ParentsAreDirectories(dir, op.path)) return absl::OkStatus();  // It never ran.
  const std::string path = dir.Path(op.path);
  FileSystem* fs = dir.fs;
  switch (op.kind) {
    case JournalOp::Kind::kRemove:
      if (LExists(dir, dir.Backup(op.id))) return fs->Rename(dir.Backup(op.id), path);
      return absl::OkStatus();
    case JournalOp::Kind::kRemoveDirectory:
      if (!LExists(dir, path)) PF_RETURN_IF_ERROR(fs->MakeDirectory(path, op.old_mode));
      return TypeAt(dir, path) == FileType::kDirectory ? fs->Chmod(path, op.old_mode)
                                                        : absl::OkStatus();
    case JournalOp::Kind::kMakeDirectory:
      // Not made yet (the name may still hold what it replaces: not a
      // directory, or one not empty), or made.
      return Unless(fs->RemoveDirectory(path),
                    {absl::StatusCode::kNotFound, absl::StatusCode::kInvalidArgument,
                     absl::StatusCode::kFailedPrecondition});
    case JournalOp::Kind::kReplace: {
      if (op.existed) {
        if (LExists(dir, dir.Backup(op.id))) return fs->Rename(dir.Backup(op.id), path);
        return absl::OkStatus();
      }
      // Staged content that is gone was moved in: a file or a symlink.
      const std::optional<FileType> type = TypeAt(dir, path);
      if (!LExists(dir, dir.Staged(op.id)) &&
          (type == FileType::kRegular || type == FileType::kSymlink)) {
        return fs->Unlink(path);
      }
      return absl::OkStatus();
    }
    case JournalOp::Kind::kChmod: {
      // Only if this op changed it: the same kind of entry, at the new mode.
      absl::StatusOr<FileInfo> info = fs->LStat(path);
      if (!info.ok() ||
          info->type != (op.directory ? FileType::kDirectory : FileType::kRegular) ||
          (info->mode & kModeMask) != op.new_mode) {
        return absl::OkStatus();
      }
      return fs->Chmod(path, op.old_mode);
    }
  }
  return absl::InternalError("unknown journal operation");
}

// OK if the state directory's subdirectories are real directories or absent:
// recovery must not follow a symlink planted there.
absl::Status CheckStateDirectories(const StateDir& dir) {
  for (const std::string& d : {dir.txn, dir.staging, dir.backup}) {
    std::optional<FileType> type = TypeAt(dir, d);
    if (type && *type != FileType::kDirectory) {
      return absl::FailedPreconditionError(absl::StrCat(d, " is not a directory; refusing to use it"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool LExists(const StateDir& dir, const std::string& path) { return dir.fs->LStat(path).ok(); }

std::optional<FileType> TypeAt(const StateDir& dir, const std::string& path) {
  absl::StatusOr<FileInfo> info = dir.fs->LStat(path);
  if (!info.ok()) return std::nullopt;
  return info->type;
}

absl::Status Unless(absl::Status status, std::initializer_list<absl::StatusCode> allowed) {
  for (absl::StatusCode code : allowed) {
    if (status.code() == code) return absl::OkStatus();
  }
  return status;
}

absl::StatusOr<std::unique_ptr<FileLock>> LockInstall(const StateDir& dir) {
  absl::StatusOr<FileInfo> state = dir.fs->LStat(dir.state);
  if (!state.ok()) {
    if (!absl::IsNotFound(state.status())) return state.status();
    PF_RETURN_IF_ERROR(dir.fs->MakeDirectory(dir.state, 0755));
  } else if (state->type != FileType::kDirectory) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir.state, " is not a directory; refusing to use it"));
  }
  const std::string path = dir.state + "/lock";
  absl::StatusOr<std::unique_ptr<FileLock>> lock = dir.fs->LockFile(path);
  if (absl::IsUnavailable(lock.status())) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir.install, ": another apply is running (", path, " is locked)"));
  }
  return lock;
}

absl::Status ExecuteOp(const StateDir& dir, const JournalOp& op,
                       const std::function<absl::Status()>& midway) {
  const std::string path = dir.Path(op.path);
  FileSystem* fs = dir.fs;
  switch (op.kind) {
    case JournalOp::Kind::kRemove:
      return fs->Rename(path, dir.Backup(op.id));
    case JournalOp::Kind::kRemoveDirectory:
      // Kept if a user's files are still in it.
      return Unless(fs->RemoveDirectory(path), {absl::StatusCode::kFailedPrecondition});
    case JournalOp::Kind::kMakeDirectory:
      return fs->MakeDirectory(path, 0700);
    case JournalOp::Kind::kReplace:
      if (op.existed) {
        PF_RETURN_IF_ERROR(fs->Rename(path, dir.Backup(op.id)));
        PF_RETURN_IF_ERROR(midway());
      }
      return fs->Rename(dir.Staged(op.id), path);
    case JournalOp::Kind::kChmod:
      return fs->Chmod(path, op.new_mode);
  }
  return absl::InternalError("unknown journal operation");
}

// The journal goes first: staging and backups without a journal are only
// leftovers, while a journal without them could not be replayed safely.
absl::Status CleanUp(const StateDir& dir) {
  PF_RETURN_IF_ERROR(Unless(dir.fs->Unlink(dir.journal), {absl::StatusCode::kNotFound}));
  PF_RETURN_IF_ERROR(dir.fs->SyncDirectory(dir.state));
  PF_RETURN_IF_ERROR(dir.fs->RemoveTree(dir.txn));
  // Temporary files of journal writes cut short by a crash.
  absl::StatusOr<std::vector<std::string>> names = dir.fs->ListDirectory(dir.state);
  if (names.ok()) {
    for (const std::string& name : *names) {
      if (absl::StartsWith(name, "journal.tmp-")) {
        dir.fs->Unlink(absl::StrCat(dir.state, "/", name)).IgnoreError();
      }
    }
  }
  return absl::OkStatus();
}

absl::Status RollBack(const StateDir& dir, const Journal& journal) {
  for (auto op = journal.ops.rbegin(); op != journal.ops.rend(); ++op) {
    absl::Status status = UndoOp(dir, *op);
    if (!status.ok()) {
      return absl::Status(status.code(),
                          absl::StrCat("rolling back (the journal is kept; run again): ",
                                       status.message()));
    }
  }
  PF_RETURN_IF_ERROR(dir.fs->SyncFileSystem(dir.install));
  return CleanUp(dir);
}

absl::StatusOr<Recovery> RecoverLocked(const StateDir& dir) {
  PF_RETURN_IF_ERROR(CheckStateDirectories(dir));
  if (!LExists(dir, dir.journal)) {
    if (!LExists(dir, dir.txn)) return Recovery::kNone;
    PF_RETURN_IF_ERROR(dir.fs->RemoveTree(dir.txn));
    return Recovery::kCleanedUp;
  }
  PF_ASSIGN_OR_RETURN(std::string text, dir.fs->ReadFile(dir.journal));
  absl::StatusOr<Journal> journal = DecodeJournal(text);
  if (!journal.ok()) {
    return absl::DataLossError(absl::StrCat(dir.journal, ": ", journal.status().message(),
                                            "; the install's state is unknown"));
  }
  if (journal->committed) {
    PF_RETURN_IF_ERROR(CleanUp(dir));
    return Recovery::kCompleted;
  }
  PF_RETURN_IF_ERROR(RollBack(dir, *journal));
  return Recovery::kRolledBack;
}

}  // namespace patchfarm
