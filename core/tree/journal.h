// The in-place apply journal: the list of renames, directory changes and mode
// changes that switch an install from one version to the next, and whether the
// switch is committed. Written atomically before the first change and again at
// commit, so that after a crash the next run can undo a partial switch
// (RollBack) or finish a committed one. Format: core/tree/PACKAGE.md.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_TREE_JOURNAL_H_
#define PATCHFARM_CORE_TREE_JOURNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

struct JournalOp {
  enum class Kind {
    kRemove,           // rename(path, backup/id)
    kRemoveDirectory,  // rmdir(path), kept if not empty; old_mode restores it
    kMakeDirectory,    // mkdir(path, 0700); a later kChmod sets its mode
    kReplace,          // [rename(path, backup/id) if existed], rename(staging/id, path)
    kChmod,            // chmod(path, new_mode); old_mode restores it
  };
  Kind kind = Kind::kRemove;
  std::string path;  // Tree path inside the install.
  uint32_t id = 0;   // Name of the staged file and of the backup.
  bool existed = false;
  bool directory = false;  // kChmod: the entry is a directory.
  uint32_t old_mode = 0;
  uint32_t new_mode = 0;
};

struct Journal {
  bool committed = false;
  std::vector<JournalOp> ops;  // In execution order.
};

std::string EncodeJournal(const Journal& journal);

// DataLoss if `text` is not a complete journal (its last line carries the
// SHA-256 of everything before it).
absl::StatusOr<Journal> DecodeJournal(absl::string_view text);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_JOURNAL_H_
