#include "core/delta/block_index.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/varint.h"

namespace patchfarm {
namespace {

constexpr size_t kReadPiece = size_t{4} << 20;

// Random constants for the gear hash, fixed for good: cut points (and so the
// patches of bounded diff) depend on them.
std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> gear{};
  uint64_t x = 0x5043484641524d31;  // splitmix64 from a fixed seed.
  for (uint64_t& g : gear) {
    x += 0x9E3779B97F4A7C15;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
    g = z ^ (z >> 31);
  }
  return gear;
}

const std::array<uint64_t, 256> kGear = MakeGear();

uint64_t Slots(uint64_t max_bytes) {
  uint64_t slots = uint64_t{1} << 12;  // 64 KiB of table.
  while (slots * 2 * 16 <= max_bytes) slots *= 2;
  return slots;
}

}  // namespace

Chunker::Chunker(int avg_log)
    : min_(size_t{1} << (avg_log - 2)), max_(size_t{1} << (avg_log + 2)), shift_(64 - avg_log) {}

size_t Chunker::Next(const uint8_t* data, size_t n, bool at_end) const {
  if (n <= min_) return at_end ? n : 0;
  const size_t limit = std::min(n, max_);
  uint64_t h = 0;
  for (size_t i = min_; i < limit; ++i) {
    h = (h << 1) + kGear[data[i]];
    if ((h >> shift_) == 0) return i + 1;
  }
  if (limit == max_) return max_;
  return at_end ? n : 0;
}

uint64_t Chunker::Hash(const uint8_t* data, size_t n) {
  uint64_t h = 0x9E3779B97F4A7C15 ^ (n * 0xC2B2AE3D27D4EB4F);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCD;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, data + i, n - i);
  h = (h ^ tail) * 0xC4CEB9FE1A85EC53;
  h ^= h >> 29;
  return h | 1;
}

int BlockIndexAvgLog(uint64_t old_size, uint64_t max_bytes) {
  const uint64_t chunks = Slots(max_bytes) / 2;
  int log = 8;
  while ((uint64_t{1} << log) * chunks < old_size && log < 30) ++log;
  return log;
}

BlockIndex::BlockIndex(uint64_t old_size, uint64_t max_bytes, uint64_t part_bytes)
    : table_(Slots(max_bytes)),
      max_bytes_(max_bytes),
      mask_(table_.size() - 1),
      old_size_(old_size),
      part_bytes_(std::max<uint64_t>(part_bytes, 1)),
      avg_log_(BlockIndexAvgLog(old_size, max_bytes)),
      chunker_(avg_log_) {}

std::string BlockIndex::Parameters() const {
  return ParametersFor(old_size_, max_bytes_, part_bytes_);
}

std::string BlockIndex::ParametersFor(uint64_t old_size, uint64_t max_bytes,
                                      uint64_t part_bytes) {
  return absl::StrCat(Slots(max_bytes), "-", BlockIndexAvgLog(old_size, max_bytes), "-",
                      std::max<uint64_t>(part_bytes, 1));
}

std::string BlockIndex::Serialize() const {
  std::vector<Slot> chunks;
  chunks.reserve(used_);
  for (const Slot& slot : table_) {
    if (slot.hash != 0) chunks.push_back(slot);
  }
  std::sort(chunks.begin(), chunks.end(),
            [](const Slot& a, const Slot& b) { return a.pos < b.pos; });
  std::string bytes;
  bytes.reserve(chunks.size() * 16);
  for (const Slot& slot : chunks) {
    PutFixed64(slot.hash, &bytes);
    PutFixed64(slot.pos, &bytes);
  }
  return bytes;
}

absl::Status BlockIndex::Restore(absl::string_view bytes) {
  auto fail = [this](const char* why) {
    std::fill(table_.begin(), table_.end(), Slot());
    used_ = 0;
    restored_end_ = 0;
    return absl::DataLossError(absl::StrCat("chunk index: ", why));
  };
  if (bytes.size() % 16 != 0) return fail("length is not a multiple of 16");
  if (bytes.size() / 16 > TableCapacity()) return fail("more chunks than the table takes");
  const uint64_t first = restored_end_;  // Chunks at or past it are these bytes'.
  for (size_t at = 0; at < bytes.size(); at += 16) {
    const uint64_t hash = GetFixed64(bytes.data() + at);
    const uint64_t pos = GetFixed64(bytes.data() + at + 8);
    if (hash == 0 || pos >= old_size_) return fail("a chunk lies outside old");
    if (pos < restored_end_) return fail("chunks are not in order of their offsets");
    restored_end_ = pos + 1;
    const Slot* slot = Add(hash, pos);
    if (slot != nullptr && slot->pos != pos && slot->pos >= first) {
      return fail("a chunk is listed twice");
    }
  }
  return absl::OkStatus();
}

uint64_t BlockIndex::TableCapacity() const { return table_.size() * 3 / 4; }

const BlockIndex::Slot* BlockIndex::Add(uint64_t hash, uint64_t pos) {
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (table_[i].hash == hash) return &table_[i];  // The first of equal chunks is kept.
    if (table_[i].hash == 0) {
      if (used_ >= TableCapacity()) return nullptr;  // Full: later chunks go unindexed.
      table_[i] = {hash, pos};
      ++used_;
      return &table_[i];
    }
  }
}

int64_t BlockIndex::Find(uint64_t hash) const {
  for (uint64_t i = hash & mask_;; i = (i + 1) & mask_) {
    if (table_[i].hash == hash) return static_cast<int64_t>(table_[i].pos);
    if (table_[i].hash == 0) return -1;
  }
}

absl::Status BlockIndex::AddAll(const ByteSource& old,
                                const std::function<void(absl::string_view)>& observe) {
  for (uint64_t begin = 0; begin < old.size(); begin += part_bytes_) {
    PF_RETURN_IF_ERROR(AddPart(old, begin, observe));
  }
  return absl::OkStatus();
}

absl::Status BlockIndex::AddPart(const ByteSource& old, uint64_t begin,
                                 const std::function<void(absl::string_view)>& observe) {
  const uint64_t size = old.size();
  if (begin % part_bytes_ != 0 || begin >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("no part of the chunk index starts at ", begin, " of ", size, " bytes"));
  }
  const uint64_t end = std::min(size, begin + part_bytes_);
  std::string buf(kReadPiece + chunker_.max_length(), '\0');
  uint64_t read = begin;  // Old offset up to which old was read.
  uint64_t start = begin;  // Old offset of buf[0].
  size_t have = 0;         // Bytes in buf.
  while (read < end || have > 0) {
    if (read < end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kReadPiece, end - read));
      PF_ASSIGN_OR_RETURN(size_t got, old.ReadAt(read, buf.data() + have, want));
      if (got != want) return absl::FailedPreconditionError("old file shrank while indexed");
      observe(absl::string_view(buf.data() + have, got));
      have += got;
      read += got;
    }
    const bool at_end = read == end;
    const auto* bytes = reinterpret_cast<const uint8_t*>(buf.data());
    size_t at = 0;
    while (at < have) {
      size_t len = chunker_.Next(bytes + at, have - at, at_end);
      if (len == 0) break;
      Add(Chunker::Hash(bytes + at, len), start + at);
      at += len;
    }
    std::memmove(buf.data(), buf.data() + at, have - at);
    have -= at;
    start += at;
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
