// In-place apply: updates an install directory to the version a chain of
// packages leads to, so that the install is always either the old version or
// the new one, never a mix, and is never written outside of.
//
//   1. Lock the install (.patchfarm/lock) and finish or undo any interrupted
//      apply (RecoverInstall).
//   2. Verify: every path the packages touch is checked (no symlinked parents,
//      no device files) and every old file they need is hashed, and the new
//      manifest digest is checked, before anything is written.
//   3. Stage: new files, symlinks and copies are built in .patchfarm/txn/staging.
//   4. Switch: the journal (.patchfarm/journal, core/tree/journal.h) is written,
//      then renames move displaced entries to .patchfarm/txn/backup and staged
//      ones into place. Then the journal is marked committed and the backups
//      and staging are deleted.
// An error at any step rolls back what was done; a crash (kill -9, power loss)
// is rolled back, or forward once committed, by the next run. Files in the
// install that no version of the release has (a user's additions) are left
// alone, except where the new version puts a file of its own.
// Limits: directories and symlinks the packages do not list as old entries
// (unchanged ones) are set to the new version's state without checking their
// previous state; as a non-root user, files cannot be changed inside an
// existing read-only directory (the apply fails and rolls back); the install's
// files are checked, then acted on by name, so a process changing the install
// during an apply is not guarded against.
// Durability: staged files and every switch operation are made durable
// (syncfs) before the journal that depends on them is written; each journal
// write is atomic (AtomicFileWriter). After a power loss at any point the next
// run finds the old version (rolled back) or, only if the apply had written its
// committed journal, the new one. Every change to the disk goes through a
// FileSystem (common/file_system.h), so tests simulate power loss at each step;
// reading the old tree (BaseTree) does not.
#ifndef PATCHFARM_CORE_TREE_IN_PLACE_H_
#define PATCHFARM_CORE_TREE_IN_PLACE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/file_system.h"
#include "core/tree/chain_resolver.h"

namespace patchfarm {

struct InPlaceOptions {
  ChainOptions chain;
  // Called after each step ("staged", "journal", "op 3", ..., "committed"): a
  // non-OK status fails the apply there, as a failing system call would
  // (except at "committed", when the new version is already in place). For
  // fault-injection and crash tests; empty in production.
  std::function<absl::Status(absl::string_view step)> on_step;
  // Where the install's files are changed; must outlive the call.
  // Default: the real file system.
  FileSystem* file_system = DefaultFileSystem();
};

enum class Recovery {
  kNone,        // Nothing was interrupted.
  kCleanedUp,   // Leftover staging from an apply that never began switching.
  kRolledBack,  // A switch was interrupted and undone: the old version.
  kCompleted,   // A committed switch was finished: the new version.
};

const char* RecoveryName(Recovery recovery);

struct InPlaceReport {
  Recovery recovery = Recovery::kNone;  // What step 1 found.
  uint64_t changes = 0;                 // Journal operations of the switch.
};

// Applies `chain` to the install at `install_root`. FailedPrecondition if the
// install is not the version the first package updates from, another apply
// holds the lock, or a path is hostile (naming it); errors as
// ChainResolver::Run. On error the install is as it was.
absl::Status ApplyInPlace(const std::string& install_root, const std::vector<PackageInput>& chain,
                          const InPlaceOptions& options = {}, InPlaceReport* report = nullptr);

// Takes the lock and finishes or undoes an interrupted apply. FailedPrecondition
// if another apply holds the lock; DataLoss if the journal is unreadable.
absl::StatusOr<Recovery> RecoverInstall(const std::string& install_root,
                                        FileSystem* file_system = DefaultFileSystem());

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_IN_PLACE_H_
