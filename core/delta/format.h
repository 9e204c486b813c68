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
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "common/sha256.h"

namespace patchfarm {

inline constexpr char kPatchMagic[4] = {'P', 'F', 'D', 'L'};
// Version 1: methods 1-3. Version 2 adds methods 4 to 8 (and is written only
// for them, so that version 1 readers keep reading everything else).
inline constexpr uint16_t kPatchFormatVersion = 2;

enum class PatchMethod : uint8_t {
  // Control, diff and extra streams (bsdiff-style), each a zstd frame.
  kStreams = 1,
  // One zstd frame compressed with the old file as a referenced prefix.
  kZstdPrefix = 2,
  // As kStreams, but the diff stream is coded by the diff model
  // (core/delta/diff_model.h) instead of zstd: smaller, slower to apply.
  kModeledStreams = 3,
  // As kModeledStreams and kStreams, but each diff byte is taken against a
  // base in which x86-64 references (rel32 calls, jumps, RIP-relative
  // operands) of old are predicted through the ops (reference_predictor.h).
  kPredictedModeledStreams = 4,
  kPredictedStreams = 5,
  // As kStreams, but the diff and extra streams are each a sequence of zstd
  // frames: what joining segments diffed apart (segments.h) makes without
  // recompressing them, and what bounded diff makes when it gives the
  // incompressible runs of the extra stream frames of their own.
  kFramedStreams = 6,
  // As kModeledStreams and kPredictedModeledStreams, but a control entry may
  // say its diff bytes are all zero (an exact copy of old, or of the
  // predicted bases): they are then not coded at all, so long unchanged
  // stretches cost neither the model's time nor its bits.
  kSparseModeledStreams = 7,
  kSparsePredictedModeledStreams = 8,
  // As kSparseModeledStreams and kSparsePredictedModeledStreams, but the
  // control and extra streams are raw LZMA2 (lzma_codec.h) instead of zstd
  // (4-8% smaller on executables' new code and data), and the diff stream is
  // in two parts (DiffParts), each coded by its own model, which writers
  // code at once.
  kLzmaSparseModeledStreams = 9,
  kLzmaSparsePredictedModeledStreams = 10,
  // As kLzmaSparseModeledStreams and kLzmaSparsePredictedModeledStreams, but
  // the diff stream's head also says how large the models' tables are
  // (DiffParts::model_bits), which writers size by the bytes each part codes:
  // small diff streams take smaller tables, for less memory and time on both
  // sides at a cost of a few percent of their size.
  kSizedLzmaSparseModeledStreams = 11,
  kSizedLzmaSparsePredictedModeledStreams = 12,
};

// True for the methods with control, diff and extra streams.
inline bool HasThreeStreams(PatchMethod method) { return method != PatchMethod::kZstdPrefix; }
// True where the diff stream's head sizes the models' tables (methods 11
// and 12).
inline bool HasSizedModel(PatchMethod method) {
  return method == PatchMethod::kSizedLzmaSparseModeledStreams ||
         method == PatchMethod::kSizedLzmaSparsePredictedModeledStreams;
}
// True where the control and extra streams are LZMA2 (FORMAT.md, methods 9
// to 12).
inline bool IsLzma(PatchMethod method) {
  return method == PatchMethod::kLzmaSparseModeledStreams ||
         method == PatchMethod::kLzmaSparsePredictedModeledStreams || HasSizedModel(method);
}
// True where the diff model codes the diff stream.
inline bool IsModeled(PatchMethod method) {
  return method == PatchMethod::kModeledStreams ||
         method == PatchMethod::kPredictedModeledStreams ||
         method == PatchMethod::kSparseModeledStreams ||
         method == PatchMethod::kSparsePredictedModeledStreams ||
         IsLzma(method);
}
// True where diff bytes are taken against predicted references.
inline bool IsPredicted(PatchMethod method) {
  return method == PatchMethod::kPredictedModeledStreams ||
         method == PatchMethod::kPredictedStreams ||
         method == PatchMethod::kSparsePredictedModeledStreams ||
         method == PatchMethod::kLzmaSparsePredictedModeledStreams ||
         method == PatchMethod::kSizedLzmaSparsePredictedModeledStreams;
}
// True where two diff models code the diff stream, each its own part
// (FORMAT.md, methods 9 to 12: DiffParts).
inline bool HasDiffParts(PatchMethod method) { return IsLzma(method); }
// True where control entries mark exact copies (FORMAT.md, methods 7 and 8).
inline bool IsSparse(PatchMethod method) {
  return method == PatchMethod::kSparseModeledStreams ||
         method == PatchMethod::kSparsePredictedModeledStreams || IsLzma(method);
}
// The size of the diff model's tables (diff_model.h: 2^bits slots) for the
// modeled methods that do not say it: 20 for methods 3 and 4 (about 33 MiB),
// 19 for methods 7 to 10 (about 17 MiB), which keeps apply within 64 MiB for
// a cost of 0.5-2% of the diff stream.
inline int FixedModelBits(PatchMethod method) { return IsSparse(method) ? 19 : 20; }
// The format version a patch of `method` is written with.
inline uint16_t FormatVersionOf(PatchMethod method) {
  return method == PatchMethod::kStreams || method == PatchMethod::kZstdPrefix ||
                 method == PatchMethod::kModeledStreams
             ? 1
             : 2;
}

// kFramedStreams: at most this many frames per stream (the stream count is
// one byte: the control stream, then n diff frames, then n extra frames).
inline constexpr size_t kMaxJoinedSegments = 127;

// Predicted methods decode the whole control stream before any output (the
// ops map old positions to new ones); its raw size is bounded by this.
// 1 MiB: at most ~350,000 entries, about 4.3 MiB of map (12 bytes an entry);
// 2 MiB for kSparsePredictedModeledStreams and the LZMA predicted methods,
// whose readers came later: the
// cumulative pairs of big executables need 1-2 MiB.
inline constexpr uint64_t kMaxPredictedControlBytes = uint64_t{1} << 20;
inline constexpr uint64_t kMaxSparsePredictedControlBytes = uint64_t{2} << 20;
inline uint64_t MaxPredictedControlBytes(PatchMethod method) {
  return IsPredicted(method) && IsSparse(method) ? kMaxSparsePredictedControlBytes
                                                 : kMaxPredictedControlBytes;
}

// Stream indexes for kStreams (for kFramedStreams: the control stream and the
// first segment's diff frame).
inline constexpr int kControlStream = 0;
inline constexpr int kDiffStream = 1;
inline constexpr int kExtraStream = 2;

// kZstdPrefix patches are only made (and accepted) for new files up to this size,
// which bounds the decoder's buffer.
inline constexpr uint64_t kMaxPrefixMethodNewBytes = uint64_t{48} << 20;
// ... and old plus new must fit a zstd window of this log size.
inline constexpr int kMaxPrefixWindowLog = 31;
// The zstd frames of the other methods use windows of at most 2^24 bytes.
inline constexpr int kMaxStreamWindowLog = 24;

struct StreamExtent {
  uint64_t offset = 0;  // Position of the frame in the patch (derived on read).
  uint64_t compressed_size = 0;
  uint64_t raw_size = 0;
  uint64_t frame_checksum = 0;  // FrameChecksum of the compressed frame.
};

// The first 8 bytes of the SHA-256 of `frame`, little-endian: lets Apply detect
// any change to a stream, even one its decoder would not notice.
uint64_t FrameChecksum(absl::string_view frame);
// The same from the frame's SHA-256, for frames hashed in pieces.
uint64_t FrameChecksum(const Digest& sha256);

struct PatchHeader {
  uint16_t version = 1;  // Set by ReadPatchHeader; written as FormatVersionOf(method).
  PatchMethod method = PatchMethod::kStreams;
  uint64_t old_size = 0;
  uint64_t new_size = 0;
  Digest old_digest{};
  Digest new_digest{};
  std::vector<StreamExtent> streams;

  // The frames of the diff and extra streams, in order: one each, or for
  // kFramedStreams n each. REQUIRES: HasThreeStreams(method).
  std::vector<StreamExtent> DiffFrames() const;
  std::vector<StreamExtent> ExtraFrames() const;
};

// Bytes of the header for `stream_count` streams, checksum included.
uint64_t PatchHeaderSize(size_t stream_count);

// Encodes `header` (offsets are ignored) followed by its checksum.
std::string SerializePatchHeader(const PatchHeader& header);

// A whole patch in memory: `header` with one table entry per frame (its size,
// raw_sizes[i] and checksum; header.streams is replaced), then the frames.
std::string SerializePatch(PatchHeader header, const std::vector<absl::string_view>& frames,
                           const std::vector<uint64_t>& raw_sizes);

// Appends control entries (FORMAT.md) to a string, keeping the old cursor:
// three varints each, the diff length with its exact bit for sparse methods.
class ControlEncoder {
 public:
  ControlEncoder(std::string* out, bool sparse) : out_(out), sparse_(sparse) {}
  // `diff_len` bytes against old at `old_pos` (ignored when 0), then
  // `extra_len` bytes of new's own; `exact` only for sparse methods.
  void Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len, bool exact = false);

 private:
  std::string* out_;
  const bool sparse_;
  uint64_t old_cursor_ = 0;
};

// Reads and validates the header of `patch`: magic, version, method, checksum,
// and that the stream table exactly accounts for the patch size and new size.
// InvalidArgument if this is not a patchfarm patch, FailedPrecondition for an
// unsupported version, DataLoss for corruption.
absl::StatusOr<PatchHeader> ReadPatchHeader(const ByteSource& patch);

// Reads every stream of `patch` once and checks its FrameChecksum, so that a
// corrupt patch is refused before any output. DataLoss names the stream.
absl::Status VerifyStreamChecksums(const ByteSource& patch, const PatchHeader& header);

// The head of a HasDiffParts method's diff stream: the first `first_entries`
// control entries' diff bytes are coded in the first part, of `first_bytes`
// bytes, the others' in the second part, which takes the rest of the stream
// and is empty if no entry is left for it. Each part is a diff model's output.
struct DiffParts {
  uint64_t first_entries = 0;
  uint64_t first_bytes = 0;
  // The models' tables hold 2^model_bits slots each (diff_model.h): written
  // in the head for HasSizedModel methods, kMinModelBits to kMaxModelBits;
  // FixedModelBits(method) for the others.
  int model_bits = 0;
  uint64_t head_bytes = 0;  // Bytes of the head itself (set by ReadDiffParts).
};
inline constexpr int kMinModelBits = 16;
inline constexpr int kMaxModelBits = 20;
// Appends the head of `parts` for `method` to `out`: LEB128 varints, two, and
// model_bits for HasSizedModel methods.
void AppendDiffPartsHead(const DiffParts& parts, PatchMethod method, std::string* out);
// Reads the head of the diff stream `stream` of a `method` patch and checks
// that the first part fits the stream and the table size its bounds. DataLoss
// if not.
absl::StatusOr<DiffParts> ReadDiffParts(const ByteSource& patch, const StreamExtent& stream,
                                        PatchMethod method);

const char* PatchMethodName(PatchMethod method);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_FORMAT_H_
