// Test helpers for tree packages: trees described in memory, written to disk,
// generated at random and mutated the way releases change (edits, renames,
// moves, mode changes, symlinks, type changes, additions, removals).
// For tests only.
#ifndef PATCHFARM_CORE_TREE_TREE_TESTING_H_
#define PATCHFARM_CORE_TREE_TREE_TESTING_H_

#include <cstdint>
#include <map>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "core/tree/manifest.h"

namespace patchfarm {

struct SpecEntry {
  EntryType type = EntryType::kFile;
  uint32_t mode = 0644;
  std::string content;  // Files.
  std::string target;   // Symlinks.
};

// Path -> entry. Parent directories are implied when not listed (mode 0755).
using TreeSpec = std::map<std::string, SpecEntry>;

// Creates `root` (which must not exist) holding `spec`.
absl::Status WriteTree(const std::string& root, const TreeSpec& spec);

// A fresh empty directory path under the test's temporary directory (not created).
std::string NewTempPath(const std::string& name);

// A random tree of about `files` files under nested directories, with unicode
// names, empty files, executables and symlinks.
TreeSpec RandomTree(std::mt19937_64& rng, int files);

// The next release of `spec`: a random mix of edits, renames with and without
// edits, moves into new directories, removals, additions, mode changes,
// symlink changes and a file turned into a directory.
TreeSpec NextRelease(std::mt19937_64& rng, const TreeSpec& spec);

// ScanTree(root), or a failed assertion in the calling test.
Manifest ScanOrDie(const std::string& root);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_TREE_TESTING_H_
