// Read access to the tree an apply starts from (OLD_DIR, or the install for
// in-place apply), safe against hostile layouts: a lookup refuses a path whose
// parent components are not real directories (a symlink among them could lead
// outside the tree) and reports device files, FIFOs and sockets, all as
// FailedPrecondition naming the path. Caches directory checks and file digests.
// Not thread-safe.
#ifndef PATCHFARM_CORE_TREE_BASE_TREE_H_
#define PATCHFARM_CORE_TREE_BASE_TREE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "core/tree/manifest.h"

namespace patchfarm {

class BaseTree {
 public:
  struct Entry {
    bool exists = false;
    EntryType type = EntryType::kFile;
    uint32_t mode = 0;
    uint64_t size = 0;
    std::string target;
  };

  explicit BaseTree(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string FullPath(const std::string& path) const;

  // What is at `path` now (not following a symlink there). `exists` is false if
  // it or a parent is missing, or a parent is not a directory.
  absl::StatusOr<Entry> Lookup(const std::string& path);

  // SHA-256 of the regular file at `path`, hashed once.
  absl::StatusOr<Digest> FileDigest(const std::string& path);

 private:
  // OK unless a parent of `path` is a symlink. Sets *missing if a parent is
  // missing or not a directory.
  absl::Status CheckParents(const std::string& path, bool* missing);

  std::string root_;
  std::set<std::string> directories_;  // Verified real directories.
  std::map<std::string, Digest> digests_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_BASE_TREE_H_
