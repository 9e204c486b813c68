#include "core/delta/reference_predictor.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace patchfarm {

ReferenceMap::ReferenceMap(const std::vector<DeltaOp>& ops) {
  for (const DeltaOp& op : ops) Add(op.old_pos, op.diff_len, op.new_pos);
  Finish();
}

void ReferenceMap::Add(int64_t old_pos, int64_t length, int64_t new_pos) {
  if (length <= 0) return;
  constexpr int64_t kSmall = std::numeric_limits<uint32_t>::max();
  const bool fits = old_pos >= 0 && new_pos >= 0 && old_pos <= kSmall - length &&
                    new_pos <= kSmall - length;
  if (!fits && !small_.regions.empty()) {  // Moves to 64 bits for good.
    for (const auto& r : small_.regions) large_.regions.push_back({r.old_pos, r.length, r.new_pos});
    std::vector<Regions<uint32_t>::Region>().swap(small_.regions);
  }
  if (fits && large_.regions.empty()) {
    small_.regions.push_back({static_cast<uint32_t>(old_pos), static_cast<uint32_t>(length),
                              static_cast<uint32_t>(new_pos)});
  } else {
    large_.regions.push_back({old_pos, length, new_pos});
  }
}

void ReferenceMap::Finish() {
  small_.Finish();
  large_.Finish();
}

bool ReferenceMap::MapOld(int64_t old_pos, int64_t* new_pos) const {
  return large_.regions.empty() ? small_.MapOld(old_pos, new_pos)
                                : large_.MapOld(old_pos, new_pos);
}

template <typename Position>
void ReferenceMap::Regions<Position>::Finish() {
  // new_pos grows in patch order, so this is the order of a stable sort by
  // old_pos, without its buffer.
  std::sort(regions.begin(), regions.end(), [](const Region& a, const Region& b) {
    return a.old_pos != b.old_pos ? a.old_pos < b.old_pos : a.new_pos < b.new_pos;
  });
  regions.shrink_to_fit();  // Up to half its capacity was growth room.
  reach.assign(regions.size() / kReachStride + 1, 0);
  Position end = 0;
  for (size_t i = 0; i <= regions.size(); ++i) {
    if (i % kReachStride == 0) reach[i / kReachStride] = end;
    if (i < regions.size()) end = std::max<Position>(end, regions[i].old_pos + regions[i].length);
  }
}

template <typename Position>
bool ReferenceMap::Regions<Position>::MapOld(int64_t old_pos, int64_t* new_pos) const {
  auto it = std::upper_bound(regions.begin(), regions.end(), old_pos,
                             [](int64_t pos, const Region& r) { return pos < int64_t{r.old_pos}; });
  for (int64_t i = (it - regions.begin()) - 1, seen = 0; i >= 0 && seen < kMaxCandidates;
       --i, ++seen) {
    const size_t next = static_cast<size_t>(i) + 1;
    if (next % kReachStride == 0 && int64_t{reach[next / kReachStride]} <= old_pos) {
      return false;  // Nothing at or before i reaches it.
    }
    const Region& r = regions[i];
    if (old_pos < int64_t{r.old_pos} + int64_t{r.length}) {
      *new_pos = old_pos - int64_t{r.old_pos} + int64_t{r.new_pos};
      return true;
    }
  }
  return false;
}

void ReferencePredictor::StartRegion(int64_t old_pos, int64_t new_pos, int64_t length) {
  old_pos_ = old_pos;
  new_pos_ = new_pos;
  length_ = length;
  scan_ = 0;
  pending_.clear();
}

void ReferencePredictor::Put(int64_t pos, uint8_t byte, int64_t at, int64_t end, uint8_t* base) {
  if (pos < end) {
    base[pos - at] = byte;
  } else {
    pending_.push_back({pos, byte});
  }
}

namespace {

// If an x86-64 instruction with a rel32 operand starts at `op` (`avail`
// bytes readable), the operand's offset from it; else 0.
int X86OperandOffset(const uint8_t* op, int64_t avail) {
  if (avail < 5) return 0;
  if (op[0] == 0xE8 || op[0] == 0xE9) return 1;  // call / jmp rel32
  if (avail < 6) return 0;
  if (op[0] == 0x0F && (op[1] & 0xF0) == 0x80) return 2;  // jcc rel32
  switch (op[0]) {  // Instructions with no immediate after a ModRM operand.
    case 0x01: case 0x03: case 0x0B: case 0x23: case 0x29: case 0x2B: case 0x31:
    case 0x33: case 0x39: case 0x3B: case 0x63: case 0x85: case 0x87: case 0x89:
    case 0x8B: case 0x8D: case 0xFF:
      if ((op[1] & 0xC7) == 0x05) return 2;  // mod 00, r/m 101: [rip + disp32]
      return 0;
    case 0x0F:  // Two-byte opcodes (SSE moves and the like).
      if (avail >= 7 && op[1] != 0x38 && op[1] != 0x3A && (op[2] & 0xC7) == 0x05) return 3;
      return 0;
    default:
      return 0;
  }
}

// The first two bytes of the x86-64 instructions X86OperandOffset finds an
// operand in (whatever follows them): one table look-up skips nearly all
// positions of code, where testing the first byte alone let a fifth of them
// through to the full test.
struct X86Starts {
  X86Starts() {
    for (int pair = 0; pair < 1 << 16; ++pair) {
      // 0x05 as a third byte: the ModRM byte of the two-byte opcodes that take one.
      const uint8_t op[7] = {static_cast<uint8_t>(pair >> 8), static_cast<uint8_t>(pair), 0x05};
      start[pair] = X86OperandOffset(op, sizeof op) != 0;
    }
  }
  // Whether an instruction X86OperandOffset takes may start at op[0], given
  // that `avail` bytes are readable there.
  bool At(const uint8_t* op, int64_t avail) const {
    return avail >= 2 && start[op[0] << 8 | op[1]];
  }
  bool start[1 << 16];
};
const X86Starts kX86Starts;

uint32_t Le32(const uint8_t* p) {  // Little-endian, whatever the host.
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

int ReferencePredictor::PredictX86(int64_t p, const uint8_t* here, int64_t avail, int64_t at,
                                   int64_t end, uint8_t* base) {
  const int off = X86OperandOffset(here, avail);
  if (off == 0) return 0;
  const int32_t rel = static_cast<int32_t>(Le32(here + off));
  const int64_t target = old_pos_ + p + off + 4 + rel;  // rel32 counts from the next byte.
  int64_t new_target;
  if (target < 0 || target >= old_size_ || !map_->MapOld(target, &new_target)) return 0;
  const int64_t predicted = new_target - (new_pos_ + p + off + 4);
  if (predicted < std::numeric_limits<int32_t>::min() ||
      predicted > std::numeric_limits<int32_t>::max()) {
    return 0;
  }
  const uint32_t value = static_cast<uint32_t>(static_cast<int32_t>(predicted));
  for (int k = 0; k < 4; ++k) Put(p + off + k, static_cast<uint8_t>(value >> (8 * k)), at, end, base);
  return off + 4;
}

namespace {

// The scale of the 12-bit immediate of an arm64 instruction that completes an
// ADRP (ADD, or a load or store with an unsigned offset) on register `rd`;
// 0 if `word` is not one.
int Arm64LowScale(uint32_t word, uint32_t rd) {
  if (((word >> 5) & 0x1F) != rd) return 0;
  switch (word & 0xFFC00000u) {
    case 0x91000000u: return 1;  // ADD Xd, Xn, #imm12
    case 0xF9400000u: case 0xF9000000u: return 8;  // LDR / STR Xt, [Xn, #imm]
    case 0xB9400000u: case 0xB9000000u: return 4;  // LDR / STR Wt, [Xn, #imm]
    case 0x39400000u: case 0x39000000u: return 1;  // LDRB / STRB
    default: return 0;
  }
}

}  // namespace

int ReferencePredictor::PredictAdrp(int64_t p, const uint8_t* here, int64_t avail, int64_t at,
                                    int64_t end, uint8_t* base) {
  const uint32_t word = Le32(here);
  if ((word & 0x9F000000u) != 0x90000000u || avail < 8) return 0;  // ADRP and its pair.
  const uint32_t low = Le32(here + 4);
  const int scale = Arm64LowScale(low, word & 0x1F);
  if (scale == 0) return 0;
  const int64_t pages = static_cast<int32_t>(((word >> 5 & 0x7FFFF) << 2 | (word >> 29 & 3)) << 11) >> 11;
  const int64_t target = ((old_pos_ + p) & ~int64_t{0xFFF}) + pages * 4096 +
                         int64_t{(low >> 10) & 0xFFF} * scale;
  int64_t new_target;
  if (target < 0 || target >= old_size_ || !map_->MapOld(target, &new_target)) return 0;
  const int64_t new_pages = ((new_target & ~int64_t{0xFFF}) - ((new_pos_ + p) & ~int64_t{0xFFF})) / 4096;
  const int64_t new_low = new_target & 0xFFF;
  if (new_pages < -(int64_t{1} << 20) || new_pages >= (int64_t{1} << 20) || new_low % scale != 0) {
    return 0;
  }
  const uint32_t imm = static_cast<uint32_t>(new_pages) & 0x1FFFFF;
  const uint32_t adrp = (word & 0x9F00001Fu) | (imm & 3) << 29 | (imm >> 2) << 5;
  const uint32_t pair = (low & ~(0xFFFu << 10)) | static_cast<uint32_t>(new_low / scale) << 10;
  for (int k = 0; k < 4; ++k) {
    Put(p + k, static_cast<uint8_t>(adrp >> (8 * k)), at, end, base);
    Put(p + 4 + k, static_cast<uint8_t>(pair >> (8 * k)), at, end, base);
  }
  return 8;
}

int ReferencePredictor::PredictArm64(int64_t p, const uint8_t* here, int64_t avail, int64_t at,
                                     int64_t end, uint8_t* base) {
  if (avail < 4 || (old_pos_ + p) % 4 != 0) return 0;
  if (int spanned = PredictAdrp(p, here, avail, at, end, base); spanned != 0) return spanned;
  const uint32_t word = Le32(here);
  if (((word >> 26) & 0x1F) != 0x05) return 0;  // B (000101) and BL (100101).
  const int64_t imm = static_cast<int32_t>(word << 6) >> 6;  // Sign-extended imm26.
  const int64_t target = old_pos_ + p + imm * 4;
  int64_t new_target;
  if (target < 0 || target >= old_size_ || !map_->MapOld(target, &new_target)) return 0;
  const int64_t delta = new_target - (new_pos_ + p);
  if (delta % 4 != 0 || delta / 4 < -(int64_t{1} << 25) || delta / 4 >= (int64_t{1} << 25)) {
    return 0;
  }
  const uint32_t value = (word & 0xFC000000u) | (static_cast<uint32_t>(delta / 4) & 0x03FFFFFFu);
  for (int k = 0; k < 4; ++k) Put(p + k, static_cast<uint8_t>(value >> (8 * k)), at, end, base);
  return 4;
}

void ReferencePredictor::Fill(int64_t at, const uint8_t* old, int64_t n, uint8_t* base) {
  std::memcpy(base, old, static_cast<size_t>(n));
  const int64_t end = at + n;
  size_t kept = 0;
  for (const Pending& p : pending_) {
    if (p.at < end) {
      base[p.at - at] = p.byte;
    } else {
      pending_[kept++] = p;
    }
  }
  pending_.resize(kept);
  const int64_t readable_end = std::min(length_, end + kLookahead);
  const bool x86 = set_ == InstructionSet::kX86_64;
  int64_t p = scan_;  // A local: `base` may alias members as far as the compiler knows.
  while (p < end) {
    const uint8_t* here = old + (p - at);
    const int64_t avail = readable_end - p;
    if (x86 ? !kX86Starts.At(here, avail) : (old_pos_ + p) % 4 != 0) {
      ++p;  // No instruction of interest starts here.
      continue;
    }
    const int spanned = x86 ? PredictX86(p, here, avail, at, end, base)
                            : PredictArm64(p, here, avail, at, end, base);
    if (spanned == 0) {
      ++p;
    } else {
      ++predictions_;
      p += spanned;
    }
  }
  scan_ = p;
}

bool LooksLikeText(absl::string_view data) {
  constexpr size_t kPieces = 64, kPiece = 1024;
  size_t sampled = 0, unlike_text = 0;  // NUL bytes are not counted.
  for (size_t k = 0; k < kPieces; ++k) {
    const size_t at = data.size() > kPiece ? (data.size() - kPiece) * k / (kPieces - 1) : 0;
    for (unsigned char b : data.substr(at, kPiece)) {
      sampled += b != 0;
      unlike_text +=
          b >= 0x80 || (b < 0x20 && b != 0 && b != '\t' && b != '\n' && b != '\f' && b != '\r');
    }
    if (data.size() <= kPiece) break;
  }
  return unlike_text * 8 < sampled;
}

std::optional<InstructionSet> DetectInstructionSet(absl::string_view data) {
  const auto* b = reinterpret_cast<const uint8_t*>(data.data());
  auto le16 = [&](size_t at) { return uint32_t{b[at]} | uint32_t{b[at + 1]} << 8; };
  if (data.size() >= 20 && data.substr(0, 4) == "\x7f" "ELF") {
    switch (le16(18)) {  // e_machine (little-endian files)
      case 0x3E: return InstructionSet::kX86_64;
      case 0xB7: return InstructionSet::kArm64;
    }
    return std::nullopt;
  }
  if (data.size() >= 8 && Le32(b) == 0xFEEDFACFu) {  // Mach-O 64-bit, little-endian
    switch (Le32(b + 4)) {  // cputype
      case 0x01000007u: return InstructionSet::kX86_64;
      case 0x0100000Cu: return InstructionSet::kArm64;
    }
    return std::nullopt;
  }
  if (data.size() >= 64 && data.substr(0, 2) == "MZ") {
    const uint32_t pe = Le32(b + 60);
    if (pe <= data.size() - 6 && data.substr(pe, 4) == absl::string_view("PE\0\0", 4)) {
      switch (le16(pe + 4)) {  // Machine
        case 0x8664: return InstructionSet::kX86_64;
        case 0xAA64: return InstructionSet::kArm64;
      }
    }
  }
  return std::nullopt;
}

std::string MaskReferences(absl::string_view data, InstructionSet set) {
  std::string out(data);
  auto* bytes = reinterpret_cast<uint8_t*>(&out[0]);
  const auto* in = reinterpret_cast<const uint8_t*>(data.data());
  const int64_t size = static_cast<int64_t>(data.size());
  for (int64_t p = 0; p < size;) {
    if (set == InstructionSet::kX86_64) {
      const int off =
          kX86Starts.At(in + p, size - p) ? X86OperandOffset(in + p, size - p) : 0;
      if (off == 0) {
        ++p;
        continue;
      }
      std::memset(bytes + p + off, 0, 4);
      p += off + 4;
    } else {
      auto put = [&](int64_t at, uint32_t v) {
        for (int k = 0; k < 4; ++k) bytes[at + k] = static_cast<uint8_t>(v >> (8 * k));
      };
      const uint32_t word = p % 4 == 0 && size - p >= 4 ? Le32(in + p) : 0;
      if (((word >> 26) & 0x1F) == 0x05) {  // B, BL
        put(p, word & 0xFC000000u);
      } else if ((word & 0x9F000000u) == 0x90000000u && size - p >= 8 &&
                 Arm64LowScale(Le32(in + p + 4), word & 0x1F) != 0) {  // ADRP pair
        put(p, word & 0x9F00001Fu);
        put(p + 4, Le32(in + p + 4) & ~(0xFFFu << 10));
        p += 4;
      }
      p += 4 - p % 4;
    }
  }
  return out;
}

}  // namespace patchfarm
