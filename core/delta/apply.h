// Apply: rebuilds the new file from the old file and a patch, streaming. Memory
// is bounded by the decoders' state (zstd windows of at most 16 MiB per stream;
// 32 MiB of diff model tables for kModeledStreams; the new size, capped at
// 48 MiB, for kZstdPrefix) plus fixed buffers, whatever the size of new.
// `old_data` may be memory-mapped.
// Thread-safe (no shared state).
#ifndef PATCHFARM_CORE_DELTA_APPLY_H_
#define PATCHFARM_CORE_DELTA_APPLY_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "core/delta/format.h"

namespace patchfarm {

struct ApplyOptions {
  // Patches declaring a larger new file are refused before any output.
  uint64_t max_output_bytes = uint64_t{4} << 30;  // Default: 4 GiB.
};

// Verifies `old_data` against the patch's old size and SHA-256, then writes the
// new file to `out` and verifies its SHA-256.
// FailedPrecondition if old is not the file the patch was made from or the
// patch's format version is unsupported;
// InvalidArgument if `patch` is not a patch; DataLoss if it is corrupt or the
// output's digest is wrong; ResourceExhausted if new exceeds the limit; any error
// of `out`. On error `out` may have received partial output, which the caller
// must discard (the CLI writes to a temporary file and renames only on success).
absl::Status Apply(absl::string_view old_data, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options = ApplyOptions());

// Returns the header of `patch` (what `patchfarm info` prints). Errors as
// ReadPatchHeader.
absl::StatusOr<PatchHeader> InspectPatch(const ByteSource& patch);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_APPLY_H_
