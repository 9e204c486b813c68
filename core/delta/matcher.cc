#include "core/delta/matcher.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <thread>

namespace patchfarm {
namespace {

// A run this long under the current alignment is skipped without searching.
constexpr int64_t kSkipRun = 32;
// A new exact match must beat the current alignment by this many bytes.
constexpr int64_t kSwitchMargin = 12;
// A shorter one must also go on matching: over the match and kLookBeyond
// bytes after it, the new alignment must match kShortSwitchMargin bytes more
// than the current one. Short exact matches are often coincidences whose op
// costs more than it saves (on cumulative pairs of big executables, 2-3 x the
// ops for a larger patch).
constexpr int64_t kShortMatch = 64;
constexpr int64_t kLookBeyond = 96;
constexpr int64_t kShortSwitchMargin = 28;
// After a search that finds less than kTinyMatch bytes, the scan skips
// kTinySkip more positions without searching. After kTinyRun such searches
// in a row in bytes that look random (a block of kEntropyBlock bytes with an
// order-0 entropy of kRandomBits or more: fresh or compressed data, where
// only chance matches of a few bytes are found), it skips kRandomSkip: a
// piece of old of 64 bytes or more there is still found (kShortSwitchMargin
// asks 28 bytes past the search; at kTinySkip, 32 bytes or more were).
// Code and text stay below 7 bits (a growing skip there lost real matches).
constexpr int64_t kTinyMatch = 8;
constexpr int64_t kTinySkip = 3;
constexpr int64_t kTinyRun = 64;
constexpr int64_t kRandomSkip = 31;
constexpr int64_t kEntropyBlock = 4096;
constexpr double kRandomBits = 7.5;
// MatchAll cuts new into this many segments per thread, and with threads into
// segments of at most kMaxSegmentBytes: the last segment taken runs alone, and
// on a 1 GiB pack one of 64 MiB kept a core idle for 7 of 19 s.
constexpr int64_t kSegmentsPerThread = 8;
constexpr int64_t kMaxSegmentBytes = int64_t{16} << 20;

class SegmentMatcher {
 public:
  SegmentMatcher(absl::string_view old_data, absl::string_view new_data,
                 const SuffixIndex& index, const Anchored* anchored, int64_t begin, int64_t end)
      : old_(old_data.data()),
        new_(new_data.data()),
        old_size_(static_cast<int64_t>(old_data.size())),
        index_(index),
        anchored_(anchored),
        begin_(begin),
        end_(end) {
    if (anchored_ != nullptr) {
      const std::vector<Anchor>& anchors = *anchored_->anchors;
      next_anchor_ = std::partition_point(anchors.begin(), anchors.end(),
                                          [&](const Anchor& a) {
                                            return a.new_pos + a.length <= begin;
                                          }) -
                     anchors.begin();
    }
  }

  std::vector<DeltaOp> Run();

 private:
  bool Same(int64_t new_pos, int64_t offset) const {
    int64_t old_pos = new_pos + offset;
    return old_pos >= 0 && old_pos < old_size_ && old_[old_pos] == new_[new_pos];
  }
  // Length of the exact run at new_pos under `offset`, up to the segment end.
  int64_t RunLength(int64_t new_pos, int64_t offset) const {
    int64_t old_pos = new_pos + offset;
    if (old_pos < 0 || old_pos >= old_size_) return 0;
    return CommonPrefix(old_ + old_pos, new_ + new_pos,
                        std::min(old_size_ - old_pos, end_ - new_pos));
  }
  int64_t LongestMatch(int64_t scan, int64_t* pos);
  // Whether the block of new around new_pos looks random (kRandomBits).
  bool LooksRandom(int64_t new_pos);
  // Whether the exact match (scan, pos, len) found beats the current
  // alignment, which matches old_score of its bytes.
  bool Switches(int64_t scan, int64_t pos, int64_t len, int64_t old_score) const;
  void Emit(int64_t scan, int64_t pos);

  const char* old_;
  const char* new_;
  const int64_t old_size_;
  const SuffixIndex& index_;
  const Anchored* anchored_;
  size_t next_anchor_ = 0;  // The first anchor not behind the scan.
  const int64_t begin_, end_;
  std::vector<DeltaOp> ops_;
  int64_t last_scan_ = 0, last_pos_ = 0, last_offset_ = 0;
  int64_t entropy_block_ = -1;  // The block LooksRandom measured last,
  bool random_block_ = false;   // and what it found.
};

bool SegmentMatcher::LooksRandom(int64_t new_pos) {
  const int64_t block = new_pos / kEntropyBlock;
  if (block == entropy_block_) return random_block_;
  entropy_block_ = block;
  const int64_t from = std::max(begin_, block * kEntropyBlock);
  const int64_t to = std::min(end_, (block + 1) * kEntropyBlock);
  random_block_ = false;
  if (to - from < kEntropyBlock / 2) return false;
  int64_t count[256] = {};
  for (int64_t k = from; k < to; ++k) ++count[static_cast<uint8_t>(new_[k])];
  const double n = static_cast<double>(to - from);
  double sum = 0;  // Of c log2 c.
  for (int64_t c : count) sum += c > 0 ? static_cast<double>(c) * std::log2(c) : 0;
  random_block_ = std::log2(n) - sum / n >= kRandomBits;
  return random_block_;
}

std::vector<DeltaOp> SegmentMatcher::Run() {
  last_scan_ = begin_;
  last_pos_ = std::min(begin_, old_size_);
  last_offset_ = last_pos_ - begin_;
  int64_t scan = begin_, len = 0, pos = 0;
  int64_t tiny = 0;  // Searches in a row that found less than kTinyMatch.
  while (scan < end_) {
    int64_t old_score = 0;  // Matches under last_offset_ in [scan, scsc).
    int64_t scsc = scan += len;
    len = 0;
    while (scan < end_) {
      int64_t run = RunLength(scan, last_offset_);
      if (run >= kSkipRun) {
        tiny = 0;
        if (scsc > scan) old_score -= std::min(scsc, scan + run) - scan;
        scan += run;
        scsc = std::max(scsc, scan);
        len = 0;
        continue;
      }
      len = LongestMatch(scan, &pos);
      tiny = len < kTinyMatch ? tiny + 1 : 0;
      for (; scsc < scan + len; ++scsc) {
        if (Same(scsc, last_offset_)) ++old_score;
      }
      if ((len == old_score && len != 0) || Switches(scan, pos, len, old_score)) break;
      if (Same(scan, last_offset_)) --old_score;
      ++scan;
      if (len < kTinyMatch) {
        // Nothing here to build on (fresh data): the next few positions are
        // skipped; a real match starting among them is still found a little
        // later, and Emit extends it back over them.
        const int64_t skip = tiny >= kTinyRun && LooksRandom(scan) ? kRandomSkip : kTinySkip;
        for (const int64_t stop = std::min(end_, scan + skip); scan < stop; ++scan) {
          if (scan < scsc && Same(scan, last_offset_)) --old_score;
        }
        scsc = std::max(scsc, scan);
      }
    }
    if (len != old_score || scan >= end_) Emit(std::min(scan, end_), pos);
  }
  return std::move(ops_);
}

bool SegmentMatcher::Switches(int64_t scan, int64_t pos, int64_t len, int64_t old_score) const {
  if (len <= old_score + kSwitchMargin) return false;
  if (len >= kShortMatch) return true;
  const int64_t stop = std::min(end_, scan + len + kLookBeyond);
  int64_t new_score = 0, current_score = 0;
  for (int64_t k = scan; k < stop; ++k) {
    new_score += Same(k, pos - scan);
    current_score += Same(k, last_offset_);
  }
  return new_score > current_score + kShortSwitchMargin;
}

// The longest match of new[scan, end_) in old: `*pos` gets where it starts.
int64_t SegmentMatcher::LongestMatch(int64_t scan, int64_t* pos) {
  const absl::string_view needle(new_ + scan, end_ - scan);
  if (anchored_ == nullptr) return index_.LongestMatch(needle, pos);
  const std::vector<Anchor>& anchors = *anchored_->anchors;
  while (next_anchor_ < anchors.size() &&
         anchors[next_anchor_].new_pos + anchors[next_anchor_].length <= scan) {
    ++next_anchor_;
  }
  if (next_anchor_ < anchors.size() && anchors[next_anchor_].new_pos <= scan) {
    const Anchor& a = anchors[next_anchor_];
    *pos = a.old_pos + (scan - a.new_pos);
    return std::min(a.new_pos + a.length, end_) - scan;
  }
  int64_t reduced_pos;
  int64_t len = index_.LongestMatch(needle, &reduced_pos);
  if (len == 0) return 0;
  int64_t left;
  *pos = anchored_->reduced->ToOld(reduced_pos, &left);
  if (len < left) return len;
  // The match runs to the end of its piece of old; old goes on there under
  // an anchor or a repeat left out of the sort (or ends), and may go on
  // matching.
  return left + CommonPrefix(old_ + *pos + left, new_ + scan + left,
                             std::min(old_size_ - *pos, end_ - scan) - left);
}

// Closes the op that started at last_scan_: extends the previous alignment
// forward and the new match (scan, pos) backward while they match more often
// than not, splits any overlap where it pays, and leaves the gap as extra bytes.
void SegmentMatcher::Emit(int64_t scan, int64_t pos) {
  int64_t len_forward = 0;
  for (int64_t i = 0, s = 0, best = 0; last_scan_ + i < scan && last_pos_ + i < old_size_;) {
    if (old_[last_pos_ + i] == new_[last_scan_ + i]) ++s;
    ++i;
    if (s * 2 - i > best * 2 - len_forward) {
      best = s;
      len_forward = i;
    }
  }
  int64_t len_back = 0;
  if (scan < end_) {
    for (int64_t i = 1, s = 0, best = 0; scan >= last_scan_ + i && pos >= i; ++i) {
      if (old_[pos - i] == new_[scan - i]) ++s;
      if (s * 2 - i > best * 2 - len_back) {
        best = s;
        len_back = i;
      }
    }
  }
  if (last_scan_ + len_forward > scan - len_back) {
    int64_t overlap = (last_scan_ + len_forward) - (scan - len_back);
    int64_t s = 0, best = 0, split = 0;
    for (int64_t i = 0; i < overlap; ++i) {
      if (new_[last_scan_ + len_forward - overlap + i] ==
          old_[last_pos_ + len_forward - overlap + i]) {
        ++s;
      }
      if (new_[scan - len_back + i] == old_[pos - len_back + i]) --s;
      if (s > best) {
        best = s;
        split = i + 1;
      }
    }
    len_forward += split - overlap;
    len_back -= split;
  }
  DeltaOp op;
  op.new_pos = last_scan_;
  op.old_pos = last_pos_;
  op.diff_len = len_forward;
  op.extra_len = (scan - len_back) - (last_scan_ + len_forward);
  if (op.diff_len > 0 || op.extra_len > 0) ops_.push_back(op);
  last_scan_ = scan - len_back;
  last_pos_ = pos - len_back;
  last_offset_ = pos - scan;
}

// Matches new[begin, end) alone (one thread).
std::vector<DeltaOp> MatchSegment(absl::string_view old_data, absl::string_view new_data,
                                  const SuffixIndex& index, const Anchored* anchored,
                                  int64_t begin, int64_t end) {
  return SegmentMatcher(old_data, new_data, index, anchored, begin, end).Run();
}

}  // namespace

std::vector<DeltaOp> MatchAll(absl::string_view old_data, absl::string_view new_data,
                              const SuffixIndex& index, const MatchOptions& options,
                              const Anchored* anchored) {
  const int64_t n = static_cast<int64_t>(new_data.size());
  const int64_t threads = std::max(1, options.threads);
  const int64_t capped = threads > 1 ? (n + kMaxSegmentBytes - 1) / kMaxSegmentBytes : 1;
  const int64_t segments = std::max<int64_t>(
      {1, capped,
       std::min<int64_t>(threads * kSegmentsPerThread,
                         n / std::max<int64_t>(1, options.min_segment_bytes))});
  if (segments == 1) return MatchSegment(old_data, new_data, index, anchored, 0, n);
  // Segments match at very different speeds (changed code costs a search at
  // every byte, unchanged code a skip): each thread takes the next one left.
  std::vector<std::vector<DeltaOp>> parts(segments);
  std::atomic<int64_t> next{0};
  auto work = [&] {
    for (int64_t k; (k = next++) < segments;) {
      parts[k] = MatchSegment(old_data, new_data, index, anchored, n * k / segments,
                              n * (k + 1) / segments);
    }
  };
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < std::min(threads, segments); ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  std::vector<DeltaOp> ops;
  for (auto& part : parts) ops.insert(ops.end(), part.begin(), part.end());
  return ops;
}

absl::Status CheckOpsCover(const std::vector<DeltaOp>& ops, uint64_t old_size,
                           uint64_t new_size) {
  uint64_t covered = 0;
  for (const DeltaOp& op : ops) {
    if (op.diff_len < 0 || op.extra_len < 0 || op.old_pos < 0 ||
        static_cast<uint64_t>(op.new_pos) != covered ||
        (op.diff_len > 0 && static_cast<uint64_t>(op.old_pos + op.diff_len) > old_size)) {
      return absl::InternalError("ops that do not cover new in order within old");
    }
    covered += op.diff_len + op.extra_len;
  }
  if (covered != new_size) return absl::InternalError("ops that do not cover new");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::vector<DeltaOp>>> MatchAnchored(
    absl::string_view old_data, absl::string_view new_data, const MatchOptions& options,
    uint64_t max_sorted_percent) {
  std::vector<Repeat> repeats;
  const std::vector<Anchor> anchors =
      FindAnchors(old_data, new_data, kMinAnchorBytes, &repeats);
  // Whether anchors pay is judged without the repeats: old sorted whole may
  // come from a cache (DiffOptions::index_store), old without them may not.
  if ((old_data.size() - AnchoredOldBytes(anchors)) * 100 > old_data.size() * max_sorted_percent) {
    return std::optional<std::vector<DeltaOp>>();
  }
  const ReducedOld reduced(old_data, anchors, repeats);
  std::vector<Repeat>().swap(repeats);  // Up to 24 bytes per 256 of old: gone before the sort.
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(reduced.bytes(), options.threads);
  if (!index.ok()) return index.status();
  const Anchored anchored{&anchors, &reduced};
  return std::optional<std::vector<DeltaOp>>(
      MatchAll(old_data, new_data, *index, options, &anchored));
}

}  // namespace patchfarm
