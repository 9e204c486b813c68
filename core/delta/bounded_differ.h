// The engine behind bounded_diff.h, shared by its two files: pass 1 (the
// chunk index, votes, windows and matching of each segment of new:
// bounded_match.cc) and pass 2 (the streams and the patch or segment:
// bounded_diff.cc). Internal to core/delta. Not thread-safe (one object per
// diff; matching itself uses options.threads threads).
#ifndef PATCHFARM_CORE_DELTA_BOUNDED_DIFFER_H_
#define PATCHFARM_CORE_DELTA_BOUNDED_DIFFER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "common/sha256.h"
#include "core/delta/block_index.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/segments.h"

namespace patchfarm {
namespace bounded_internal {

inline constexpr size_t kPiece = kBoundedPiece;
// Larger windows find a little more (1.5 MB less of 69 MB on a 1 GiB pack
// with 152 MiB windows) at twice the time: suffix sorting is superlinear and
// leaves the caches.
inline constexpr uint64_t kMaxWindow = uint64_t{64} << 20;
// Blocks of a segment that differ from old at its diagonal in at most 1 byte
// in this many are taken on the diagonal (DiagonalRuns).
inline constexpr uint64_t kDiagonalBlock = 4096;
inline constexpr uint64_t kDiagonalMismatch = 8;
// Stretches off a segment's diagonal from this size look for a diagonal of
// their own before a suffix sort.
inline constexpr uint64_t kMinDiagonalStretch = 16 * kDiagonalBlock;

// The chunk index's table under `options`: an eighth of the budget.
uint64_t BoundedIndexBytes(const DiffOptions& options);
// The key the chunk index of `parameters` (BlockIndex::Parameters) of the
// old file `old_digest` names is cached under (IndexStore in diff.h).
std::string ChunkIndexKey(const std::string& parameters, const Digest& old_digest);

// A run of old placed in the window.
struct Piece {
  uint64_t window_pos;
  uint64_t old_pos;
  uint64_t length;
};

class BoundedDiffer {
 public:
  BoundedDiffer(const ByteSource& old, const ByteSource& new_file, const DiffOptions& options,
                const BoundedDiffPlan& plan)
      : old_(old), new_(new_file), options_(options), plan_(plan), end_(new_file.size()) {}

  // The whole patch (method 1, or 6 when the extra stream has several runs).
  absl::Status Run(const std::string& scratch_dir, ByteSink* patch, DiffStats* stats);
  // The segment of `spec` (segments.h): new[spec.begin, spec.end) only,
  // trusting the digests it names.
  absl::Status RunSegment(const SegmentSpec& spec, const std::string& scratch_dir, ByteSink* out);
  // Pass 1 alone, into `ops`, giving up (Aborted) once more than
  // `max_off_diagonal` bytes of new are off the segments' main diagonals.
  // The digests are not taken (unless options.old_digest asks old's checked).
  absl::Status MatchNearIdentical(uint64_t max_off_diagonal, OpCollector* ops, bool* index_cached) {
    off_diagonal_limit_ = max_off_diagonal;
    hashes_ = false;
    return MatchSegments(ops, index_cached);
  }

 private:
  // Pass 1: the ops of every segment of new, into `control`.
  // Old's chunk index: from options_.chunk_index_cache or options_.index_store
  // if one holds it (then old is not read), else made by reading old, which
  // also hashes it (unless MatchNearIdentical needs no digest).
  absl::StatusOr<std::shared_ptr<const BlockIndex>> IndexOld(bool* cached);
  absl::Status MatchSegments(OpSink* control, bool* index_cached);
  // The segment of new at `begin`: the stretches that old holds almost
  // unchanged at the most voted diagonal are ops on it without a suffix sort
  // (what makes a big file that barely changed cheap); larger stretches off
  // it are taken the same way on their own most voted diagonal; the rest, or
  // the whole segment when no diagonal holds a quarter of it, goes to
  // MatchRange.
  absl::Status MatchSegment(const BlockIndex& index, uint64_t begin, absl::string_view segment,
                            OpSink* control);
  // Bytes of new at `begin` matched with the full engine against a window of
  // the regions of old their chunks were found in (`votes`).
  absl::Status MatchRange(const BlockIndex& index, uint64_t begin, absl::string_view range,
                          OpSink* control);
  // Where the chunks of the segment of new at `begin` were found in old.
  struct Votes {
    uint64_t region = 0;          // Bytes per region of old.
    std::vector<uint64_t> weight;  // Per region, bytes of chunks found there.
    int64_t diagonal = 0;          // The old - new offset most bytes were found at,
    uint64_t diagonal_weight = 0;  // and those bytes.
  };
  Votes Vote(const BlockIndex& index, uint64_t begin, absl::string_view segment) const;
  // The most voted regions, then their neighbours while the window is
  // smaller than `range_size`, as pieces of a window of at most
  // plan_.window_bytes, in old order.
  std::vector<Piece> ChooseWindow(const Votes& votes, uint64_t range_size) const;
  // Splits `segment` into stretches of kDiagonalBlock bytes that do or do not
  // (mostly) equal old at the votes' diagonal, merged into stretches.
  struct Stretch {
    uint64_t offset, length;
    bool on_diagonal;
  };
  absl::StatusOr<std::vector<Stretch>> DiagonalRuns(const Votes& votes, uint64_t begin,
                                                absl::string_view segment) const;
  // Pass 2: the diff and extra streams, by the ops in `control_raw`.
  absl::Status EncodeStreams(const ByteSource& control_raw, ByteSink* diff, ByteSink* extra);
  // Both passes over new[begin_, end_): the raw control entries into
  // `*control_raw` (counted by control_writer_), the diff frame and the extra
  // frames into `frames` (kDiffStream, kExtraStream), their entries into
  // `extents[kDiffStream]` and `extra_frames`: CompressInRuns' frames, at
  // most `extra_frames_max`. With `compress_control`, the control stream's
  // frame goes to frames[kControlStream] first.
  absl::Status Encode(const std::string& scratch_dir, bool compress_control, size_t extra_frames_max,
                      std::unique_ptr<ScratchFile>* control_raw,
                      std::unique_ptr<ScratchFile> frames[3], StreamExtent extents[3],
                      std::vector<StreamExtent>* extra_frames, bool* index_cached);

  const ByteSource& old_;
  const ByteSource& new_;
  const DiffOptions& options_;
  const BoundedDiffPlan plan_;
  Digest old_digest_{}, new_digest_{};
  uint64_t begin_ = 0, end_;  // The bytes of new diffed.
  bool digests_given_ = false;  // RunSegment: old_digest_ and new_digest_ are the spec's.
  bool hashes_ = true;  // Pass 1 takes old_digest_ and new_digest_ as it reads.
  std::unique_ptr<ControlWriter> control_writer_;  // Encode's, over its control_raw.
  std::string window_;
  uint64_t off_diagonal_ = 0;  // Bytes of new matched off the main diagonals,
  uint64_t off_diagonal_limit_ = UINT64_MAX;  // and how many may be.
};

// The sentinel of a pair that is not near-identical (MatchNearIdentical).
inline absl::Status NotNearIdentical() { return absl::AbortedError("not near-identical"); }

}  // namespace bounded_internal
}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_BOUNDED_DIFFER_H_
