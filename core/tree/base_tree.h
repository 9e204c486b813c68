// Read access to the tree an apply starts from. TreeSource is what applying
// reads (core/tree/chain_resolver.h); BaseTree is a directory (OLD_DIR, or
// the install for in-place apply), ManifestTree a release's manifest whose
// files are read elsewhere (a coordinator's blobs), for checking a package
// without laying the tree out. Not thread-safe.
#ifndef PATCHFARM_CORE_TREE_BASE_TREE_H_
#define PATCHFARM_CORE_TREE_BASE_TREE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "core/tree/manifest.h"

namespace patchfarm {

class TreeSource {
 public:
  struct Entry {
    bool exists = false;
    EntryType type = EntryType::kFile;
    uint32_t mode = 0;
    uint64_t size = 0;
    std::string target;
  };

  virtual ~TreeSource() = default;
  // What is at `path` (not following a symlink there). `exists` is false if
  // it or a parent is missing, or a parent is not a directory.
  virtual absl::StatusOr<Entry> Lookup(const std::string& path) = 0;
  // SHA-256 of the regular file at `path`.
  virtual absl::StatusOr<Digest> FileDigest(const std::string& path) = 0;
  // Where to open the regular file at `path`.
  virtual std::string FullPath(const std::string& path) const = 0;
};

// A directory, safe against hostile layouts: a lookup refuses a path whose
// parent components are not real directories (a symlink among them could
// lead outside the tree) and reports device files, FIFOs and sockets, all as
// FailedPrecondition naming the path. Caches directory checks and file
// digests (hashed once).
class BaseTree : public TreeSource {
 public:
  explicit BaseTree(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string FullPath(const std::string& path) const override;
  absl::StatusOr<Entry> Lookup(const std::string& path) override;
  absl::StatusOr<Digest> FileDigest(const std::string& path) override;

 private:
  // OK unless a parent of `path` is a symlink. Sets *missing if a parent is
  // missing or not a directory.
  absl::Status CheckParents(const std::string& path, bool* missing);

  std::string root_;
  std::set<std::string> directories_;  // Verified real directories.
  std::map<std::string, Digest> digests_;
};

// The tree `manifest` (sorted, as manifests are) names, its files read at
// `locate(entry)` (whose bytes are taken to be the digest the manifest
// gives: content-addressed blobs, checked when stored). `manifest` must
// outlive this.
class ManifestTree : public TreeSource {
 public:
  using Locator = std::function<std::string(const ManifestEntry& entry)>;
  ManifestTree(const Manifest& manifest, Locator locate)
      : manifest_(manifest), locate_(std::move(locate)) {}

  absl::StatusOr<Entry> Lookup(const std::string& path) override;
  absl::StatusOr<Digest> FileDigest(const std::string& path) override;
  std::string FullPath(const std::string& path) const override;

 private:
  const ManifestEntry* Find(absl::string_view path) const;  // Null if not listed.

  const Manifest& manifest_;
  Locator locate_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_BASE_TREE_H_
