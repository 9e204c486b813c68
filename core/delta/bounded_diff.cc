#include "core/delta/bounded_diff.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/block_index.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/format.h"
#include "core/delta/matcher.h"
#include "core/delta/segments.h"
#include "core/delta/suffix_index.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

// The process itself (code, libraries, stacks) and the I/O buffers.
constexpr uint64_t kAllowance = uint64_t{40} << 20;
constexpr size_t kPiece = kBoundedPiece;
// Larger windows find a little more (1.5 MB less of 69 MB on a 1 GiB pack
// with 152 MiB windows) at twice the time: suffix sorting is superlinear and
// leaves the caches.
constexpr uint64_t kMaxWindow = uint64_t{64} << 20;
// Blocks of a segment that differ from old at its diagonal in at most 1 byte
// in this many are taken on the diagonal (DiagonalRuns).
constexpr uint64_t kDiagonalBlock = 4096;
constexpr uint64_t kDiagonalMismatch = 8;
// Stretches off a segment's diagonal from this size look for a diagonal of
// their own before a suffix sort.
constexpr uint64_t kMinDiagonalStretch = 16 * kDiagonalBlock;

// A run of old placed in the window.
struct Piece {
  uint64_t window_pos;
  uint64_t old_pos;
  uint64_t length;
};

class BoundedDiffer {
 public:
  BoundedDiffer(const ByteSource& old, const ByteSource& new_file, const DiffOptions& options,
                const BoundedDiffPlan& plan)
      : old_(old), new_(new_file), options_(options), plan_(plan), end_(new_file.size()) {}

  // The whole patch (method 1).
  absl::Status Run(const std::string& scratch_dir, ByteSink* patch, DiffStats* stats);
  // The segment of `spec` (segments.h): new[spec.begin, spec.end) only,
  // trusting the digests it names.
  absl::Status RunSegment(const SegmentSpec& spec, const std::string& scratch_dir, ByteSink* out);
  // Pass 1 alone, into `ops`, giving up (Aborted) once more than
  // `max_off_diagonal` bytes of new are off the segments' main diagonals.
  absl::Status MatchNearIdentical(uint64_t max_off_diagonal, OpCollector* ops, bool* index_cached) {
    off_diagonal_limit_ = max_off_diagonal;
    return MatchSegments(ops, index_cached);
  }

 private:
  // Pass 1: the ops of every segment of new, into `control`.
  // Fills `index` with old's chunks, from options_.index_store if it holds
  // them (then old is not read), else by reading old, which also hashes it.
  absl::Status IndexOld(BlockIndex* index, bool* cached);
  absl::Status MatchSegments(OpSink* control, bool* index_cached);
  // The segment of new at `begin`: the stretches that old holds almost
  // unchanged at the most voted diagonal are ops on it without a suffix sort
  // (what makes a big file that barely changed cheap); larger stretches off
  // it are taken the same way on their own most voted diagonal; the rest, or
  // the whole segment when no diagonal holds a quarter of it, goes to
  // MatchRange.
  absl::Status MatchSegment(const BlockIndex& index, uint64_t begin, absl::string_view segment,
                            OpSink* control);
  // Bytes of new at `begin` matched with the full engine against a window of
  // the regions of old their chunks were found in (`votes`).
  absl::Status MatchRange(const BlockIndex& index, uint64_t begin, absl::string_view range,
                          OpSink* control);
  // Where the chunks of the segment of new at `begin` were found in old.
  struct Votes {
    uint64_t region = 0;          // Bytes per region of old.
    std::vector<uint64_t> weight;  // Per region, bytes of chunks found there.
    int64_t diagonal = 0;          // The old - new offset most bytes were found at,
    uint64_t diagonal_weight = 0;  // and those bytes.
  };
  Votes Vote(const BlockIndex& index, uint64_t begin, absl::string_view segment) const;
  // The most voted regions, as pieces of a window of at most
  // plan_.window_bytes, in old order.
  std::vector<Piece> ChooseWindow(const Votes& votes) const;
  // Splits `segment` into stretches of kDiagonalBlock bytes that do or do not
  // (mostly) equal old at the votes' diagonal, merged into stretches.
  struct Stretch {
    uint64_t offset, length;
    bool on_diagonal;
  };
  absl::StatusOr<std::vector<Stretch>> DiagonalRuns(const Votes& votes, uint64_t begin,
                                                absl::string_view segment) const;
  // Pass 2: the diff and extra streams, by the ops in `control_raw`.
  absl::Status EncodeStreams(const ByteSource& control_raw, ByteSink* diff, ByteSink* extra);
  // Both passes over new[begin_, end_): the raw control entries into
  // `*control_raw` (counted by `control`), the diff frame and the extra
  // frames into `frames` (kDiffStream, kExtraStream), their entries into
  // `extents[kDiffStream]` and `extra_frames`: CompressInRuns' frames, at
  // most `extra_frames_max`. With `compress_control`,
  // the control stream's frame goes to frames[kControlStream] first.
  absl::Status Encode(const std::string& scratch_dir, bool compress_control, size_t extra_frames_max,
                      std::unique_ptr<ScratchFile>* control_raw, ControlWriter** control,
                      std::unique_ptr<ScratchFile> frames[3], StreamExtent extents[3],
                      std::vector<StreamExtent>* extra_frames, bool* index_cached);

  const ByteSource& old_;
  const ByteSource& new_;
  const DiffOptions& options_;
  const BoundedDiffPlan plan_;
  Digest old_digest_{}, new_digest_{};
  uint64_t begin_ = 0, end_;  // The bytes of new diffed.
  bool digests_given_ = false;  // RunSegment: old_digest_ and new_digest_ are the spec's.
  std::unique_ptr<ControlWriter> control_writer_;
  std::string window_;
  uint64_t off_diagonal_ = 0;  // Bytes of new matched off the main diagonals,
  uint64_t off_diagonal_limit_ = UINT64_MAX;  // and how many may be.
};

// The sentinel of a pair that is not near-identical.
absl::Status NotNearIdentical() { return absl::AbortedError("not near-identical"); }

BoundedDiffer::Votes BoundedDiffer::Vote(const BlockIndex& index, uint64_t begin,
                                          absl::string_view segment) const {
  Votes votes;
  const uint64_t old_size = old_.size();
  // Regions: 1/64 of the window, between 64 KiB and 4 MiB.
  votes.region = uint64_t{64} << 10;
  while (votes.region * 64 < plan_.window_bytes && votes.region < (uint64_t{4} << 20)) {
    votes.region *= 2;
  }
  votes.weight.assign((old_size + votes.region - 1) / votes.region, 0);
  absl::flat_hash_map<int64_t, uint64_t> diagonals;
  const auto* bytes = reinterpret_cast<const uint8_t*>(segment.data());
  const Chunker& chunker = index.chunker();
  for (size_t at = 0; at < segment.size();) {
    size_t len = chunker.Next(bytes + at, segment.size() - at, true);
    int64_t pos = index.Find(Chunker::Hash(bytes + at, len));
    if (pos >= 0) {
      votes.weight[pos / votes.region] += len;
      uint64_t last = (pos + len - 1) / votes.region;
      if (last != pos / votes.region && last < votes.weight.size()) votes.weight[last] += len;
      uint64_t& w = diagonals[pos - static_cast<int64_t>(begin + at)];
      w += len;
      if (w > votes.diagonal_weight) {
        votes.diagonal_weight = w;
        votes.diagonal = pos - static_cast<int64_t>(begin + at);
      }
    }
    at += len;
  }
  return votes;
}

std::vector<Piece> BoundedDiffer::ChooseWindow(const Votes& votes) const {
  const uint64_t old_size = old_.size();
  const uint64_t region = votes.region;
  std::vector<std::pair<uint64_t, uint64_t>> voted;  // (weight, region)
  for (uint64_t r = 0; r < votes.weight.size(); ++r) {
    if (votes.weight[r] > 0) voted.emplace_back(votes.weight[r], r);
  }
  std::sort(voted.begin(), voted.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<uint64_t> chosen;
  uint64_t total = 0;
  for (const auto& [w, r] : voted) {
    uint64_t length = std::min(region, old_size - r * region);
    if (total + length > plan_.window_bytes) continue;
    chosen.push_back(r);
    total += length;
  }
  std::sort(chosen.begin(), chosen.end());
  std::vector<Piece> pieces;
  uint64_t window_pos = 0;
  for (uint64_t r : chosen) {
    uint64_t start = r * region, length = std::min(region, old_size - start);
    if (!pieces.empty() && pieces.back().old_pos + pieces.back().length == start) {
      pieces.back().length += length;
    } else {
      pieces.push_back({window_pos, start, length});
    }
    window_pos += length;
  }
  return pieces;
}

absl::StatusOr<std::vector<BoundedDiffer::Stretch>> BoundedDiffer::DiagonalRuns(
    const Votes& votes, uint64_t begin, absl::string_view segment) const {
  std::vector<Stretch> runs;
  if (votes.diagonal_weight < segment.size() / 4) return runs;
  const int64_t old_size = static_cast<int64_t>(old_.size());
  const int64_t diagonal_begin = static_cast<int64_t>(begin) + votes.diagonal;
  std::string old_bytes(kPiece, '\0');
  for (uint64_t piece = 0; piece < segment.size(); piece += kPiece) {
    const uint64_t piece_len = std::min<uint64_t>(kPiece, segment.size() - piece);
    // The part of this piece whose diagonal lies inside old.
    const int64_t from = std::max<int64_t>(0, -(diagonal_begin + static_cast<int64_t>(piece)));
    const int64_t to = std::min<int64_t>(static_cast<int64_t>(piece_len),
                                         old_size - diagonal_begin - static_cast<int64_t>(piece));
    if (from < to) {
      PF_RETURN_IF_ERROR(ReadExactly(old_, diagonal_begin + piece + from, &old_bytes[from],
                                     static_cast<size_t>(to - from), "old"));
    }
    for (uint64_t block = 0; block < piece_len; block += kDiagonalBlock) {
      const uint64_t len = std::min<uint64_t>(kDiagonalBlock, piece_len - block);
      bool on = static_cast<int64_t>(block) >= from && static_cast<int64_t>(block + len) <= to;
      if (on) {
        uint64_t differ = 0;
        for (uint64_t i = block; i < block + len; ++i) {
          differ += old_bytes[i] != segment[piece + i];
        }
        on = differ * kDiagonalMismatch <= len;
      }
      if (!runs.empty() && runs.back().on_diagonal == on) {
        runs.back().length += len;
      } else {
        runs.push_back({piece + block, len, on});
      }
    }
  }
  return runs;
}

absl::Status BoundedDiffer::MatchSegment(const BlockIndex& index, uint64_t begin,
                                         absl::string_view segment, OpSink* control) {
  const Votes votes = Vote(index, begin, segment);
  PF_ASSIGN_OR_RETURN(std::vector<Stretch> runs, DiagonalRuns(votes, begin, segment));
  uint64_t on_diagonal = 0;
  for (const Stretch& run : runs) on_diagonal += run.on_diagonal ? run.length : 0;
  if (on_diagonal < segment.size() / 4) return MatchRange(index, begin, segment, control);
  for (const Stretch& run : runs) {
    if (run.on_diagonal) {
      PF_RETURN_IF_ERROR(control->Add(begin + run.offset + votes.diagonal, run.length, 0));
    } else if (run.length >= kMinDiagonalStretch) {
      // Another diagonal may hold it (content shifted by an insertion or a
      // removal): its own votes say. At most 3/4 of the segment: this ends.
      PF_RETURN_IF_ERROR(
          MatchSegment(index, begin + run.offset, segment.substr(run.offset, run.length), control));
    } else {
      PF_RETURN_IF_ERROR(
          MatchRange(index, begin + run.offset, segment.substr(run.offset, run.length), control));
    }
  }
  return absl::OkStatus();
}

absl::Status BoundedDiffer::MatchRange(const BlockIndex& index, uint64_t begin,
                                       absl::string_view range, OpSink* control) {
  off_diagonal_ += range.size();
  if (off_diagonal_ > off_diagonal_limit_) return NotNearIdentical();
  std::vector<Piece> pieces = ChooseWindow(Vote(index, begin, range));
  uint64_t window_size = pieces.empty() ? 0 : pieces.back().window_pos + pieces.back().length;
  if (window_size == 0) return control->Add(0, 0, range.size());
  std::string& window = window_;  // Reused: its capacity stays at the largest window.
  window.resize(window_size);
  for (const Piece& p : pieces) {
    PF_RETURN_IF_ERROR(ReadExactly(old_, p.old_pos, &window[p.window_pos], p.length, "old"));
  }
  std::vector<DeltaOp> ops;
  {
    PF_ASSIGN_OR_RETURN(SuffixIndex suffixes, SuffixIndex::Build(window));
    MatchOptions match;
    match.threads = options_.threads;
    ops = MatchAll(window, range, suffixes, match);
  }
  // Window positions to old ones; an op whose diff bytes cross from one piece
  // into the next is split there (the second part takes its extra bytes).
  size_t piece = 0;
  for (const DeltaOp& op : ops) {
    uint64_t at = op.old_pos, left = op.diff_len;
    while (left > 0) {
      while (pieces[piece].window_pos > at) --piece;
      while (pieces[piece].window_pos + pieces[piece].length <= at) ++piece;
      const Piece& p = pieces[piece];
      uint64_t take = std::min(left, p.window_pos + p.length - at);
      left -= take;
      PF_RETURN_IF_ERROR(
          control->Add(p.old_pos + (at - p.window_pos), take, left == 0 ? op.extra_len : 0));
      at += take;
    }
    if (op.diff_len == 0) PF_RETURN_IF_ERROR(control->Add(0, 0, op.extra_len));
  }
  return absl::OkStatus();
}

absl::Status BoundedDiffer::IndexOld(BlockIndex* index, bool* cached) {
  *cached = false;
  IndexStore* store = options_.old_digest ? options_.index_store : nullptr;
  std::string key;
  if (store != nullptr) {
    key = absl::StrCat("chunks/", index->Parameters(), "/", DigestToHex(*options_.old_digest));
    std::optional<std::string> bytes = store->Load(key);
    if (bytes && index->Restore(*bytes).ok()) {  // A bad entry is rebuilt and saved again.
      if (!digests_given_) old_digest_ = *options_.old_digest;
      *cached = true;
      return absl::OkStatus();
    }
  }
  Sha256 old_hash;
  PF_RETURN_IF_ERROR(index->AddAll(old_, [&](absl::string_view piece) { old_hash.Update(piece); }));
  const Digest hashed = old_hash.Finish();
  if (!digests_given_) old_digest_ = hashed;
  if (options_.old_digest && *options_.old_digest != hashed) {
    return absl::FailedPreconditionError("old is not the file its digest names");
  }
  if (store != nullptr) store->Save(key, index->Serialize());
  return absl::OkStatus();
}

absl::Status BoundedDiffer::MatchSegments(OpSink* control, bool* index_cached) {
  BlockIndex index(old_.size(), plan_.index_bytes);
  PF_RETURN_IF_ERROR(IndexOld(&index, index_cached));
  Sha256 new_hash;
  std::string segment;
  for (uint64_t begin = begin_; begin < end_; begin += plan_.segment_bytes) {
    segment.resize(static_cast<size_t>(std::min(plan_.segment_bytes, end_ - begin)));
    PF_RETURN_IF_ERROR(ReadExactly(new_, begin, segment.data(), segment.size(), "new"));
    new_hash.Update(segment);
    PF_RETURN_IF_ERROR(MatchSegment(index, begin, segment, control));
  }
  if (!digests_given_) new_digest_ = new_hash.Finish();
  return absl::OkStatus();
}

absl::Status BoundedDiffer::EncodeStreams(const ByteSource& control_raw, ByteSink* diff,
                                          ByteSink* extra) {
  ControlReader control(&control_raw);
  std::string old_buf(kPiece, '\0'), new_buf(kPiece, '\0');
  uint64_t old_cursor = 0, new_cursor = begin_;
  while (new_cursor < end_) {
    PF_ASSIGN_OR_RETURN(uint64_t seek, control.Next());
    PF_ASSIGN_OR_RETURN(uint64_t diff_len, control.Next());
    PF_ASSIGN_OR_RETURN(uint64_t extra_len, control.Next());
    old_cursor += static_cast<uint64_t>(UnZigZag(seek));
    for (uint64_t done = 0; done < diff_len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, diff_len - done));
      PF_RETURN_IF_ERROR(ReadExactly(old_, old_cursor, old_buf.data(), n, "old"));
      PF_RETURN_IF_ERROR(ReadExactly(new_, new_cursor, new_buf.data(), n, "new"));
      for (size_t i = 0; i < n; ++i) new_buf[i] = static_cast<char>(new_buf[i] - old_buf[i]);
      PF_RETURN_IF_ERROR(diff->Append(absl::string_view(new_buf.data(), n)));
      done += n;
      old_cursor += n;
      new_cursor += n;
    }
    for (uint64_t done = 0; done < extra_len;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, extra_len - done));
      PF_RETURN_IF_ERROR(ReadExactly(new_, new_cursor, new_buf.data(), n, "new"));
      PF_RETURN_IF_ERROR(extra->Append(absl::string_view(new_buf.data(), n)));
      done += n;
      new_cursor += n;
    }
  }
  return absl::OkStatus();
}

absl::Status BoundedDiffer::Encode(const std::string& scratch_dir, bool compress_control,
                                   size_t extra_frames_max,
                                   std::unique_ptr<ScratchFile>* control_raw,
                                   ControlWriter** control, std::unique_ptr<ScratchFile> frames[3],
                                   StreamExtent extents[3], std::vector<StreamExtent>* extra_frames,
                                   bool* index_cached) {
  PF_ASSIGN_OR_RETURN(*control_raw, ScratchFile::Create(scratch_dir));
  control_writer_ = std::make_unique<ControlWriter>(control_raw->get());
  *control = control_writer_.get();
  PF_RETURN_IF_ERROR(MatchSegments(*control, index_cached));
  PF_RETURN_IF_ERROR((*control)->Flush());
  std::string().swap(window_);  // Pass 2 needs the memory.

  ZstdOptions zstd;
  zstd.level = plan_.level;
  zstd.workers = plan_.zstd_workers;
  for (int i = 0; i < 3; ++i) {
    PF_ASSIGN_OR_RETURN(frames[i], ScratchFile::Create(scratch_dir));
  }
  if (compress_control) {  // Alone: its encoder is freed before the others start.
    PF_ASSIGN_OR_RETURN(extents[kControlStream],
                        CompressSource(**control_raw, zstd, frames[kControlStream].get()));
  }
  // The extra stream goes raw to a scratch file, compressed in runs after.
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> extra_raw, ScratchFile::Create(scratch_dir));
  const uint64_t diff_size = (*control)->diff_bytes();
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ZstdStreamWriter> diff_writer,
                      ZstdStreamWriter::Create(diff_size, zstd, frames[kDiffStream].get()));
  {
    StreamFeed diff(diff_writer.get(), options_.threads > 1);
    absl::Status encoded = EncodeStreams(**control_raw, &diff, extra_raw.get());
    absl::Status diff_closed = diff.Close();
    PF_RETURN_IF_ERROR(encoded);
    PF_RETURN_IF_ERROR(diff_closed);
  }
  PF_RETURN_IF_ERROR(diff_writer->Finish());
  extents[kDiffStream] = ExtentOf(*diff_writer, diff_size);
  diff_writer.reset();
  PF_ASSIGN_OR_RETURN(*extra_frames, CompressInRuns(*extra_raw, zstd, extra_frames_max,
                                                    frames[kExtraStream].get()));
  return absl::OkStatus();
}

absl::Status BoundedDiffer::Run(const std::string& scratch_dir, ByteSink* patch,
                                DiffStats* stats) {
  std::unique_ptr<ScratchFile> control_raw, frames[3];
  ControlWriter* control = nullptr;
  StreamExtent extents[3];
  std::vector<StreamExtent> extra_frames;
  PF_RETURN_IF_ERROR(Encode(scratch_dir, /*compress_control=*/true, kMaxJoinedSegments,
                            &control_raw, &control, frames, extents, &extra_frames,
                            &stats->index_cached));
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
  auto copy = [&](const ScratchFile& frame) {
    return ForEachPiece(frame, [&](absl::string_view piece) { return patch->Append(piece); });
  };
  PF_RETURN_IF_ERROR(copy(*frames[kControlStream]));
  PF_RETURN_IF_ERROR(copy(*frames[kDiffStream]));
  for (size_t i = 1; i < extra_frames.size(); ++i) PF_RETURN_IF_ERROR(patch->Append(empty_frame));
  PF_RETURN_IF_ERROR(copy(*frames[kExtraStream]));
  stats->bounded = true;
  stats->method = header.method;
  stats->ops = control->ops();
  stats->diff_bytes = control->diff_bytes();
  stats->extra_bytes = control->extra_bytes();
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
  ControlWriter* control = nullptr;
  StreamExtent extents[3];
  std::vector<StreamExtent> extra_frames;
  bool index_cached = false;
  PF_RETURN_IF_ERROR(Encode(scratch_dir, /*compress_control=*/false, kMaxSegmentExtraFrames,
                            &control_raw, &control, frames, extents, &extra_frames,
                            &index_cached));
  SegmentHeader header;
  header.old_size = old_.size();
  header.new_size = new_.size();
  header.old_digest = spec.old_digest;
  header.new_digest = spec.new_digest;
  header.begin = spec.begin;
  header.end = spec.end;
  header.control_bytes = control_raw->size();
  Sha256 control_hash;
  PF_RETURN_IF_ERROR(ForEachPiece(*control_raw, [&](absl::string_view piece) {
    control_hash.Update(piece);
    return absl::OkStatus();
  }));
  const Digest control_digest = control_hash.Finish();
  header.control_checksum = GetFixed64(reinterpret_cast<const char*>(control_digest.data()));
  header.diff = extents[kDiffStream];
  header.extra = extra_frames;
  PF_RETURN_IF_ERROR(out->Append(SerializeSegmentHeader(header)));
  for (const ScratchFile* part : {control_raw.get(), frames[kDiffStream].get(),
                                  frames[kExtraStream].get()}) {
    PF_RETURN_IF_ERROR(
        ForEachPiece(*part, [&](absl::string_view piece) { return out->Append(piece); }));
  }
  return absl::OkStatus();
}

}  // namespace

BoundedDiffPlan PlanBoundedDiff(uint64_t old_size, uint64_t new_size,
                                const DiffOptions& options) {
  const uint64_t budget = std::max(options.max_memory, kMinBoundedMemory);
  BoundedDiffPlan plan;
  plan.index_bytes = budget / 8;
  // Pass 1: S + W + 4 W (8 W from 2 GiB) in what is left, with S = 3 W / 4.
  const uint64_t left = budget - plan.index_bytes - kAllowance;
  plan.window_bytes = std::min(left * 4 / 23, kMaxWindow);
  plan.segment_bytes = std::max<uint64_t>(plan.window_bytes * 3 / 4, 1);
  plan.window_bytes = std::min(plan.window_bytes, std::max<uint64_t>(old_size, 1));
  // Pass 2: two encoders at once (diff and extra) and their queues; with
  // zstd's threads if they fit the budget at the asked level, else without,
  // at the highest level that fits.
  auto fits = [&](const ZstdOptions& zstd) {
    return 2 * ZstdStreamWriter::MemoryFor(new_size, zstd) + kAllowance + 10 * kPiece <= budget;
  };
  ZstdOptions zstd;
  zstd.level = options.level;
  zstd.workers = options.threads > 1 ? options.threads : 0;
  if (!fits(zstd)) {
    zstd.workers = 0;
    while (zstd.level > 1 && !fits(zstd)) --zstd.level;
  }
  plan.level = zstd.level;
  plan.zstd_workers = zstd.workers;
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
