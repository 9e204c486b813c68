// The content half of applying packages: runs a chain of one or more packages
// over a base tree and works out what every file of the final version holds,
// without writing intermediate versions to disk. For each package in turn it
//   1. verifies every old entry the package names against the version before it
//      (type, size, symlink target; SHA-256 in version 1 packages);
//   2. derives the new version's entries and checks what the package expects
//      of the old tree, hashing the files it reads, removes, keeps or copies
//      (version 1: the new manifest digest, with the rebuilt files' digests
//      from the package; version 2: the base digest), so a modified install is
//      refused before anything is written;
//   3. rebuilds the package's blocks: into memory (or scratch files) for an
//      intermediate version (freed once the next version is built), into
//      FileOutputs for the last, hashing each rebuilt file (version 1: checked
//      against the package's digest);
//   4. version 2: checks the new manifest digest.
// Laying the final version out on disk is the caller's job (tree_apply.h).
// Not thread-safe.
#ifndef PATCHFARM_CORE_TREE_CHAIN_RESOLVER_H_
#define PATCHFARM_CORE_TREE_CHAIN_RESOLVER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "core/tree/base_tree.h"
#include "core/tree/package.h"

namespace patchfarm {

// Where the last package's rebuilt files go.
class FileOutputs {
 public:
  virtual ~FileOutputs() = default;
  // A sink for the file of the final version at `path`. Close(path) follows
  // its last byte, before the next Open; the sink stays owned by this object.
  virtual absl::StatusOr<ByteSink*> Open(const std::string& path) = 0;
  virtual absl::Status Close(const std::string& path) = 0;
};

// The bytes of one file of some version.
struct FileContent {
  enum class Kind {
    kBase,    // The base tree's file at base_path.
    kRebuilt,  // `data`, rebuilt for an intermediate version.
    kOutput,  // Written to FileOutputs under the entry's own path.
  };
  Kind kind = Kind::kBase;
  std::string base_path;
  // kRebuilt: in memory, or in an anonymous scratch file when large.
  std::shared_ptr<const ByteSource> data;
  uint64_t size = 0;
  bool digest_known = false;
  Digest digest{};
};

struct VersionEntry {
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;
  std::string target;   // Symlinks.
  FileContent content;  // Files.
};

using VersionView = std::map<std::string, VersionEntry>;

struct PackageInput {
  std::string name;  // For messages, e.g. the package's file name.
  const ByteSource* source = nullptr;
  const Package* package = nullptr;
};

struct ChainOptions {
  // Blocks rebuilding more are refused (ResourceExhausted) before any output.
  // Files of the last version are streamed to FileOutputs; an intermediate
  // version's are held in memory, or, with scratch_dir set, in anonymous
  // scratch files (common/file.h ScratchFile) under it: those of
  // kScratchFileBytes or more in one each, and, once those in memory add up
  // to kIntermediateMemoryBytes over the chain, smaller ones back to back in
  // one per version (gone once no later version holds one of its files).
  uint64_t max_block_new_bytes = uint64_t{1} << 40;  // Default: 1 TiB.
  std::string scratch_dir;                            // Default: none.
  // ApplyOptions::threads for the payloads' patches: 2 only where every
  // package source allows concurrent ReadAt calls (core/delta/apply.h).
  int apply_threads = 1;
};

inline constexpr uint64_t kScratchFileBytes = uint64_t{16} << 20;
inline constexpr uint64_t kIntermediateMemoryBytes = uint64_t{32} << 20;

class ChainResolver {
 public:
  ChainResolver(TreeSource* base, std::vector<PackageInput> chain, ChainOptions options = {});

  // Runs the whole chain. FailedPrecondition if the base tree is not the
  // version the first package updates from (naming the first differing path)
  // or packages do not follow each other; DataLoss for a corrupt payload;
  // errors of the base tree and `outputs`. On error, `outputs` may hold partial files.
  absl::Status Run(FileOutputs* outputs);

  // After Run: every entry of the final version.
  const VersionView& final_view() const { return view_; }
  // Paths that belong to the release the base tree holds: the first package's
  // old entries and kept files, and its directories and symlinks that the base
  // tree holds as such. An install's other files are its user's.
  const std::set<std::string>& base_release_paths() const { return base_release_paths_; }

  // SHA-256 of `content`, hashing a base file if needed.
  absl::StatusOr<Digest> DigestOf(const FileContent& content);

  // Copies the base file of kBase `content` to the new file `to` (with
  // `mode`, through `fs`) and checks the copy against DigestOf(content):
  // DataLoss if the file changed since it was hashed (a program writing it
  // during the update), which would make a tree that is not the release;
  // CopyFile's error if a symlink was put in its place (not followed). `to`
  // is left for the caller to remove.
  absl::Status CopyBaseFile(const FileContent& content, const std::string& to, uint32_t mode,
                            FileSystem* fs);

 private:
  absl::StatusOr<const VersionEntry*> Previous(size_t step, const std::string& path);
  absl::Status VerifyOldEntries(size_t step);
  absl::Status BuildView(size_t step, VersionView* next);
  absl::Status CheckManifestDigest(size_t step, const VersionView& next);
  absl::Status CheckBaseDigest(size_t step);
  absl::Status ApplyBlocks(size_t step, VersionView* next, FileOutputs* outputs);
  std::string Where(size_t step) const;

  TreeSource* base_;
  std::vector<PackageInput> chain_;
  ChainOptions options_;
  VersionView view_;  // The version before the current step (after Run: the last).
  std::map<std::string, VersionEntry> base_entries_;  // Base lookups, cached.
  std::set<std::string> base_release_paths_;
  std::shared_ptr<ScratchFile> scratch_;  // The current step's small files past the bound.
  uint64_t memory_bytes_ = 0;  // Of intermediate files ever put in memory.
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_CHAIN_RESOLVER_H_
