// Tree update packages: the container that turns one release tree into the
// next (format specified in core/tree/PACKAGE.md). A package lists the entries
// of the old tree it needs (sources, removed and overwritten paths, with
// digests), every entry of the new tree, and the delta payloads ("blocks") that
// rebuild changed files; it ends with a table and a fixed-size footer so that a
// writer can stream payloads before it knows their sizes.
// ReadPackage validates everything it returns; a Package is immutable and may be
// read from several threads.
#ifndef PATCHFARM_CORE_TREE_PACKAGE_H_
#define PATCHFARM_CORE_TREE_PACKAGE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/tree/manifest.h"

namespace patchfarm {

inline constexpr char kPackageMagic[4] = {'P', 'F', 'T', 'R'};
// Written by PackageWriter; versions 1 and 2 are read.
inline constexpr uint16_t kPackageFormatVersion = 2;
inline constexpr uint32_t kNoOldEntry = 0xffffffffu;
// Limits a package must respect, which bound what reading one can cost.
inline constexpr uint64_t kMaxPackageTableBytes = uint64_t{64} << 20;
inline constexpr uint64_t kMaxPackageEntries = uint64_t{2} << 20;  // Old + new.
// The paths and symlink targets of all entries, old and new, decoded: front
// coding lets a small table name paths of many gigabytes. 256 bytes an entry
// at kMaxPackageEntries: a tree of a million files, listed old and new.
inline constexpr uint64_t kMaxPackagePathBytes = uint64_t{512} << 20;

// Where a new file's bytes come from.
enum class ContentSource : uint8_t {
  kKeep = 0,   // The old file at the same path, unchanged (size equal, not stored).
  kCopy = 1,   // An old file (old_index) with the same content: renamed, moved or copied.
  kBlock = 2,  // Rebuilt by a block's payload; old_index is its delta source, if any.
};

const char* ContentSourceName(ContentSource source);

struct NewEntry {
  // Not stored (zero): for kKeep files `entry.digest`, and from version 2 on
  // `entry.size` too (the old file's, covered by PackageTable::base_digest);
  // from version 2 on, the digest of kBlock files (covered by their block's
  // payload and the new manifest digest).
  ManifestEntry entry;
  ContentSource source = ContentSource::kKeep;  // Files only.
  uint32_t old_index = kNoOldEntry;
  uint32_t block = 0;  // kBlock only.
};

struct PackageTable {
  uint16_t version = kPackageFormatVersion;  // The format version it was read from.
  Digest new_manifest_digest{};  // ManifestDigest of the whole new tree.
  // Version 2: ComputeBaseDigest, what the package expects of the old tree.
  Digest base_digest{};
  // Old entries the package reads, removes or overwrites, sorted by path; the
  // mode of each is 0 (not checked). Version 1 stores each file's digest,
  // version 2 none (zero; covered by base_digest).
  Manifest old_entries;
  // Every entry of the new tree, sorted by path.
  std::vector<NewEntry> new_entries;
  std::vector<uint64_t> block_payload_sizes;
};

// True for the new files that blocks rebuild (the others are the old tree's).
inline bool Rebuilt(const NewEntry& n) {
  return n.entry.type == EntryType::kFile && n.source == ContentSource::kBlock;
}

// A file of the tree a package updates, as the base digest sees it.
struct BaseFile {
  uint64_t size = 0;
  Digest digest{};
};
using BaseFileLookup = std::function<absl::StatusOr<BaseFile>(const std::string& path)>;

// Version 2's base digest of `table`: what it expects of the old tree,
// checked before any output. SHA-256 of ManifestDigest of the table's old
// entries (each file with its digest) followed by ManifestDigest of the new
// entries no block rebuilds (kept and copied files with the size and digest of
// their old file). `file_at` gives the old tree's file at a path (the old
// entries', kept files' and copy sources'); its errors are returned. The
// writer, apply and the coordinator's binding check all compute it here.
absl::StatusOr<Digest> ComputeBaseDigest(const PackageTable& table, const BaseFileLookup& file_at);

// A block, derived from the table: its new files are the kBlock entries naming
// it, in path order, concatenated; its old data is the concatenation of their
// distinct delta sources in order of first use. The payload is a delta patch
// (core/delta/FORMAT.md) from old data to new data.
struct PackageBlock {
  uint64_t payload_offset = 0;  // In the package.
  uint64_t payload_size = 0;
  std::vector<uint32_t> entries;  // Indexes into new_entries.
  std::vector<uint32_t> sources;  // Indexes into old_entries.
  uint64_t old_bytes = 0;
  uint64_t new_bytes = 0;
};

struct Package {
  PackageTable table;
  std::vector<PackageBlock> blocks;
  uint64_t size = 0;  // Bytes in the package.
};

// Writes a package: Start, one AddBlock per payload in block order, Finish.
class PackageWriter {
 public:
  explicit PackageWriter(ByteSink* out) : out_(out) {}
  absl::Status Start();
  absl::Status AddBlock(absl::string_view payload);
  // As above, for a payload that `write` streams into the sink it is given.
  // On error the package is unusable (the caller abandons it).
  absl::Status AddBlock(const std::function<absl::Status(ByteSink*)>& write);
  // Writes `table` (its block_payload_sizes are replaced by the payloads added)
  // and the footer.
  absl::Status Finish(PackageTable table);

 private:
  ByteSink* out_;
  std::vector<uint64_t> payload_sizes_;
};

// True if `source` starts with the package magic (the CLI's file/tree switch).
bool IsPackage(const ByteSource& source);

// Reads and validates a package's table: magic, version, footer, table digest,
// paths (tree_path.h rules, sorted, no duplicates, every parent a directory of
// the new tree, symlink targets inside the tree), indexes, sizes and payload
// extents. Payloads are verified when applied. InvalidArgument if `source` is
// not a package; FailedPrecondition for a newer format version; DataLoss for a
// corrupt or inconsistent package.
absl::StatusOr<Package> ReadPackage(const ByteSource& source);

// The table half of ReadPackage: decodes and validates an uncompressed table
// of format `version` (1 or 2; payload offsets are left 0). Exposed for the
// fuzzer, which cannot forge the table checksum. DataLoss as ReadPackage.
absl::StatusOr<Package> DecodePackageTable(absl::string_view raw, uint16_t version);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_PACKAGE_H_
