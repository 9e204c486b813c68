// The diff model decoders of a modeled patch's diff stream (FORMAT.md): one
// over all of it or, for HasDiffParts methods, one per part.
//
// With one thread, the second part's decoder is opened once the first part is
// read and checked finished, and the first's tables are freed before: one
// model's tables at a time. With two, a thread of its own decodes the second
// part from the start, ahead of the entries that use it, while the caller
// decodes the first: it reads the control stream, old and the patch itself
// (so both sources must allow concurrent ReadAt calls) and hands decoded
// pieces over in a queue of blocks holding at most kAheadBytes (counted as
// allocated, the block being filled apart), zero runs stored as their
// lengths. That costs a second model's tables (about 17 MiB) and the queue.
// Objects are single-threaded (apart from the thread they own).
#ifndef PATCHFARM_CORE_DELTA_MODEL_PARTS_H_
#define PATCHFARM_CORE_DELTA_MODEL_PARTS_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/delta/diff_model.h"
#include "core/delta/format.h"
#include "core/delta/reference_predictor.h"

namespace patchfarm {

// Bytes of decoded second-part pieces (packed, counted as allocated) the
// thread may hold ahead: on biome 2.5.4 -> 2.5.15, 4 MiB holds 95% of the
// second part, and 3 MiB would cost 13% of apply's wall time.
inline constexpr size_t kAheadBytes = 4 << 20;

// Apply's memory bound (apply.h). Decoding ahead keeps it: the thread is
// started only where AheadApplyBytes fits it, else the parts are decoded one
// after the other.
inline constexpr uint64_t kApplyMemoryBytes = uint64_t{64} << 20;

// An estimate of apply's peak memory with the second part of `header`'s
// diff stream decoded ahead, models of 2^model_bits slots and a reference map
// of `map_bytes`: two models' tables, two control decoders and the extra decoder (LZMA2 dictionaries,
// touched up to the raw size), kAheadBytes, the map, and 9.5 MiB of code,
// libraries and buffers. Biome 2.5.4 -> 2.5.15: 63.5 MiB (measured 63.4).
// Past about 4 MiB of raw control stream (2 MiB with a predicted patch's
// map) it does not fit 64 MiB.
uint64_t AheadApplyBytes(const PatchHeader& header, int model_bits, uint64_t map_bytes);

class AheadDecoder;

class ModelParts {
 public:
  // `old`, `patch`, `header` and `map` (the predicted methods' map of every
  // entry, else empty) must outlive this. `threads`: 1, or 2 to decode the
  // second part ahead where that fits kApplyMemoryBytes.
  ModelParts(const ByteSource* old, const ByteSource* patch, const PatchHeader& header,
             const ReferenceMap* map, int threads);
  ~ModelParts();  // Stops the thread, if any, and waits for it.

  // Reads the parts' head and opens the decoder(s). DataLoss if corrupt.
  absl::Status Open();
  // Called before the entry at `index` (0, 1, ...) is decoded.
  absl::Status StartEntry(uint64_t index);
  // Decodes the next piece: as DiffModelDecoder::Decode. Pieces are those of
  // apply's loop: each non-exact entry's diff region in order, cut every
  // kApplyChunkBytes (apply_entries.h).
  absl::Status Decode(const uint8_t* old_bytes, size_t lookahead, uint8_t* diff, size_t n);
  // OK if every part was read exactly.
  absl::Status CheckFinished();

 private:
  uint64_t SecondBytes() const;
  void OpenPart(uint64_t offset, uint64_t length);

  const ByteSource* old_;
  const ByteSource* patch_;
  const PatchHeader& header_;
  const ReferenceMap* map_;
  const int threads_;
  const StreamExtent stream_;
  DiffParts parts_;
  bool second_ = false;  // The entries of the second part have begun.
  std::unique_ptr<DiffModelDecoder> decoder_;
  std::unique_ptr<AheadDecoder> ahead_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_MODEL_PARTS_H_
