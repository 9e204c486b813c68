#include "core/delta/bounded_diff.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/bounded_differ.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/format.h"
#include "core/delta/segments.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace bounded_internal {

absl::Status BoundedDiffer::EncodeStreams(const ByteSource& control_raw, ByteSink* diff,
                                          ByteSink* extra) {
  ControlReader control(&control_raw);
  std::string old_buf(diff != nullptr ? kPiece : 0, '\0'), new_buf(kPiece, '\0');
  uint64_t old_cursor = 0, new_cursor = begin_;
  while (new_cursor < end_) {
    PF_ASSIGN_OR_RETURN(uint64_t seek, control.Next());
    PF_ASSIGN_OR_RETURN(uint64_t diff_len, control.Next());
    PF_ASSIGN_OR_RETURN(uint64_t extra_len, control.Next());
    old_cursor += static_cast<uint64_t>(UnZigZag(seek));
    for (uint64_t done = 0; diff != nullptr && done < diff_len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, diff_len - done));
      PF_RETURN_IF_ERROR(ReadExactly(old_, old_cursor + done, old_buf.data(), n, "old"));
      PF_RETURN_IF_ERROR(ReadExactly(new_, new_cursor + done, new_buf.data(), n, "new"));
      for (size_t i = 0; i < n; ++i) new_buf[i] = static_cast<char>(new_buf[i] - old_buf[i]);
      PF_RETURN_IF_ERROR(diff->Append(absl::string_view(new_buf.data(), n)));
      done += n;
    }
    old_cursor += diff_len;
    new_cursor += diff_len;
    for (uint64_t done = 0; extra != nullptr && done < extra_len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, extra_len - done));
      PF_RETURN_IF_ERROR(ReadExactly(new_, new_cursor + done, new_buf.data(), n, "new"));
      PF_RETURN_IF_ERROR(extra->Append(absl::string_view(new_buf.data(), n)));
      done += n;
    }
    new_cursor += extra_len;
  }
  return absl::OkStatus();
}

absl::Status BoundedDiffer::Encode(const std::string& scratch_dir, bool compress_control,
                                   size_t extra_frames_max,
                                   std::unique_ptr<ScratchFile>* control_raw,
                                   std::unique_ptr<ScratchFile> frames[3],
                                   StreamExtent extents[3], std::vector<StreamExtent>* extra_frames,
                                   bool* index_cached) {
  PF_ASSIGN_OR_RETURN(*control_raw, ScratchFile::Create(scratch_dir));
  control_writer_ = std::make_unique<ControlWriter>(control_raw->get());
  PF_RETURN_IF_ERROR(MatchSegments(control_writer_.get(), index_cached));
  PF_RETURN_IF_ERROR(control_writer_->Flush());
  std::string().swap(window_);  // Pass 2 needs the memory.

  ZstdOptions zstd;
  zstd.level = plan_.level;
  zstd.workers = plan_.zstd_workers;
  zstd.max_window_log = plan_.zstd_window_log;
  for (int i = 0; i < 3; ++i) {
    if (i == kControlStream && !compress_control) continue;
    PF_ASSIGN_OR_RETURN(frames[i], ScratchFile::Create(scratch_dir));
  }
  if (compress_control) {  // Alone: its encoder is freed before the others start.
    PF_ASSIGN_OR_RETURN(extents[kControlStream],
                        CompressSource(**control_raw, zstd, frames[kControlStream].get()));
  }
  // The extra stream goes raw to a scratch file first (it is read whole to
  // find its runs). Then it is compressed in runs while the diff stream is
  // made and compressed: two encoders at once, as PlanBoundedDiff budgets, on
  // two threads when options_.threads allows.
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> extra_raw, ScratchFile::Create(scratch_dir));
  PF_RETURN_IF_ERROR(EncodeStreams(**control_raw, nullptr, extra_raw.get()));
  absl::StatusOr<std::vector<StreamExtent>> extra_result;
  auto compress_extra = [&] {
    extra_result =
        CompressInRuns(*extra_raw, zstd, extra_frames_max, frames[kExtraStream].get());
  };
  std::thread extra_thread;
  if (options_.threads > 1) {
    extra_thread = std::thread(compress_extra);
  } else {
    compress_extra();
  }
  const uint64_t diff_size = control_writer_->diff_bytes();
  absl::Status diff_status = [&]() -> absl::Status {
    PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdStreamWriter> diff_writer,
                        ZstdStreamWriter::Create(diff_size, zstd, frames[kDiffStream].get()));
    StreamFeed diff(diff_writer.get(), options_.threads > 1);
    absl::Status encoded = EncodeStreams(**control_raw, &diff, nullptr);
    absl::Status diff_closed = diff.Close();
    PF_RETURN_IF_ERROR(encoded);
    PF_RETURN_IF_ERROR(diff_closed);
    PF_RETURN_IF_ERROR(diff_writer->Finish());
    extents[kDiffStream] = ExtentOf(*diff_writer, diff_size);
    return absl::OkStatus();
  }();
  if (extra_thread.joinable()) extra_thread.join();
  PF_RETURN_IF_ERROR(diff_status);
  PF_ASSIGN_OR_RETURN(*extra_frames, std::move(extra_result));
  return absl::OkStatus();
}

absl::Status BoundedDiffer::Run(const std::string& scratch_dir, ByteSink* patch,
                                DiffStats* stats) {
  std::unique_ptr<ScratchFile> control_raw, frames[3];
  StreamExtent extents[3];
  std::vector<StreamExtent> extra_frames;
  PF_RETURN_IF_ERROR(Encode(scratch_dir, /*compress_control=*/true, kMaxJoinedSegments,
                            &control_raw, frames, extents, &extra_frames, &stats->index_cached));
  // One extra frame: method 1. Several: method 6, the diff stream padded
  // with empty frames to as many.
  PatchHeader header;
  header.method = extra_frames.size() == 1 ? PatchMethod::kStreams : PatchMethod::kFramedStreams;
  header.old_size = old_.size();
  header.new_size = new_.size();
  header.old_digest = old_digest_;
  header.new_digest = new_digest_;
  header.streams = {extents[kControlStream], extents[kDiffStream]};
  std::string empty_frame;
  if (extra_frames.size() > 1) {
    StreamExtent empty_extent;
    PF_ASSIGN_OR_RETURN(empty_frame, EmptyFrame(&empty_extent));
    for (size_t i = 1; i < extra_frames.size(); ++i) header.streams.push_back(empty_extent);
  }
  header.streams.insert(header.streams.end(), extra_frames.begin(), extra_frames.end());
  PF_RETURN_IF_ERROR(patch->Append(SerializePatchHeader(header)));
  PF_RETURN_IF_ERROR(CopySource(*frames[kControlStream], patch));
  PF_RETURN_IF_ERROR(CopySource(*frames[kDiffStream], patch));
  for (size_t i = 1; i < extra_frames.size(); ++i) PF_RETURN_IF_ERROR(patch->Append(empty_frame));
  PF_RETURN_IF_ERROR(CopySource(*frames[kExtraStream], patch));
  stats->bounded = true;
  stats->method = header.method;
  stats->ops = control_writer_->ops();
  stats->diff_bytes = control_writer_->diff_bytes();
  stats->extra_bytes = control_writer_->extra_bytes();
  stats->streams_patch_bytes = PatchHeaderSize(header.streams.size()) + frames[0]->size() +
                               frames[1]->size() + frames[2]->size() +
                               empty_frame.size() * (extra_frames.size() - 1);
  return absl::OkStatus();
}

absl::Status BoundedDiffer::RunSegment(const SegmentSpec& spec, const std::string& scratch_dir,
                                       ByteSink* out) {
  if (spec.begin >= spec.end || spec.end > new_.size()) {
    return absl::InvalidArgumentError(absl::StrCat("segment [", spec.begin, ", ", spec.end,
                                                   ") is not inside new's ", new_.size(),
                                                   " bytes"));
  }
  begin_ = spec.begin;
  end_ = spec.end;
  old_digest_ = spec.old_digest;
  new_digest_ = spec.new_digest;
  digests_given_ = true;
  std::unique_ptr<ScratchFile> control_raw, frames[3];
  StreamExtent extents[3];
  std::vector<StreamExtent> extra_frames;
  bool index_cached = false;
  PF_RETURN_IF_ERROR(Encode(scratch_dir, /*compress_control=*/false, kMaxSegmentExtraFrames,
                            &control_raw, frames, extents, &extra_frames, &index_cached));
  SegmentHeader header;
  header.old_size = old_.size();
  header.new_size = new_.size();
  header.old_digest = spec.old_digest;
  header.new_digest = spec.new_digest;
  header.begin = spec.begin;
  header.end = spec.end;
  header.control_bytes = control_raw->size();
  PF_ASSIGN_OR_RETURN(const Digest control_digest, HashSource(*control_raw));
  header.control_checksum = FrameChecksum(control_digest);
  header.diff = extents[kDiffStream];
  header.extra = extra_frames;
  PF_RETURN_IF_ERROR(out->Append(SerializeSegmentHeader(header)));
  for (const ScratchFile* part : {control_raw.get(), frames[kDiffStream].get(),
                                  frames[kExtraStream].get()}) {
    PF_RETURN_IF_ERROR(CopySource(*part, out));
  }
  return absl::OkStatus();
}

uint64_t BoundedIndexBytes(const DiffOptions& options) {
  return std::max(options.max_memory, kMinBoundedMemory) / 8;
}

}  // namespace bounded_internal

namespace {

// The process itself (code, libraries, stacks) and the I/O buffers.
constexpr uint64_t kAllowance = uint64_t{40} << 20;

}  // namespace

using bounded_internal::BoundedDiffer;
using bounded_internal::kMaxWindow;

std::shared_ptr<const BlockIndex> ChunkIndexCache::Get(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (key_ != key) {
    key_.clear();
    index_.reset();
  }
  hits_ += index_ != nullptr;
  return index_;
}

uint64_t ChunkIndexCache::hits() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hits_;
}

void ChunkIndexCache::Put(const std::string& key, std::shared_ptr<const BlockIndex> index) {
  std::lock_guard<std::mutex> lock(mu_);
  key_ = key;
  index_ = std::move(index);
}

BoundedDiffPlan PlanBoundedDiff(uint64_t old_size, uint64_t new_size,
                                const DiffOptions& options) {
  const uint64_t budget = std::max(options.max_memory, kMinBoundedMemory);
  BoundedDiffPlan plan;
  plan.index_bytes = bounded_internal::BoundedIndexBytes(options);
  // Pass 1: S + W + 4 W (8 W from 2 GiB) in what is left, with S = 3 W / 4.
  const uint64_t left = budget - plan.index_bytes - kAllowance;
  plan.window_bytes = std::min(left * 4 / 23, kMaxWindow);
  plan.segment_bytes = std::max<uint64_t>(plan.window_bytes * 3 / 4, 1);
  plan.window_bytes = std::min(plan.window_bytes, std::max<uint64_t>(old_size, 1));
  // Pass 2: two encoders run at once (the diff stream's, and each run of the
  // extra stream's in turn), plus headroom for the feed's queue and the
  // scratch files' buffers; with zstd's threads if they fit the budget at
  // the asked level, else without, at the highest level that fits.
  auto fits = [&](const ZstdOptions& zstd) {
    return 2 * ZstdStreamWriter::MemoryFor(new_size, zstd) + kAllowance + 10 * kBoundedPiece <= budget;
  };
  ZstdOptions zstd;
  zstd.level = options.level;
  zstd.workers = options.threads > 1 ? options.threads : 0;
  zstd.max_window_log = kMaxStreamWindowLog;
  if (!fits(zstd)) {
    zstd.workers = 0;
    while (zstd.level > 1 && !fits(zstd)) --zstd.level;
  }
  plan.level = zstd.level;
  plan.zstd_workers = zstd.workers;
  plan.zstd_window_log = zstd.max_window_log;
  return plan;
}

absl::StatusOr<std::optional<std::vector<DeltaOp>>> MatchNearIdentical(
    const ByteSource& old, const ByteSource& new_file, uint64_t max_off_diagonal,
    const DiffOptions& options, bool* index_cached) {
  BoundedDiffer differ(old, new_file, options, PlanBoundedDiff(old.size(), new_file.size(), options));
  OpCollector ops;
  bool cached = false;
  absl::Status status = differ.MatchNearIdentical(max_off_diagonal, &ops, &cached);
  if (index_cached != nullptr) *index_cached = cached;
  if (absl::IsAborted(status)) return std::nullopt;
  PF_RETURN_IF_ERROR(status);
  return std::move(ops.ops());
}

absl::Status DiffBounded(const ByteSource& old, const ByteSource& new_file,
                         const std::string& scratch_dir, ByteSink* patch,
                         const DiffOptions& options, DiffStats* stats) {
  DiffStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  BoundedDiffer differ(old, new_file, options, PlanBoundedDiff(old.size(), new_file.size(), options));
  return differ.Run(scratch_dir, patch, stats);
}

absl::Status DiffSegment(const ByteSource& old, const ByteSource& new_file,
                         const SegmentSpec& spec, const std::string& scratch_dir, ByteSink* out,
                         const DiffOptions& options) {
  DiffOptions segment_options = options;
  segment_options.old_digest = spec.old_digest;
  const uint64_t length = spec.end > spec.begin ? spec.end - spec.begin : 0;
  BoundedDiffer differ(old, new_file, segment_options,
                       PlanBoundedDiff(old.size(), length, segment_options));
  return differ.RunSegment(spec, scratch_dir, out);
}

}  // namespace patchfarm
