#include "core/delta/anchors.h"

#include <algorithm>
#include <cstring>

#include "core/delta/block_index.h"
#include "core/delta/suffix_index.h"

namespace patchfarm {
namespace {

constexpr int kChunkLog = 8;  // 256-byte chunks on average.

// Old's chunks by content hash: open addressing, the first of equal chunks kept.
class ChunkTable {
 public:
  explicit ChunkTable(absl::string_view old_data) {
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
    for (const auto& [hash, pos] : chunks) {
      for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].hash == hash) break;
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
                                int64_t min_length) {
  std::vector<Anchor> anchors;
  if (old_data.empty() || new_data.empty()) return anchors;
  const ChunkTable table(old_data);
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

ReducedOld::ReducedOld(absl::string_view old_data, const std::vector<Anchor>& anchors) {
  std::vector<std::pair<int64_t, int64_t>> covered;  // Old ranges [begin, end).
  covered.reserve(anchors.size());
  for (const Anchor& a : anchors) covered.emplace_back(a.old_pos, a.old_pos + a.length);
  std::sort(covered.begin(), covered.end());
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
