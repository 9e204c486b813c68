// Pass 1 of bounded diff (bounded_differ.h): old's chunk index, then for each
// segment of new its votes, its diagonal runs and the matching of the rest
// against a window of the voted regions of old.
#include <algorithm>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/bounded_differ.h"
#include "core/delta/matcher.h"
#include "core/delta/suffix_index.h"

namespace patchfarm {
namespace bounded_internal {

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

std::vector<Piece> BoundedDiffer::ChooseWindow(const Votes& votes, uint64_t range_size) const {
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
  std::vector<bool> taken(votes.weight.size(), false);
  uint64_t total = 0;
  auto take = [&](uint64_t r) {
    uint64_t length = std::min(region, old_size - r * region);
    if (taken[r] || total + length > plan_.window_bytes) return;
    taken[r] = true;
    chosen.push_back(r);
    total += length;
  };
  for (const auto& [w, r] : voted) take(r);
  // Then, up to the range's size, the voted regions' neighbours, nearest
  // first: a source edited all over (code of another build) leaves few
  // chunks whole, and what lies around them is matched approximately.
  const uint64_t target = std::min(plan_.window_bytes, range_size);
  const size_t voted_count = chosen.size();
  const uint64_t regions = votes.weight.size();
  // Rounds end where no region lies d away from a voted one, or none fits.
  uint64_t farthest = 0;
  for (size_t i = 0; i < voted_count; ++i) {
    farthest = std::max({farthest, chosen[i], regions - 1 - chosen[i]});
  }
  const uint64_t smallest =
      regions == 0 ? region : std::min(region, old_size - (regions - 1) * region);
  for (uint64_t d = 1; total < target && d <= farthest && plan_.window_bytes - total >= smallest;
       ++d) {
    for (size_t i = 0; i < voted_count && total < target; ++i) {
      if (chosen[i] >= d) take(chosen[i] - d);
      if (total < target && chosen[i] + d < regions) take(chosen[i] + d);
    }
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
  std::vector<Piece> pieces = ChooseWindow(Vote(index, begin, range), range.size());
  uint64_t window_size = pieces.empty() ? 0 : pieces.back().window_pos + pieces.back().length;
  if (window_size == 0) return control->Add(0, 0, range.size());
  std::string& window = window_;  // Reused: its capacity stays at the largest window.
  window.resize(window_size);
  for (const Piece& p : pieces) {
    PF_RETURN_IF_ERROR(ReadExactly(old_, p.old_pos, &window[p.window_pos], p.length, "old"));
  }
  std::vector<DeltaOp> ops;
  {
    MatchOptions match;
    match.threads = options_.threads;
    // Where anchors leave at most 3/4 of the window to sort, that copy and its
    // suffix array take less than the window's own suffix array would.
    PF_ASSIGN_OR_RETURN(std::optional<std::vector<DeltaOp>> anchored,
                        MatchAnchored(window, range, match, /*max_sorted_percent=*/75));
    if (anchored) {
      ops = *std::move(anchored);
    } else {
      PF_ASSIGN_OR_RETURN(SuffixIndex suffixes, SuffixIndex::Build(window, match.threads));
      ops = MatchAll(window, range, suffixes, match);
    }
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

std::string ChunkIndexKey(const std::string& parameters, const Digest& old_digest) {
  return absl::StrCat("chunks/", parameters, "/", DigestToHex(old_digest));
}

absl::StatusOr<std::shared_ptr<const BlockIndex>> BoundedDiffer::IndexOld(bool* cached) {
  *cached = false;
  IndexStore* store = options_.old_digest ? options_.index_store : nullptr;
  ChunkIndexCache* kept = store != nullptr ? options_.chunk_index_cache : nullptr;
  std::string key;
  if (store != nullptr) {
    key = ChunkIndexKey(BlockIndex::ParametersFor(old_.size(), plan_.index_bytes,
                                                  options_.index_part_bytes),
                        *options_.old_digest);
    std::shared_ptr<const BlockIndex> hit = kept != nullptr ? kept->Get(key) : nullptr;
    if (hit != nullptr) {
      if (!digests_given_) old_digest_ = *options_.old_digest;
      *cached = true;
      return hit;
    }
  }
  auto index = std::make_shared<BlockIndex>(old_.size(), plan_.index_bytes,
                                            options_.index_part_bytes);
  if (store != nullptr) {
    std::optional<std::string> bytes = store->Load(key);
    if (bytes && index->Restore(*bytes).ok()) {  // A bad entry is rebuilt and saved again.
      if (!digests_given_) old_digest_ = *options_.old_digest;
      *cached = true;
      if (kept != nullptr) kept->Put(key, index);
      return std::shared_ptr<const BlockIndex>(std::move(index));
    }  // Restore left the index empty.
  }
  Sha256 old_hash;
  const bool hash_old = hashes_ || options_.old_digest;
  PF_RETURN_IF_ERROR(index->AddAll(old_, [&](absl::string_view piece) {
    if (hash_old) old_hash.Update(piece);
  }));
  if (hash_old) {
    const Digest hashed = old_hash.Finish();
    if (!digests_given_) old_digest_ = hashed;
    if (options_.old_digest && *options_.old_digest != hashed) {
      return absl::FailedPreconditionError("old is not the file its digest names");
    }
  }
  if (store != nullptr) {
    store->Save(key, index->Serialize());
    if (kept != nullptr) kept->Put(key, index);
  }
  return std::shared_ptr<const BlockIndex>(std::move(index));
}

absl::Status BoundedDiffer::MatchSegments(OpSink* control, bool* index_cached) {
  PF_ASSIGN_OR_RETURN(std::shared_ptr<const BlockIndex> indexed, IndexOld(index_cached));
  const BlockIndex& index = *indexed;
  Sha256 new_hash;
  std::string segment;
  for (uint64_t begin = begin_; begin < end_; begin += plan_.segment_bytes) {
    segment.resize(static_cast<size_t>(std::min(plan_.segment_bytes, end_ - begin)));
    PF_RETURN_IF_ERROR(ReadExactly(new_, begin, segment.data(), segment.size(), "new"));
    if (hashes_) new_hash.Update(segment);
    PF_RETURN_IF_ERROR(MatchSegment(index, begin, segment, control));
  }
  if (hashes_ && !digests_given_) new_digest_ = new_hash.Finish();
  return absl::OkStatus();
}

}  // namespace bounded_internal
}  // namespace patchfarm
