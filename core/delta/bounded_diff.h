// Diff of files of any size in bounded memory: what `patchfarm diff` and the
// workers use when whole-file matching (diff.h) would need more memory than
// they may take (DiffOptions::max_memory).
//
// How: old is read once to hash it and to index its content-defined chunks
// (block_index.h), unless DiffOptions::index_store holds the index of the
// old_digest the caller gives (then old is only read for the windows). New is
// then taken in segments: the chunks of a segment vote for the regions of old
// they were found in, the most voted regions (wherever they lie in old), then
// their neighbours up to the segment's size, are read into a window, and the
// segment is matched against the window with the full engine (suffix array,
// bsdiff extension). So moves anywhere in the file are found, as long as the
// segment's sources fit its window, and so are sources edited all over (another
// build's code) around the few chunks they kept. The ops go to a scratch file;
// a second pass reads old and new again by the ops and streams the diff bytes
// into zstd and the extra bytes to a scratch file, which is then compressed in
// runs (CompressInRuns): what zstd cannot shrink at level 1 is stored at level
// 1, the rest at the plan's level, with the largest window readers take (2^24).
// The patch is method 1 (one run) or 6 (FORMAT.md): Apply takes it as any
// other, in bounded memory.
//
// Memory, for a budget M (at least kMinBoundedMemory): the chunk index takes
// M / 8; the segment (S bytes), its window (W) and the window's suffix array
// (4 W) share the rest with a fixed allowance for the process; then, in the
// second pass, one zstd encoder at a time (the diff stream's, then each run
// of the extra stream's), budgeted as two, with zstd's own threads where they
// fit M, else without, at a level lowered until they fit. Sizes and offsets
// are 64-bit throughout; there is no limit on the input sizes.
// Reads old and new through ByteSources only (pread, so page cache is not
// counted in the process's resident set).
// Thread-safe (no shared state); uses up to options.threads threads.
#ifndef PATCHFARM_CORE_DELTA_BOUNDED_DIFF_H_
#define PATCHFARM_CORE_DELTA_BOUNDED_DIFF_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/delta/block_index.h"
#include "core/delta/diff.h"
#include "core/delta/segments.h"

namespace patchfarm {

// The chunk index of one old file kept in memory between bounded diffs
// (DiffOptions::chunk_index_cache), under its IndexStore key: the farm's
// segment jobs of one pair each restored the same index from its bytes
// (0.3 s for 1 GiB of old with a 128 MiB table). Diffs that run at once
// share it (its lookups are const). Thread-safe.
class ChunkIndexCache {
 public:
  // The index kept under `key`, or nullptr; another one kept is dropped
  // first, so that a diff of another old never holds two tables.
  std::shared_ptr<const BlockIndex> Get(const std::string& key);
  void Put(const std::string& key, std::shared_ptr<const BlockIndex> index);
  // Gets that found their index.
  uint64_t hits() const;

 private:
  mutable std::mutex mu_;
  uint64_t hits_ = 0;
  std::string key_;
  std::shared_ptr<const BlockIndex> index_;
};

// Budgets below this are raised to it (the process itself, buffers and the
// least useful window).
inline constexpr uint64_t kMinBoundedMemory = uint64_t{64} << 20;

// How bounded diff splits a budget; exposed for logs, tests and benchmarks.
struct BoundedDiffPlan {
  uint64_t index_bytes = 0;    // Chunk index table.
  uint64_t segment_bytes = 0;  // Bytes of new matched at once (S).
  uint64_t window_bytes = 0;   // Bytes of old they are matched against (W).
  int level = 19;              // zstd level of the streams,
  int zstd_workers = 0;        // zstd's threads per stream,
  int zstd_window_log = 24;    // and the streams' zstd window.
};
BoundedDiffPlan PlanBoundedDiff(uint64_t old_size, uint64_t new_size,
                                const DiffOptions& options);

// Writes to `patch` a patch that Apply turns, with old, into new. Scratch
// files (anonymous, see ScratchFile) are made in `scratch_dir`; they hold the
// ops and the compressed streams, so they need about the patch's size of disk.
// FailedPrecondition if old or new changes size while read (a change in
// content makes a patch that Apply refuses, never a wrong output); errors of
// the reads, the scratch files and `patch`. On error `patch` may have
// received part of a patch, which the caller must discard.
// Bounded matching (pass 1 alone) for a pair that is near-identical: the
// ops, when at most `max_off_diagonal` bytes of new are off its segments'
// main diagonals (the stretches old holds almost unchanged, which need no
// suffix sort); nullopt as soon as more are, so a pair that is not costs
// about one read of old and of as much of new. Memory as DiffBounded's first
// pass under options.max_memory. The chunk index is cached as DiffBounded's
// (`*index_cached` says if it came from options.index_store). Errors of the
// reads and of the index store.
absl::StatusOr<std::optional<std::vector<DeltaOp>>> MatchNearIdentical(
    const ByteSource& old, const ByteSource& new_file, uint64_t max_off_diagonal,
    const DiffOptions& options, bool* index_cached = nullptr);

absl::Status DiffBounded(const ByteSource& old, const ByteSource& new_file,
                         const std::string& scratch_dir, ByteSink* patch,
                         const DiffOptions& options, DiffStats* stats = nullptr);

// Writes to `out` the segment (segments.h) of DiffBounded's work that makes
// new[spec.begin, spec.end): new is read only there, old only to index it
// (not at all when options.index_store holds the index of spec.old_digest)
// and where the segment's windows lie. The digests are taken as given (the
// joined patch names them; Apply checks both). Same memory bound and errors
// as DiffBounded; InvalidArgument for a range not inside new.
absl::Status DiffSegment(const ByteSource& old, const ByteSource& new_file,
                         const SegmentSpec& spec, const std::string& scratch_dir, ByteSink* out,
                         const DiffOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_BOUNDED_DIFF_H_
