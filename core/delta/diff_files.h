// DiffFiles: the diff of two files as the CLI and the workers run it, within
// DiffOptions::max_memory. A pair that whole-file matching handles within the
// budget (WholeFileDiffMemory, diff.h) gets exactly Diff's patch (both files
// are mapped), except a near-identical pair of 16 MiB or more (99% of new on
// the diagonals bounded matching finds, MatchNearIdentical), which is coded
// from those ops without a suffix sort: by CodeNearIdentical
// (streamed_coder.h), reading both files in pieces, when its diff bytes are
// almost all zero, else by Diff's coder (DiffWithOps); a larger pair is
// diffed by DiffBounded (bounded_diff.h), whose scratch files go to
// `scratch_dir`. Thread-safe.
#ifndef PATCHFARM_CORE_DELTA_DIFF_FILES_H_
#define PATCHFARM_CORE_DELTA_DIFF_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "core/delta/diff.h"

namespace patchfarm {

// True if the pair of these sizes is diffed whole-file under `options`
// (no bound, or within it). `old_head`: old's first bytes (4 KiB suffice) to
// tell an executable, whose matching needs masked copies of both files.
bool FitsWholeFileDiff(uint64_t old_size, uint64_t new_size, absl::string_view old_head,
                       const DiffOptions& options);

// Diff of two mapped files: the same patch as Diff of their bytes. Their
// pages are released while executables are matched on masked copies
// (DiffOptions::release_inputs), and for a pair of 128 MiB or more, every
// 10 ms while it runs (PageReleaser), except while old is sorted whole
// (DiffOptions::reading_old_all_over).
absl::StatusOr<std::string> DiffMapped(const MappedFile& old_file, const MappedFile& new_file,
                                       const DiffOptions& options, DiffStats* stats = nullptr);

// Writes the patch from the file `old_path` to `new_path` to `patch`. Errors
// of opening the files, of Diff and of DiffBounded; on error `patch` may hold
// part of a patch, which the caller discards.
absl::Status DiffFiles(const std::string& old_path, const std::string& new_path,
                       const std::string& scratch_dir, ByteSink* patch,
                       const DiffOptions& options, DiffStats* stats = nullptr);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_DIFF_FILES_H_
