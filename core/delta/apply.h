// Apply: rebuilds the new file from the old file and a patch, streaming, in
// memory bounded whatever the sizes of old and new. Used by `patchfarm apply`
// (old read from its file through a FileSource), tree apply (core/tree, old in
// memory) and the updater.
//
// Memory contract, for one call:
// - Apply's own buffers: 256 KiB through which old is read (its SHA-256 in a
//   streaming pass, then the bytes each control entry needs, in pieces of at
//   most 128 KiB plus a few bytes of look-ahead; with threads = 2 the
//   SHA-256 pass has a 256 KiB buffer of its own and runs beside the rest), a
//   128 KiB output buffer, and about 256 KiB of input and output buffers per
//   zstd stream.
// - The decoders' state: a zstd window of at most 16 MiB per stream (control,
//   diff and extra for kStreams; control and extra for kModeledStreams) and,
//   for kModeledStreams, about 32 MiB of diff model tables. So about 50 MiB
//   for kStreams and 66 MiB for kModeledStreams at most, less for small files.
// - Sparse methods (kSparseModeledStreams, kSparsePredictedModeledStreams) as
//   their dense twins; LZMA methods (9 to 12) hold an LZMA2 dictionary of at
//   most 8 MiB (LzmaDictionaryBytes) for each of control and extra instead;
//   methods 11 and 12 have diff model tables of 4.3-17 MiB, as their diff
//   stream's head says.
// - Predicted methods (kPredictedStreams, kPredictedModeledStreams,
//   kSparsePredictedModeledStreams) as their unpredicted twins, plus the map
//   of every entry (about 12 bytes each for files under 4 GiB, else 24; the
//   control stream is at most MaxPredictedControlBytes, 1 or 2 MiB, so at
//   most ~4.5 or ~9 MiB under 4 GiB) and the bases of the current piece.
// - With ApplyOptions::threads = 2 and a diff stream in two parts (methods 9
//   to 12): a second diff model's tables (at most about 17 MiB), old buffer and
//   control stream decoder, and kAheadBytes (4 MiB) of decoded pieces, packed,
//   held for the first thread (core/delta/model_parts.h), only where
//   AheadApplyBytes estimates that all of it stays within 64 MiB. The largest
//   benchmark patch so (biome 2.5.4 -> 2.5.15, 66 MB, method 10) peaks at
//   63.4 MiB resident, the process's code included.
// - kZstdPrefix only (new files of at most kMaxPrefixMethodNewBytes = 48 MiB):
//   zstd references the whole of old as a prefix, so old must be in memory.
//   The ByteSource overload reads it into a buffer of old's size, which the
//   format bounds by old + new <= 2 GiB (2^kMaxPrefixWindowLog), and Diff
//   by 48 MiB since stop 36 (diff.h DiffOptions::try_zstd_prefix); the
//   string_view overload uses the caller's bytes in place. Plus a decoder
//   buffer of at most the new size.
// The sink's own buffering is the caller's (AtomicFileWriter holds 1 MiB).
//
// Old must not change during the call: it is verified by size before any
// output, and (unless the caller gives its digest, ApplyOptions::old_digest)
// by SHA-256 before any output (threads = 1, and kZstdPrefix
// patches) or while new is written (threads = 2, kZstdPrefix aside: old is
// then read once from the disk for both, not twice; a wrong old ends the call
// at the next control entry after its hash, with the same error, which also
// takes the place of any other error the call met). A change while old is
// read gives DataLoss (or FailedPrecondition if old shrank), never a wrong
// output.
// Thread-safe (no shared state); the sources must allow the reads of one call.
#ifndef PATCHFARM_CORE_DELTA_APPLY_H_
#define PATCHFARM_CORE_DELTA_APPLY_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "core/delta/format.h"

namespace patchfarm {

struct ApplyOptions {
  // Patches declaring a larger new file are refused before any output.
  uint64_t max_output_bytes = uint64_t{4} << 30;  // Default: 4 GiB.
  // 2: a diff stream in two parts (methods 9 to 12) has its second part
  // decoded on a thread of its own while the first is decoded and written
  // (core/delta/model_parts.h): old and patch are then read from two threads
  // at once, so their ReadAt must allow that. 1: one thread.
  int threads = 1;
  // Old's SHA-256, if the caller hashed it already (a tree apply reads one
  // base file in many blocks): old is then not hashed again, only the bytes
  // the patch copies are read. Other than the patch's old digest:
  // FailedPrecondition before any output. If old changed since it was
  // hashed, the output's digest still fails (DataLoss). The zstd-prefix
  // method, which holds old whole, hashes it anyway.
  std::optional<Digest> old_digest;
};

// Verifies `old` against the patch's old size and SHA-256 (see above for
// when, and ApplyOptions::old_digest), writes the new file to `out` and verifies its SHA-256. Reads `old` with ReadAt only, in
// bounded pieces (see the memory contract above), and never past old.size().
// FailedPrecondition if old is not the file the patch was made from, if a read
// of old comes back short (old shrank during the call) or the patch's format
// version is unsupported;
// InvalidArgument if `patch` is not a patch; DataLoss if it is corrupt
// (including a kZstdPrefix patch whose old and new exceed its 2 GiB window),
// the output's digest is wrong or old changed during the call;
// ResourceExhausted if new exceeds the limit; any error of a read of `old`
// (with the offset added) or of `out`. On error `out` may have received
// partial output, which the caller must discard (the CLI writes to a temporary
// file and renames only on success).
absl::Status Apply(const ByteSource& old, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options = ApplyOptions());

// As above with old in memory (the caller keeps it alive; it may be
// memory-mapped). Runs the same code through a StringSource, except that a
// kZstdPrefix patch references `old_data` in place instead of copying it.
absl::Status Apply(absl::string_view old_data, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options = ApplyOptions());

// Returns the header of `patch` (what `patchfarm info` prints). Errors as
// ReadPatchHeader.
absl::StatusOr<PatchHeader> InspectPatch(const ByteSource& patch);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_APPLY_H_
