// The patch file layout (specified in core/delta/FORMAT.md): a fixed header
// naming both files by size and SHA-256, a table of compressed streams, and a
// header checksum. Used by Diff (writing) and Apply / `patchfarm info` (reading).
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_DELTA_FORMAT_H_
#define PATCHFARM_CORE_DELTA_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"

namespace patchfarm {

inline constexpr char kPatchMagic[4] = {'P', 'F', 'D', 'L'};
inline constexpr uint16_t kPatchFormatVersion = 1;

enum class PatchMethod : uint8_t {
  // Control, diff and extra streams (bsdiff-style), each a zstd frame.
  kStreams = 1,
  // One zstd frame compressed with the old file as a referenced prefix.
  kZstdPrefix = 2,
  // As kStreams, but the diff stream is coded by the diff model
  // (core/delta/diff_model.h) instead of zstd: smaller, slower to apply.
  kModeledStreams = 3,
};

// True for the methods with control, diff and extra streams.
inline bool HasThreeStreams(PatchMethod method) {
  return method == PatchMethod::kStreams || method == PatchMethod::kModeledStreams;
}

// Stream indexes for kStreams.
inline constexpr int kControlStream = 0;
inline constexpr int kDiffStream = 1;
inline constexpr int kExtraStream = 2;

// kZstdPrefix patches are only made (and accepted) for new files up to this size,
// which bounds the decoder's buffer.
inline constexpr uint64_t kMaxPrefixMethodNewBytes = uint64_t{48} << 20;
// ... and old plus new must fit a zstd window of this log size.
inline constexpr int kMaxPrefixWindowLog = 31;

struct StreamExtent {
  uint64_t offset = 0;  // Position of the frame in the patch (derived on read).
  uint64_t compressed_size = 0;
  uint64_t raw_size = 0;
  uint64_t frame_checksum = 0;  // FrameChecksum of the compressed frame.
};

// The first 8 bytes of the SHA-256 of `frame`, little-endian: lets Apply detect
// any change to a stream, even one its decoder would not notice.
uint64_t FrameChecksum(absl::string_view frame);

struct PatchHeader {
  PatchMethod method = PatchMethod::kStreams;
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  Digest old_digest{};
  Digest new_digest{};
  std::vector<StreamExtent> streams;
};

// Bytes of the header for `stream_count` streams, checksum included.
uint64_t PatchHeaderSize(size_t stream_count);

// Encodes `header` (offsets are ignored) followed by its checksum.
std::string SerializePatchHeader(const PatchHeader& header);

// Reads and validates the header of `patch`: magic, version, method, checksum,
// and that the stream table exactly accounts for the patch size and new size.
// InvalidArgument if this is not a patchfarm patch, FailedPrecondition for an
// unsupported version, DataLoss for corruption.
absl::StatusOr<PatchHeader> ReadPatchHeader(const ByteSource& patch);

// Reads every stream of `patch` once and checks its FrameChecksum, so that a
// corrupt patch is refused before any output. DataLoss names the stream.
absl::Status VerifyStreamChecksums(const ByteSource& patch, const PatchHeader& header);

const char* PatchMethodName(PatchMethod method);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_FORMAT_H_
