// Segments: a huge pair diffed in parts. A segment holds what DiffBounded
// would make for the bytes new[begin, end) alone: its control entries (raw,
// with the old cursor starting at 0), its diff frame and its extra frames. Segments
// are made apart (DiffSegment in bounded_diff.h: the farm's segment jobs, on
// different workers at once) and JoinSegments makes one patch of them
// (method 6, kFramedStreams) without recompressing their frames: the control
// entries are re-encoded against one cursor and compressed, the frames are
// copied. Layout in core/delta/FORMAT.md ("Segments").
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_DELTA_SEGMENTS_H_
#define PATCHFARM_CORE_DELTA_SEGMENTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/format.h"

namespace patchfarm {

inline constexpr char kSegmentMagic[4] = {'P', 'F', 'S', 'G'};
inline constexpr uint16_t kSegmentFormatVersion = 1;
// A segment's extra stream is 1 to this many frames (CompressInRuns), and a
// pair is split into at most kMaxSegments, so that their join fits one
// patch's kMaxJoinedSegments frames a stream.
inline constexpr size_t kMaxSegmentExtraFrames = 3;
inline constexpr size_t kMaxSegments = kMaxJoinedSegments / kMaxSegmentExtraFrames;
// Bytes of a segment's header, checksum included.
inline constexpr uint64_t kSegmentHeaderBytes = 232;

// Which segment to make: new[begin, end) of the pair the digests name.
struct SegmentSpec {
  Digest old_digest{};
  Digest new_digest{};
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SegmentHeader {
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  Digest old_digest{};
  Digest new_digest{};
  uint64_t begin = 0;  // The bytes of new it makes: [begin, end).
  uint64_t end = 0;
  uint64_t control_bytes = 0;  // Raw control entries, right after the header,
  uint64_t control_checksum = 0;  // and FrameChecksum of them.
  StreamExtent diff;                // Then the diff frame,
  std::vector<StreamExtent> extra;  // then the extra frames (offsets set on read).
};

std::string SerializeSegmentHeader(const SegmentHeader& header);

// Reads and checks the header of `segment`: magic, version, checksum, a range
// inside new, frames that make exactly its bytes, parts that add up to the
// source's size. InvalidArgument if it is not a segment, FailedPrecondition
// for another version, DataLoss for corruption.
absl::StatusOr<SegmentHeader> ReadSegmentHeader(const ByteSource& segment);

// Reads the header of `segment` as ReadSegmentHeader does, and checks all
// of it as JoinSegments would: its control entries (inside the files and
// its frames, and their checksum) and each frame's checksum. A segment that
// passes joins with the other segments of its pair. The coordinator checks
// each segment job's result so: a worker cannot hand it one that would make
// every join of the pair fail.
absl::StatusOr<SegmentHeader> CheckSegment(const ByteSource& segment);

// Writes to `patch` the kFramedStreams patch of `segments`, which must be
// segments of one pair covering new from 0 to its end in order (at most
// kMaxSegments). The control stream is compressed at zstd `level`, in a
// scratch file in `scratch_dir`. InvalidArgument for segments that do not fit
// together, DataLoss for a corrupt one (a control entry outside the files, a
// frame whose checksum differs from its header's); `patch` may then hold part
// of a patch, which the caller discards.
absl::Status JoinSegments(const std::vector<const ByteSource*>& segments,
                          const std::string& scratch_dir, ByteSink* patch, int level = 19);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_SEGMENTS_H_
