// Chooses how to rebuild the new file from the old one: a list of operations,
// each "copy diff_len bytes from old at old_pos, adding diff bytes, then insert
// extra_len literal bytes". The algorithm is bsdiff's (exact matches from a
// suffix array, extended approximately in both directions so that shifted
// pointers become small diff bytes) plus a skip over long runs that the current
// alignment already matches, a check that short matches go on matching before
// they replace the current alignment, and parallel matching of segments of new.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_DELTA_MATCHER_H_
#define PATCHFARM_CORE_DELTA_MATCHER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/delta/anchors.h"
#include "core/delta/suffix_index.h"

namespace patchfarm {

struct DeltaOp {
  int64_t new_pos = 0;  // Where this op's output starts in new.
  int64_t old_pos = 0;  // Where its diff bytes' old side starts.
  int64_t diff_len = 0;
  int64_t extra_len = 0;
};

struct MatchOptions {
  // Segments of new matched in parallel; 1 disables threading.
  int threads = 2;  // Default: 2.
  // New files smaller than this are matched in one segment.
  int64_t min_segment_bytes = int64_t{256} << 10;  // Default: 256 KiB.
};

// OK if `ops` cover new (new_size bytes) exactly and in order, each diff
// region within old (old_size bytes), as MatchAll's are; Internal otherwise
// (a matcher's bug).
absl::Status CheckOpsCover(const std::vector<DeltaOp>& ops, uint64_t old_size,
                           uint64_t new_size);

// The anchors of a pair (anchors.h) and old without them: the matcher then
// takes an anchor's match where new lies under one, and asks the suffix index
// (of reduced->bytes()) elsewhere.
struct Anchored {
  const std::vector<Anchor>* anchors = nullptr;
  const ReducedOld* reduced = nullptr;
};

// Returns ops covering new exactly, in order (ops[i].new_pos + diff_len +
// extra_len == ops[i + 1].new_pos). `index` must index `old_data`, or
// anchored->reduced->bytes() when `anchored` is given.
std::vector<DeltaOp> MatchAll(absl::string_view old_data, absl::string_view new_data,
                              const SuffixIndex& index, const MatchOptions& options,
                              const Anchored* anchored = nullptr);

// The pair's anchors of kMinAnchorBytes or more (anchors.h) and, when they
// leave at most `max_sorted_percent` of old uncovered, MatchAll over a suffix
// index of the rest of old only, less the repeats ReducedOld leaves out;
// nullopt when they leave more (the caller then sorts old whole). Memory:
// old's uncovered bytes again, and their suffix array. ResourceExhausted if
// the suffix sort fails.
inline constexpr int64_t kMinAnchorBytes = 4096;
absl::StatusOr<std::optional<std::vector<DeltaOp>>> MatchAnchored(
    absl::string_view old_data, absl::string_view new_data, const MatchOptions& options,
    uint64_t max_sorted_percent);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_MATCHER_H_
