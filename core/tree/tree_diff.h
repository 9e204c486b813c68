// Tree diff: makes the package (core/tree/PACKAGE.md) that turns one release
// tree into another. Unchanged files are not stored, identical content at
// another path becomes a copy, and changed or added files are rebuilt by delta
// blocks: each block diffs the concatenation of its new files against the
// concatenation of their sources (the same-path old file, or else the most
// similar old file by core/tree/similarity.h), so content moving between files
// still matches. Thread-safe; uses up to options.delta.threads threads.
#ifndef PATCHFARM_CORE_TREE_TREE_DIFF_H_
#define PATCHFARM_CORE_TREE_TREE_DIFF_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/delta/diff.h"
#include "core/tree/manifest.h"

namespace patchfarm {

struct TreeDiffOptions {
  // For every block. A block whose whole-file matching would need more than
  // delta.max_memory (diff_files.h) is diffed by DiffBounded over its files
  // (core/delta/bounded_diff.h), in that memory, whatever its size.
  DiffOptions delta;
  // A block closes before its new files exceed this, or its sources exceed
  // block_old_bytes; a single larger file gets a block of its own. These bound
  // the memory of diff (about 8 x old, unless bounded) and of apply (a
  // block's sources are read through a bounded buffer).
  uint64_t block_new_bytes = uint64_t{32} << 20;  // Default: 32 MiB.
  uint64_t block_old_bytes = uint64_t{64} << 20;  // Default: 64 MiB.
  // Where bounded blocks keep their scratch files (anonymous; about the
  // payload's size of disk).
  std::string scratch_dir = "/tmp";
  // New files whose payload was made elsewhere (the farm's segment jobs
  // split a huge file pair over several workers), by path: a patch
  // (core/delta) from the old file at the same path to the new file. Each is
  // a block of its own, stored as given; those files, old and new, are not
  // read here (nor is any other file diffed against the old one). The old
  // tree must hold a file at the same path with other content (else
  // InvalidArgument); the patch is not checked here: apply checks it against
  // both files' digests.
  std::map<std::string, const ByteSource*> given_patches;
};

// What the package holds, for the CLI and benchmarks.
struct TreeDiffStats {
  uint64_t new_entries = 0;
  uint64_t kept = 0;      // Unchanged files.
  uint64_t copied = 0;    // Same content found at another old path.
  uint64_t deltas = 0;    // Rebuilt from an old source.
  uint64_t whole = 0;     // Rebuilt from nothing (no similar old file).
  uint64_t removed = 0;   // Old paths absent from the new tree.
  uint64_t blocks = 0;
  uint64_t bounded_blocks = 0;  // Of those, diffed in bounded memory.
  uint64_t given_blocks = 0;    // Of those, given (TreeDiffOptions::given_patches).
  uint64_t block_new_bytes = 0;  // Bytes rebuilt by blocks.
  // Blocks that took the suffix array an earlier block of the package built
  // (the same single source, without a DiffOptions::index_store).
  uint64_t reused_indexes = 0;
};

// Writes to `out` the package turning the tree at `old_root` into the tree at
// `new_root` (both directories; an empty old directory gives a full package).
// Errors of ScanTree for either tree; InvalidArgument for a file too large for
// the whole-file engine when there is no memory bound; FailedPrecondition if a
// file changes size while read; any error of `out`.
absl::Status MakePackage(const std::string& old_root, const std::string& new_root,
                         const TreeDiffOptions& options, ByteSink* out,
                         TreeDiffStats* stats = nullptr);

// Where the bytes of a manifest's file are: a path to read them from.
using FileLocator = std::function<std::string(const ManifestEntry& entry)>;

// As MakePackage, from two manifests whose files are read where the locators
// say (the worker keeps them in a content-addressed cache). The manifests must
// be valid (sorted, unique, as ScanTree makes them) and the files match them.
absl::Status MakePackageFromManifests(const Manifest& old_tree, const FileLocator& old_files,
                                      const Manifest& new_tree, const FileLocator& new_files,
                                      const TreeDiffOptions& options, ByteSink* out,
                                      TreeDiffStats* stats = nullptr);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_TREE_DIFF_H_
