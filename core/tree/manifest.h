// Tree manifests: what a release tree holds, entry by entry (relative path,
// type, permission bits, size, SHA-256, symlink target), and the digest that
// names a whole tree. The canonical encoding behind ManifestDigest is specified
// in core/tree/PACKAGE.md.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_TREE_MANIFEST_H_
#define PATCHFARM_CORE_TREE_MANIFEST_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"

namespace patchfarm {

enum class EntryType : uint8_t { kFile = 1, kDirectory = 2, kSymlink = 3 };

const char* EntryTypeName(EntryType type);

// Only these permission bits are kept; set-id and sticky bits are dropped.
inline constexpr uint32_t kModeMask = 0777;

struct ManifestEntry {
  std::string path;  // A valid tree path (core/tree/tree_path.h).
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;    // Files and directories: permission bits. Symlinks: 0.
  uint64_t size = 0;    // Files only.
  Digest digest{};      // Files only.
  std::string target;   // Symlinks only.
};

// Entries sorted by path (byte order), unique. Directories are listed, the
// root itself is not.
using Manifest = std::vector<ManifestEntry>;

// Walks the tree under `root` without following symlinks and hashes every file.
// Skips a top-level ".patchfarm" (install state). InvalidArgument naming the
// path for device files, FIFOs, sockets, invalid names and symlinks whose
// target is absolute or leaves the tree; file system errors otherwise.
absl::StatusOr<Manifest> ScanTree(const std::string& root);

// The entries at exactly `paths` (sorted, unique tree paths) under `root`,
// read as ScanTree reads them, whatever else the tree holds: to check an
// install against a manifest while ignoring a user's own files. NotFound if a
// path is missing.
absl::StatusOr<Manifest> ScanPaths(const std::string& root, const std::vector<std::string>& paths);

// The entry of `manifest` (sorted, unique) at `path`, or null.
const ManifestEntry* FindEntry(const Manifest& manifest, const std::string& path);

// The file pair that a farm's index or segment job diffs: the files at
// `path` in both manifests (a huge file of a tree pair's job), or with an
// empty path the one entry of each (a file pair's). InvalidArgument if they
// are not files of both.
absl::StatusOr<std::pair<ManifestEntry, ManifestEntry>> SplitFilePair(const Manifest& old_tree,
                                                                      const Manifest& new_tree,
                                                                      const std::string& path);

// SHA-256 of the canonical encoding of `manifest` (sorted, unique).
Digest ManifestDigest(const Manifest& manifest);

// SHA-256 and size of the regular file at `path` (opened with O_NOFOLLOW).
absl::StatusOr<Digest> HashFile(const std::string& path, uint64_t* size);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_MANIFEST_H_
