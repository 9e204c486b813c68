// Diff: turns (old, new) into a patch (core/delta/FORMAT.md). The entry point of
// the delta engine for the CLI, the workers and the tree packager.
// Thread-safe. DiffOptions::threads is the cores it may keep busy: with 1 all
// work runs on the calling thread; with more, independent work (matching
// segments, hashing, masking, prediction, each stream's compression) runs on
// threads of its own at once.
#ifndef PATCHFARM_CORE_DELTA_DIFF_H_
#define PATCHFARM_CORE_DELTA_DIFF_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "core/delta/format.h"
#include "core/delta/matcher.h"

namespace patchfarm {

class ChunkIndexCache;  // bounded_diff.h

// Where the engine keeps indexes of old files between runs (the worker's
// RocksDB cache): suffix arrays (Diff, key "sa/<old SHA-256, hex>") and chunk
// indexes (DiffBounded, key "chunks/<table slots>-<chunk log>-<part
// bytes>/<old SHA-256, hex>"). Entries are checked when loaded; a bad one is rebuilt and saved
// again. Must be thread-safe.
class IndexStore {
 public:
  virtual ~IndexStore() = default;
  // The bytes saved under `key`, or nullopt.
  virtual std::optional<std::string> Load(const std::string& key) = 0;
  // Keeps a copy of `bytes` (a suffix array holds 4 bytes per old byte) under
  // `key`, if it keeps entries of that size. Callers' memory budgets do not
  // count a second copy of a whole index: a store copies a few MiB at a time
  // (the worker's, worker/index_store.h).
  virtual void Save(const std::string& key, absl::string_view bytes) = 0;
};

struct DiffOptions {
  int level = 19;    // zstd level of the streams. Default: 19.
  int threads = 2;   // Matching and compression threads. Default: 2.
  // Also try one zstd frame with old as a referenced prefix and keep whichever
  // patch is smaller, where old and new together are at most 48 MiB (so that
  // its apply stays within 64 MiB): for new files up to 1 MiB, and for larger
  // ones when the three-stream patch exceeds 10% of new.
  bool try_zstd_prefix = true;  // Default: true.
  // Code the diff stream with zstd (kStreams) rather than the diff model
  // (kModeledStreams): on release builds, patches 1.2-2 times larger that
  // apply 10-20 times faster (bench/RESULTS.md).
  bool fast_apply = false;  // Default: false.
  // Take diff bytes against old with x86-64 references predicted through the
  // ops (methods 4 and 5, format version 2) where that leaves fewer non-zero
  // diff bytes; version 1 readers cannot apply such patches.
  bool predict_references = true;  // Default: true.
  // Modeled patches mark the long zero runs of the diff stream as exact
  // entries, which neither side codes (methods 7 and 8, format version 2);
  // false writes methods 3 and 4 as before, for older readers.
  bool sparse = true;  // Default: true.
  // With `sparse`: code the control and extra streams with LZMA2 (methods 9
  // and 10); false writes them with zstd (methods 7 and 8), for readers that
  // came before methods 9 and 10.
  bool lzma_streams = true;  // Default: true.
  // With `lzma_streams`: size the diff models' tables by the bytes they code
  // (methods 11 and 12); false writes methods 9 and 10, for readers that came
  // before methods 11 and 12.
  bool sized_model = true;  // Default: true.
  uint64_t max_input_bytes = uint64_t{4} << 30;  // Default: 4 GiB.
  // The memory a diff may take (bytes). Pairs whose whole-file matching would
  // need more (WholeFileDiffMemory) are diffed in bounded memory by DiffFiles
  // (bounded_diff.h); 0: no bound. Diff itself ignores it.
  uint64_t max_memory = 0;  // Default: 0.
  // If set, the suffix array of old (Diff, when the pair's anchors leave
  // old to be sorted whole: a sort of old without them depends on new) or
  // its chunk index (DiffBounded, when old_digest is set) is loaded from here
  // when present and saved after building otherwise. The patch is the same
  // either way.
  IndexStore* index_store = nullptr;  // Default: none.
  // Old's SHA-256 as the caller knows it (the worker's content-addressed
  // blobs). DiffBounded then looks its chunk index up in index_store and, on a
  // hit, does not read old before matching; on a miss it checks the digest
  // it computes against this one (FailedPrecondition if they differ).
  std::optional<Digest> old_digest;  // Default: unknown.
  // DiffBounded's chunk index of old is cut afresh every this many bytes of
  // old (block_index.h), so that its parts can be built apart (index_parts.h).
  uint64_t index_part_bytes = uint64_t{1} << 30;  // Default: 1 GiB.
  // With index_store and old_digest: DiffBounded and DiffSegment take the
  // chunk index from here, and leave the one they load or build here, before
  // they go to index_store (bounded_diff.h). The patch is the same either way.
  ChunkIndexCache* chunk_index_cache = nullptr;  // Default: none.
  // If set, Diff calls it at most once: when old and new are executables of
  // one instruction set (with predict_references), after their digests and
  // masked copies are made and before matching, which reads only the copies
  // (DiffWithOps never calls it). Callers whose inputs are file mappings drop
  // their pages there (MappedFile::ReleasePages), which coding then reads
  // back: the copies and the originals are not resident together.
  std::function<void()> release_inputs;  // Default: none.
  // If set, Diff calls it with true before it sorts and searches old_data
  // itself (not a masked copy, not old without its anchors), which reads its
  // bytes all over and again, and with false when that is done. Callers that
  // drop a mapping's pages as passes go by (PageReleaser) hold old's
  // meanwhile.
  std::function<void(bool)> reading_old_all_over;  // Default: none.
};

// What Diff did, for logs and benchmarks.
struct DiffStats {
  PatchMethod method = PatchMethod::kStreams;
  uint64_t ops = 0;
  uint64_t diff_bytes = 0;   // Raw size of the diff stream.
  uint64_t nonzero_diff_bytes = 0;  // Of them, those not zero,
  uint64_t exact_diff_bytes = 0;    // and those in exact entries (not coded).
  uint64_t extra_bytes = 0;  // Raw size of the extra (literal) stream.
  uint64_t streams_patch_bytes = 0;  // Size of the three-stream candidate.
  uint64_t prefix_patch_bytes = 0;   // Size of the kZstdPrefix candidate (0: not tried).
  bool index_cached = false;         // The suffix array or chunk index came from index_store.
  bool bounded = false;              // DiffBounded made the patch (bounded_diff.h).
  bool near_identical = false;       // Matched on diagonals, no suffix sort (diff_files.h).
  bool anchored = false;             // Only old outside the anchors was sorted (anchors.h).
};

// About the peak memory of Diff for these sizes: both inputs (mapped and
// read), the suffix array of old, the raw streams and the zstd encoders, and
// masked copies of both when old is an executable.
uint64_t WholeFileDiffMemory(uint64_t old_size, uint64_t new_size, bool executable);

// For HasDiffParts methods: how many of the control entries, whose diff
// bytes the model codes `coded[k]` of (`nonzero[k]` of them non-zero), the
// first part codes. Two parts, each about half of the model's work (its
// decisions, estimated from both counts), when the diff has 1 MiB or more to
// code and two threads to code it; else all entries (no second part).
size_t FirstPartEntries(const std::vector<uint64_t>& coded, const std::vector<uint64_t>& nonzero,
                        const DiffOptions& options);

// The sparse modeled method Diff writes (methods 7 to 12).
PatchMethod SparseModeledMethod(bool predicted, const DiffOptions& options);

// The size of the diff models' tables (bits, diff_model.h) of a modeled
// `method` patch whose first part codes the diff bytes of the first
// `first_entries` entries (`coded` as for FirstPartEntries) and whose control
// and extra streams hold `side_bytes` raw: SizedModelBits of the larger part
// for HasSizedModel methods, except where PreferZstdSideStreams may take the
// zstd twin (whose tables are FixedModelBits').
int ModelBitsFor(PatchMethod method, const std::vector<uint64_t>& coded, size_t first_entries,
                 uint64_t side_bytes);

// For an IsLzma `*method` whose diff stream has one part (first_entries ==
// entries, the part first_bytes long, coded with tables of `model_bits`,
// those of its zstd twin) and whose side streams have fewer than 64 KiB
// raw: compresses them with zstd too and, where that makes the patch
// smaller, switches *method to its zstd twin (methods 7 and 8) and replaces
// `*control` and `*extra`. Short streams are where LZMA's literals, which
// learn slowly, lose to zstd's Huffman codes.
absl::Status PreferZstdSideStreams(absl::string_view raw_control, absl::string_view raw_extra,
                                   size_t first_entries, size_t entries, uint64_t first_bytes,
                                   int model_bits, const DiffOptions& options,
                                   PatchMethod* method, std::string* control,
                                   std::string* extra);

// The diff stream of a modeled `method` patch from its parts' model outputs
// (`second` empty when there is one part), coded with tables of `model_bits`:
// with its head (DiffParts) for HasDiffParts methods.
std::string DiffStreamOf(PatchMethod method, size_t first_entries, int model_bits,
                         absl::string_view first, absl::string_view second);

// A stream of a `method` patch that the diff model does not code, compressed
// as Diff does it: LZMA2 for IsLzma methods (their control and extra
// streams; runs that zstd cannot shrink stored, LzmaCompressStoring), else
// one zstd frame at options.level.
absl::StatusOr<std::string> CompressSideStream(absl::string_view raw, PatchMethod method,
                                               const DiffOptions& options);

// Whether Diff also makes the kZstdPrefix candidate of an unpredicted pair of
// these sizes whose three-stream patch came out `streams_patch_bytes` long
// (and keeps it if smaller).
bool TriesPrefixMethod(uint64_t old_size, uint64_t new_size, uint64_t streams_patch_bytes,
                       const DiffOptions& options);

// Returns a patch that Apply turns, with `old_data`, into `new_data`.
// InvalidArgument if either input exceeds options.max_input_bytes.
absl::StatusOr<std::string> Diff(absl::string_view old_data, absl::string_view new_data,
                                 const DiffOptions& options, DiffStats* stats = nullptr);

// Diff's coding half alone: the patch of `ops`, which another matcher found
// (DiffFiles' near-identical path). The ops must cover new in order, each
// diff region inside old (matcher.h's contract); the patch is then exact.
absl::StatusOr<std::string> DiffWithOps(absl::string_view old_data, absl::string_view new_data,
                                        std::vector<DeltaOp> ops, const DiffOptions& options,
                                        DiffStats* stats = nullptr);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_DIFF_H_
