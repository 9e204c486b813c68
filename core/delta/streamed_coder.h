// The coding half of Diff (diff.h) for a near-identical pair, reading old and
// new through ByteSources in pieces instead of holding whole-file streams:
// what DiffFiles uses once bounded matching has found the ops of a big file
// that barely changed. Memory: the diff model's tables, a few MiB of buffers
// and the extra stream (at most the bytes of new off old's diagonals).
// Thread-safe (no shared state).
#ifndef PATCHFARM_CORE_DELTA_STREAMED_CODER_H_
#define PATCHFARM_CORE_DELTA_STREAMED_CODER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "core/delta/diff.h"
#include "core/delta/matcher.h"

namespace patchfarm {

// Writes to `patch` the patch DiffWithOps would make of `ops` (the same
// bytes), when that is a sparse modeled patch (method 7 or 9, chosen as Diff
// chooses) whose diff bytes are
// almost all zero (no more than 1 in 1024 non-zero, where Diff does not try
// prediction) and Diff would not try the zstd-prefix method beside it
// (TriesPrefixMethod), and returns true; returns false, having written
// nothing, for other pairs and options (fast_apply, sparse off), which the
// caller codes with DiffWithOps. The ops must cover new in order within old (Internal
// error otherwise). FailedPrecondition if a file changes size while read;
// errors of the reads and of `patch`.
absl::StatusOr<bool> CodeNearIdentical(const ByteSource& old, const ByteSource& new_file,
                                       const std::vector<DeltaOp>& ops,
                                       const DiffOptions& options, ByteSink* patch,
                                       DiffStats* stats);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_STREAMED_CODER_H_
