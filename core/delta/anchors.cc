#include "core/delta/anchors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "core/delta/block_index.h"
#include "core/delta/suffix_index.h"

namespace patchfarm {
namespace {

constexpr int kChunkLog = 8;  // 256-byte chunks on average.

// Old's chunks by content hash: open addressing, the first of equal chunks
// kept; the others (same bytes, not only the same hash, and clear of the
// first copy) go to `repeats` if given.
class ChunkTable {
 public:
  ChunkTable(absl::string_view old_data, std::vector<Repeat>* repeats) {
    const auto* data = reinterpret_cast<const uint8_t*>(old_data.data());
    const Chunker chunker(kChunkLog);
    std::vector<std::pair<uint64_t, int64_t>> chunks;
    for (size_t pos = 0, len; pos < old_data.size(); pos += len) {
      len = chunker.Next(data + pos, old_data.size() - pos, /*at_end=*/true);
      chunks.emplace_back(Chunker::Hash(data + pos, len), static_cast<int64_t>(pos));
    }
    size_t slots = 16;
    while (slots < chunks.size() * 2) slots *= 2;
    slots_.assign(slots, Slot());
    mask_ = slots - 1;
    for (size_t k = 0; k < chunks.size(); ++k) {
      const auto [hash, pos] = chunks[k];
      const int64_t len = (k + 1 < chunks.size() ? chunks[k + 1].second
                                                 : static_cast<int64_t>(old_data.size())) -
                          pos;
      for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].hash == hash) {
          const int64_t first = slots_[i].pos;
          if (repeats != nullptr && first + len <= pos &&
              std::memcmp(data + first, data + pos, len) == 0) {
            repeats->push_back({pos, len, first});
          }
          break;
        }
        if (slots_[i].hash == 0) {
          slots_[i] = {hash, pos};
          break;
        }
      }
    }
  }

  // Where a chunk of `hash` starts in old, or -1.
  int64_t Find(uint64_t hash) const {
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].hash == hash) return slots_[i].pos;
      if (slots_[i].hash == 0) return -1;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;  // Chunker::Hash is never 0: 0 marks a free slot.
    int64_t pos = 0;
  };
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

}  // namespace

std::vector<Anchor> FindAnchors(absl::string_view old_data, absl::string_view new_data,
                                int64_t min_length, std::vector<Repeat>* repeats) {
  std::vector<Anchor> anchors;
  if (repeats != nullptr) repeats->clear();
  if (old_data.empty() || new_data.empty()) return anchors;
  const ChunkTable table(old_data, repeats);
  const Chunker chunker(kChunkLog);
  const char* old_bytes = old_data.data();
  const char* new_bytes = new_data.data();
  const auto old_size = static_cast<int64_t>(old_data.size());
  const auto new_size = static_cast<int64_t>(new_data.size());
  int64_t pos = 0, last_end = 0;
  while (pos < new_size) {
    const auto* at = reinterpret_cast<const uint8_t*>(new_bytes + pos);
    const auto len =
        static_cast<int64_t>(chunker.Next(at, new_size - pos, /*at_end=*/true));
    const int64_t old_pos = table.Find(Chunker::Hash(at, len));
    if (old_pos < 0 || old_pos + len > old_size ||
        std::memcmp(old_bytes + old_pos, new_bytes + pos, len) != 0) {
      pos += len;
      continue;
    }
    int64_t back = 0;
    while (pos - back > last_end && old_pos - back > 0 &&
           old_bytes[old_pos - back - 1] == new_bytes[pos - back - 1]) {
      ++back;
    }
    const int64_t forward =
        len + CommonPrefix(old_bytes + old_pos + len, new_bytes + pos + len,
                           std::min(old_size - old_pos - len, new_size - pos - len));
    if (back + forward >= min_length) {
      anchors.push_back({pos - back, old_pos - back, back + forward});
    }
    pos += forward;
    last_end = pos;
  }
  return anchors;
}

namespace {

// The old ranges [begin, end) of `anchors`, sorted and merged.
std::vector<std::pair<int64_t, int64_t>> AnchoredRanges(const std::vector<Anchor>& anchors) {
  std::vector<std::pair<int64_t, int64_t>> covered;
  covered.reserve(anchors.size());
  for (const Anchor& a : anchors) covered.emplace_back(a.old_pos, a.old_pos + a.length);
  std::sort(covered.begin(), covered.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (const auto& range : covered) {
    if (!merged.empty() && range.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

}  // namespace

uint64_t AnchoredOldBytes(const std::vector<Anchor>& anchors) {
  uint64_t bytes = 0;
  for (const auto& [begin, end] : AnchoredRanges(anchors)) bytes += end - begin;
  return bytes;
}

ReducedOld::ReducedOld(absl::string_view old_data, const std::vector<Anchor>& anchors,
                       const std::vector<Repeat>& repeats) {
  // Old ranges [begin, end) left out of the sort: the anchors', then runs of
  // repeats.
  const std::vector<std::pair<int64_t, int64_t>> anchored = AnchoredRanges(anchors);
  std::vector<std::pair<int64_t, int64_t>> covered = anchored;
  auto under_anchor = [&](int64_t begin, int64_t end) {
    auto after =
        std::upper_bound(anchored.begin(), anchored.end(), std::make_pair(begin, INT64_MAX));
    return (after != anchored.begin() && std::prev(after)->second > begin) ||
           (after != anchored.end() && after->first < end);
  };
  // Runs of adjacent repeats whose first copies stay in the sort.
  const size_t anchor_ranges = covered.size();
  for (size_t k = 0; k < repeats.size();) {
    int64_t begin = repeats[k].old_pos, end = begin;
    for (; k < repeats.size() && repeats[k].old_pos == end; ++k) {
      const Repeat& r = repeats[k];
      if (under_anchor(r.first_pos, r.first_pos + r.length)) break;
      end += r.length;
    }
    if (end == begin) ++k;  // A repeat whose first copy is anchored starts no run.
    if (end - begin >= kMinRepeatRun) covered.emplace_back(begin, end);
  }
  std::inplace_merge(covered.begin(), covered.begin() + anchor_ranges, covered.end());
  // Two passes: the first only counts, so that the copy is allocated once at
  // its size (appending would leave up to twice that reserved).
  for (bool copy : {false, true}) {
    int64_t cursor = 0, kept = 0;
    auto keep = [&](int64_t end) {
      if (end <= cursor) return;
      if (copy) {
        pieces_.push_back({static_cast<int64_t>(bytes_.size()), cursor});
        bytes_.append(old_data.data() + cursor, end - cursor);
      }
      kept += end - cursor;
    };
    for (const auto& [begin, end] : covered) {
      keep(begin);
      cursor = std::max(cursor, end);
    }
    keep(static_cast<int64_t>(old_data.size()));
    if (!copy) bytes_.reserve(kept);
  }
}

int64_t ReducedOld::ToOld(int64_t pos, int64_t* left) const {
  auto next = std::upper_bound(
      pieces_.begin(), pieces_.end(), pos,
      [](int64_t p, const Piece& piece) { return p < piece.reduced_pos; });
  const Piece& piece = *(next - 1);
  const int64_t end =
      next == pieces_.end() ? static_cast<int64_t>(bytes_.size()) : next->reduced_pos;
  *left = end - pos;
  return piece.old_pos + (pos - piece.reduced_pos);
}

}  // namespace patchfarm
