#include "core/delta/diff_files.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "common/file.h"
#include "common/status_macros.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/reference_predictor.h"
#include "core/delta/streamed_coder.h"

namespace patchfarm {
namespace {

// Near-identical pairs (a big file whose next build differs in a few places):
// new files from this size are first matched by bounded matching's
// diagonals, in at most kNearIdenticalMemory, and if no more than
// 1/kNearIdenticalOffDiagonal of new lies off them, coded from those ops with
// no suffix sort. Below it the suffix sort is cheap anyway.
constexpr uint64_t kNearIdenticalMinBytes = uint64_t{16} << 20;
constexpr uint64_t kNearIdenticalMemory = uint64_t{256} << 20;
constexpr uint64_t kNearIdenticalOffDiagonal = 100;

// Pairs of this many bytes or more have their mappings' pages dropped while
// they are diffed, every kReleaseInterval (PageReleaser): the 1 GiB pack's
// whole-file diff (near-identical, coded by DiffWithOps) peaked at 2,779 MiB,
// 1,990 of them its two files, and at 839 MiB without them, in the same time.
// Below it they are a small part of the peak (prettier's 17 MB of tars:
// 55 -> 45 MiB for about 2% more wall time), and executables, matched on
// masked copies, drop them once anyway (DiffOptions::release_inputs).
// While a pair's old is sorted whole and searched, its pages stay: the
// sort reads them all over and again, and faulted them back in as fast as
// they went (a 300 MiB old beside 7 MiB of new: 16 s -> 34 s, half of it in
// the kernel, for the same peak; its suffix array is 4 times old).
constexpr uint64_t kReleasedPairBytes = uint64_t{128} << 20;
constexpr std::chrono::milliseconds kReleaseInterval{10};

std::unique_ptr<PageReleaser> ReleaserFor(const MappedFile& old_file,
                                          const MappedFile& new_file) {
  if (old_file.data().size() + new_file.data().size() < kReleasedPairBytes) return nullptr;
  return std::make_unique<PageReleaser>(std::vector<const MappedFile*>{&old_file, &new_file},
                                        kReleaseInterval);
}

}  // namespace

absl::StatusOr<std::string> DiffMapped(const MappedFile& old_file, const MappedFile& new_file,
                                       const DiffOptions& options, DiffStats* stats) {
  DiffOptions releasing = options;
  releasing.release_inputs = [&old_file, &new_file] {
    old_file.ReleasePages();
    new_file.ReleasePages();
  };
  const std::unique_ptr<PageReleaser> releaser = ReleaserFor(old_file, new_file);
  if (releaser != nullptr) {
    releasing.reading_old_all_over = [&releaser, &old_file](bool held) {
      releaser->Hold(old_file, held);
    };
  }
  return Diff(old_file.data(), new_file.data(), releasing, stats);
}

bool FitsWholeFileDiff(uint64_t old_size, uint64_t new_size, absl::string_view old_head,
                       const DiffOptions& options) {
  if (options.max_memory == 0) return true;
  const bool executable =
      options.predict_references && DetectInstructionSet(old_head).has_value();
  return WholeFileDiffMemory(old_size, new_size, executable) <= options.max_memory;
}

absl::Status DiffFiles(const std::string& old_path, const std::string& new_path,
                       const std::string& scratch_dir, ByteSink* patch,
                       const DiffOptions& options, DiffStats* stats) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> old_file, FileSource::Open(old_path));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> new_file, FileSource::Open(new_path));
  std::string head(4096, '\0');
  PF_ASSIGN_OR_RETURN(size_t got, old_file->ReadAt(0, head.data(), head.size()));
  head.resize(got);
  if (!FitsWholeFileDiff(old_file->size(), new_file->size(), head, options)) {
    return DiffBounded(*old_file, *new_file, scratch_dir, patch, options, stats);
  }
  std::optional<std::vector<DeltaOp>> near;
  if (new_file->size() >= kNearIdenticalMinBytes) {
    DiffOptions match = options;
    match.max_memory = std::min(std::max(options.max_memory, kMinBoundedMemory), kNearIdenticalMemory);
    bool cached = false;
    PF_ASSIGN_OR_RETURN(near, MatchNearIdentical(*old_file, *new_file,
                                                 new_file->size() / kNearIdenticalOffDiagonal,
                                                 match, &cached));
    if (stats != nullptr) stats->index_cached = cached;
  }
  if (near) {
    DiffStats local_stats;
    DiffStats* coded_stats = stats != nullptr ? stats : &local_stats;
    PF_ASSIGN_OR_RETURN(bool coded, CodeNearIdentical(*old_file, *new_file, *near, options,
                                                      patch, coded_stats));
    if (coded) {
      coded_stats->near_identical = true;
      return absl::OkStatus();
    }
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> old_map, MappedFile::Open(old_path));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> new_map, MappedFile::Open(new_path));
  std::string bytes;
  if (near) {
    const std::unique_ptr<PageReleaser> releaser = ReleaserFor(*old_map, *new_map);
    PF_ASSIGN_OR_RETURN(bytes, DiffWithOps(old_map->data(), new_map->data(), *std::move(near),
                                           options, stats));
    if (stats != nullptr) stats->near_identical = true;
  } else {
    PF_ASSIGN_OR_RETURN(bytes, DiffMapped(*old_map, *new_map, options, stats));
  }
  return patch->Append(bytes);
}

}  // namespace patchfarm
