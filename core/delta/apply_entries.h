// The reading side of apply that more than one thread does: a patch's streams
// opened, its control entries read and checked, and the old bytes under an
// entry's diff region (or their predicted bases) in pieces. Apply's main loop
// and the thread that decodes the second part of a diff stream ahead of it
// (model_parts.h) each keep their own objects. Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_APPLY_ENTRIES_H_
#define PATCHFARM_CORE_DELTA_APPLY_ENTRIES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "core/delta/diff_model.h"
#include "core/delta/format.h"
#include "core/delta/reference_predictor.h"
#include "core/delta/stream_reader.h"

namespace patchfarm {

// Output is produced, and diff regions decoded, in pieces of at most this size.
inline constexpr size_t kApplyChunkBytes = 128 << 10;
// Old is read through one buffer of this size.
inline constexpr size_t kOldBufferBytes = 256 << 10;
static_assert(kApplyChunkBytes + kDiffModelLookahead <= kOldBufferBytes,
              "a piece and its look-ahead must fit the old buffer");

// Old through a buffer of kOldBufferBytes, allocated on first use. A miss
// reads exactly the bytes asked for: the control entries of real patches jump
// around old (biome 2.5.14 -> 2.5.15: of 103k reads, 54k go back and 40k more
// than 1 MiB forward), so read-ahead would mostly copy bytes never used.
class OldReader {
 public:
  explicit OldReader(const ByteSource* old) : old_(old) {}

  // Returns old[offset, offset + n), valid until the next call.
  // REQUIRES: n <= kOldBufferBytes, offset + n <= old size.
  absl::StatusOr<absl::string_view> Read(uint64_t offset, size_t n);

 private:
  const ByteSource* old_;
  std::string buffer_;
  uint64_t start_ = 0;  // old[start_, start_ + length_) is in buffer_.
  size_t length_ = 0;
};

// Reads exactly `n` bytes of old at `offset` (which the caller has checked lie
// within old.size()). FailedPrecondition if old comes back short.
absl::Status ReadOld(const ByteSource& old, uint64_t offset, char* buf, size_t n);

// A stream of `method`: one LZMA2 stream for IsLzma methods' control and extra
// streams, else a zstd frame (window at most 2^24).
absl::StatusOr<std::unique_ptr<StreamReader>> OpenStream(const ByteSource& patch,
                                                        PatchMethod method,
                                                        const StreamExtent& extent);

// Opens the control stream; for predicted methods, checks and skips the byte
// naming the instruction set, which goes to *set.
absl::StatusOr<std::unique_ptr<StreamReader>> OpenControl(const ByteSource& patch,
                                                         const PatchHeader& header,
                                                         InstructionSet* set);

struct ControlEntry {
  int64_t seek = 0;
  uint64_t diff_len = 0, extra_len = 0;
  bool exact = false;  // Sparse methods: the diff bytes are all zero, not coded.
};

absl::StatusOr<ControlEntry> ReadEntry(StreamReader* control, PatchMethod method);

// Checks one control entry against the sizes and moves the cursors past it:
// `*old_pos` to the end of its diff region, `*new_pos` past its output.
// DataLoss if it leaves the files.
absl::Status CheckEntry(const ControlEntry& e, uint64_t old_size, uint64_t new_size,
                        uint64_t* old_pos, uint64_t* new_pos);

// The bytes a diff region's diff bytes are added to: old's, or for predicted
// methods the bases the ReferencePredictor makes of them.
class RegionBytes {
 public:
  // `map` (predicted methods only; may be null otherwise) must outlive this.
  RegionBytes(OldReader* old, const ReferenceMap* map, uint64_t old_size, InstructionSet set,
              bool predicted);

  // Begins the region of `diff_len` bytes at `old_pos` in old, `new_at` in new.
  void Start(uint64_t old_pos, uint64_t new_at, uint64_t diff_len);
  // Bytes [done, done + n) of the region, valid until the next call. Calls go
  // front to back: `done` never decreases within a region.
  // REQUIRES: n <= kOldBufferBytes - ReferencePredictor::kLookahead, within the region.
  absl::StatusOr<const char*> At(uint64_t done, size_t n);

 private:
  OldReader* old_;
  const bool predicted_;
  ReferencePredictor predictor_;
  uint64_t old_pos_ = 0, diff_len_ = 0;
  std::string base_;  // Predicted bases of the region [base_at_, base_at_ + size).
  uint64_t base_at_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_APPLY_ENTRIES_H_
