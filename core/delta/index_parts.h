// Index parts: the chunk index of a huge old file (block_index.h) built one
// part at a time (old[k P, (k + 1) P) for the part size P), by different
// workers at once (the farm's index jobs), then joined by each worker that
// runs the pair's segment jobs into the index DiffBounded would build from
// old whole, so its segments (DiffSegment) are the same either way. Old is
// read once over all the workers instead of once by each of them. A part
// holds the part's chunks (BlockIndex::Serialize) behind a header; layout in
// core/delta/FORMAT.md ("Index parts"). A part only steers matching: a wrong
// one costs patch size, never a wrong patch.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_DELTA_INDEX_PARTS_H_
#define PATCHFARM_CORE_DELTA_INDEX_PARTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/diff.h"

namespace patchfarm {

inline constexpr char kIndexPartMagic[4] = {'P', 'F', 'I', 'X'};
inline constexpr uint32_t kIndexPartFormatVersion = 1;
inline constexpr uint64_t kIndexPartHeaderBytes = 96;

struct IndexPartHeader {
  uint64_t old_size = 0;
  Digest old_digest{};
  uint64_t begin = 0;  // The part: old[begin, end).
  uint64_t end = 0;
  // The index's parameters (BlockIndex): table slots, chunk size log, part
  // size.
  uint64_t slots = 0;
  uint32_t chunk_log = 0;
  uint64_t part_bytes = 0;
  uint64_t chunks = 0;  // 16-byte chunk entries after the header.
};

// The parts of an old file of `old_size` bytes, as [begin, end) ranges, for
// a part size of `part_bytes` (> 0).
std::vector<std::pair<uint64_t, uint64_t>> IndexPartRanges(uint64_t old_size,
                                                           uint64_t part_bytes);

// Writes to `out` the part of the chunk index that DiffBounded builds under
// `options` (max_memory, index_part_bytes) for the old file `old_digest`
// names, that starts at `begin`: old is read there only, and not checked
// against the digest (a part names it; see the header's note). InvalidArgument
// for a `begin` where no part starts; errors of the reads and of `out`.
absl::Status MakeIndexPart(const ByteSource& old, const Digest& old_digest, uint64_t begin,
                           const DiffOptions& options, ByteSink* out);

// Reads and checks the header of `part`: magic, version, a part of old as
// its part size cuts it, the length its chunk count gives. InvalidArgument if
// it is not an index part, FailedPrecondition for another version, DataLoss
// for corruption.
absl::StatusOr<IndexPartHeader> ReadIndexPartHeader(const ByteSource& part);

// Joins `parts`, all of old's in order, into the chunk index DiffBounded
// builds under `options`, and saves it in options.index_store under
// options.old_digest (both required), where DiffBounded and DiffSegment look
// it up, and in options.chunk_index_cache if given (the worker's store keeps
// no entry over 1 GiB or its --index-cache bound, and every segment of the
// pair would index old again). InvalidArgument for parts of another file or that do not cover old
// in order; FailedPrecondition for parts made under other parameters (another
// memory budget or part size: the caller then lets DiffSegment build its own
// index); DataLoss for a corrupt part.
absl::Status SaveJoinedIndex(const std::vector<const ByteSource*>& parts,
                             const DiffOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_INDEX_PARTS_H_
