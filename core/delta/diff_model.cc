#include "core/delta/diff_model.h"

#include <algorithm>
#include <cstring>

namespace patchfarm {
namespace {

using cm::CodeBit;
using cm::Counters;
using cm::Hash;
using cm::Mixer;

constexpr int kFlagLimit = 8;
constexpr int kValueLimit = 2;
// After this many zero diff bytes in a row the cheap "quiet" model takes over,
inline constexpr uint32_t kQuietRun = 8;
// and one decision covers this many bytes when all are zero.
constexpr size_t kBlock = 8;
// Inside zero runs, the block this many bytes ahead has its slots fetched.
constexpr size_t kPrefetchAhead = 4 * kBlock;

}  // namespace

class DiffModel {
 public:
  DiffModel(int hash_bits, bool eager)
      : hash_bits_(hash_bits), flag_pair_(16, eager), flag_prev3_(hash_bits, eager),
        flag_hist_(12, eager), flag_ahead_(hash_bits, eager), flag_wide_(hash_bits, eager),
        value_last_(16, eager), value_old_(16, eager), value_carry_(hash_bits, eager),
        value_last2_(hash_bits, eager), value_wide_(hash_bits, eager),
        quiet_pair_(16, eager), quiet_ahead_(16, eager), block_old_(hash_bits, eager),
        block_half_(hash_bits, eager), block_run_(8, eager), flag_mixer_(64, 2),
        value_mixer_(32, 1), quiet_mixer_(2, 6), block_mixer_(8, 6) {}

  // Codes n diff bytes: the encoder passes them as `in`, the decoder gets them
  // in `out` (see DiffModelDecoder::Decode for `lookahead`).
  template <typename Coder>
  void Code(Coder* coder, const uint8_t* old_bytes, size_t lookahead, const uint8_t* in,
            uint8_t* out, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      if (zero_left_ > 0) {  // Inside a block already coded as all zero: its rest at once.
        const size_t k = std::min<size_t>(zero_left_, n - i);
        ZeroRun(out, old_bytes, i, k);
        zero_left_ -= static_cast<uint32_t>(k);
        i += k - 1;
        continue;
      }
      const uint32_t o0 = old_bytes[i];
      bool mixed_block = mixed_left_ > 0;
      if (mixed_block) {
        --mixed_left_;
      } else if (since_ >= kQuietRun && i + kBlock <= lookahead) {
        if (i + kPrefetchAhead + kBlock <= lookahead) PrefetchBlock(old_bytes + i + kPrefetchAhead);
        if (CodeBlock(coder, old_bytes + i, in != nullptr ? in + i : nullptr)) {
          zero_left_ = kBlock - 1;
          Zero(out, i, o0);
          continue;
        }
        mixed_left_ = kBlock - 1;
        mixed_block = true;
      }
      const int want = in != nullptr && in[i] != 0;
      const uint32_t ahead = i + 1 < lookahead ? old_bytes[i + 1] : 0;
      const uint32_t o1 = old_hist_ & 0xff;
      const bool quiet = since_ >= kQuietRun && !mixed_block;
      if (!quiet) {
        // The value's and the next byte's slots load while this byte is
        // coded: for the byte the encoder codes, for a zero byte (the likely
        // case) the decoder.
        if (in == nullptr || want) PrefetchValue(o0, in != nullptr ? in[i] >> 4 : -1);
        if (i + 1 < lookahead) {
          PrefetchFlag(ahead, i + 2 < lookahead ? old_bytes[i + 2] : 0, old_hist_ << 8 | o0,
                       flags_ << 1 | want, want ? 0 : since_ + 1);
        }
      }
      int nonzero;
      if (quiet) {
        uint32_t* slots[2] = {quiet_pair_.At(o0 | o1 << 8), quiet_ahead_.At(o0 | ahead << 8)};
        nonzero = CodeBit(coder, &quiet_mixer_, slots, o0 == 0, want, kFlagLimit);
      } else {
        const uint32_t o2 = (old_hist_ >> 8) & 0xff, o3 = (old_hist_ >> 16) & 0xff;
        const uint32_t since = std::min<uint32_t>(since_, 15);
        uint32_t* slots[5] = {
            flag_pair_.At(o0 | o1 << 8),
            flag_prev3_.At(HashIndex(o1 | o2 << 8 | o3 << 16, flags_ & 15)),
            flag_hist_.At((flags_ & 0xff) | since << 8),
            flag_ahead_.At(HashIndex(o0 | since << 8, ahead)),
            flag_wide_.At(HashIndex(o0 | o1 << 8 | o2 << 16, ahead | (flags_ & 3) << 8)),
        };
        int set = (flags_ & 3) | std::min<uint32_t>(since, 3) << 2 | (o0 == 0) << 4 |
                  mixed_block << 5;
        nonzero = CodeBit(coder, &flag_mixer_, slots, set, want, kFlagLimit);
      }
      if (!nonzero) {
        Zero(out, i, o0);
        continue;
      }
      if (in == nullptr && i + 1 < lookahead) {
        // The decoder fetched the next byte's flag slots for a zero here (or
        // none, if quiet); for this non-zero byte they load during its value.
        PrefetchFlag(ahead, i + 2 < lookahead ? old_bytes[i + 2] : 0, old_hist_ << 8 | o0,
                     flags_ << 1 | 1, 0);
      }
      uint32_t value = CodeValue(coder, in != nullptr ? in[i] : 0, o0);
      if (out != nullptr) out[i] = static_cast<uint8_t>(value);
      flags_ = flags_ << 1 | 1;
      last2_ = last1_;
      last1_ = value;
      since_ = 0;
      prev_diff_ = value;
      old_hist_ = old_hist_ << 8 | o0;
    }
  }

 private:
  uint32_t HashIndex(uint32_t a, uint32_t b) const { return Hash(a, b) >> (32 - hash_bits_); }

  // Zero for bytes [i, i + k), k < 32.
  void ZeroRun(uint8_t* out, const uint8_t* old_bytes, size_t i, size_t k) {
    if (out != nullptr) std::memset(out + i, 0, k);
    since_ += static_cast<uint32_t>(k);
    flags_ <<= k;
    prev_diff_ = 0;
    for (size_t j = i; j < i + k; ++j) old_hist_ = old_hist_ << 8 | old_bytes[j];
  }

  void Zero(uint8_t* out, size_t i, uint32_t o0) {
    if (out != nullptr) out[i] = 0;
    ++since_;
    flags_ <<= 1;
    prev_diff_ = 0;
    old_hist_ = old_hist_ << 8 | o0;
  }

  // Starts loading the flag decision's hashed slots for a byte with old byte
  // o0 and the next one `ahead`, after old bytes `hist`, with state `flags`
  // and `since` (as Code computes them).
  __attribute__((always_inline)) void PrefetchFlag(uint32_t o0, uint32_t ahead, uint32_t hist,
                                                   uint32_t flags, uint32_t since) {
    const uint32_t o1 = hist & 0xff, o2 = (hist >> 8) & 0xff, o3 = (hist >> 16) & 0xff;
    since = std::min<uint32_t>(since, 15);
    flag_prev3_.Prefetch(HashIndex(o1 | o2 << 8 | o3 << 16, flags & 15));
    flag_ahead_.Prefetch(HashIndex(o0 | since << 8, ahead));
    flag_wide_.Prefetch(HashIndex(o0 | o1 << 8 | o2 << 16, ahead | (flags & 3) << 8));
  }

  // Starts loading the hashed lines CodeValue reads for a value over old
  // byte o0: those of its high nibble, and of its low nibble if `high` (the
  // high nibble's value) is known, not -1.
  __attribute__((always_inline)) void PrefetchValue(uint32_t o0, int high) {
    const uint32_t o1 = old_hist_ & 0xff, o2 = (old_hist_ >> 8) & 0xff;
    const uint32_t carry = prev_diff_ | o1 << 8;
    const uint32_t last2 = last1_ | last2_ << 8 | 1 << 16;
    const uint32_t wide = o0 | o1 << 8 | o2 << 16;
    value_last_.Prefetch(last1_ << 8);  // The high nibble's nodes (1-15).
    value_old_.Prefetch(o0 << 8);
    for (uint32_t nibble : {0, high < 0 ? 0 : 16 | high}) {
      value_carry_.Prefetch(HashIndex(carry, nibble) & ~15u);
      value_last2_.Prefetch(HashIndex(last2, nibble) & ~15u);
      value_wide_.Prefetch(HashIndex(wide, prev_diff_ | nibble << 8) & ~15u);
      if (high < 0) break;
    }
  }

  // The slots of the old-content contexts of the block at old_bytes: their
  // tables do not fit the cache, and inside long zero runs the blocks ahead
  // are known, so their slots are fetched while this one is coded.
  __attribute__((always_inline)) void PrefetchBlock(const uint8_t* old_bytes) {
    uint64_t block_old;
    std::memcpy(&block_old, old_bytes, sizeof block_old);
    const uint32_t lo = static_cast<uint32_t>(block_old);
    const uint32_t hi = static_cast<uint32_t>(block_old >> 32);
    block_old_.Prefetch(HashIndex(lo, hi));
    block_half_.Prefetch(HashIndex(lo, 1));
  }

  // Codes whether the next kBlock diff bytes are all zero (the encoder passes
  // them as `in`); returns that.
  template <typename Coder>
  bool CodeBlock(Coder* coder, const uint8_t* old_bytes, const uint8_t* in) {
    uint64_t block_old;
    std::memcpy(&block_old, old_bytes, sizeof block_old);
    bool all_zero = true;
    for (size_t k = 0; in != nullptr && k < kBlock; ++k) all_zero &= in[k] == 0;
    const uint32_t lo = static_cast<uint32_t>(block_old);
    const uint32_t hi = static_cast<uint32_t>(block_old >> 32);
    uint32_t* slots[3] = {block_old_.At(HashIndex(lo, hi)), block_half_.At(HashIndex(lo, 1)),
                          block_run_.At(std::min<uint32_t>(since_ / 8, 255))};
    // Whether the two old-content contexts were seen before tells the mixer how
    // far to trust them.
    int set = (Counters::Hits(slots[0]) != 0) | (Counters::Hits(slots[1]) != 0) << 1 |
              (since_ >= 256) << 2;
    return CodeBit(coder, &block_mixer_, slots, set, all_zero, kFlagLimit);
  }

  template <typename Coder>
  uint32_t CodeValue(Coder* coder, uint32_t value, uint32_t o0) {
    const uint32_t o1 = old_hist_ & 0xff, o2 = (old_hist_ >> 8) & 0xff;
    const uint32_t carry = prev_diff_ | o1 << 8;
    const uint32_t last2 = last1_ | last2_ << 8 | 1 << 16;
    const uint32_t wide = o0 | o1 << 8 | o2 << 16;
    // Hashed contexts hold 16 slots (one cache line) per nibble: the high
    // nibble's bits under the context alone, the low nibble's under the
    // context and the high nibble.
    uint32_t node = 1;  // The bits coded so far, behind a leading 1.
    uint32_t sub = 1;   // The same within the current nibble.
    uint32_t carry_at = 0, last2_at = 0, wide_at = 0;
    for (int b = 7; b >= 0; --b) {
      if (b == 7 || b == 3) {
        const uint32_t nibble = b == 7 ? 0 : node;  // 0, or 16..31 once the high nibble is known.
        carry_at = HashIndex(carry, nibble) & ~15u;
        last2_at = HashIndex(last2, nibble) & ~15u;
        wide_at = HashIndex(wide, prev_diff_ | nibble << 8) & ~15u;
        sub = 1;
      }
      uint32_t* slots[5] = {
          value_last_.At(last1_ << 8 | node), value_old_.At(o0 << 8 | node),
          value_carry_.At(carry_at | sub),    value_last2_.At(last2_at | sub),
          value_wide_.At(wide_at | sub),
      };
      if (b == 3) {
        // The nodes of the low nibble's last three bits lie in one line each
        // of the two direct tables, known once the high nibble is.
        const uint32_t high = node - 16;
        for (uint32_t at : {32 + 2 * high, 64 + 4 * high, 128 + 8 * high}) {
          value_last_.Prefetch(last1_ << 8 | at);
          value_old_.Prefetch(o0 << 8 | at);
        }
      }
      int set = (7 - b) * 4 + (prev_diff_ != 0) * 2 + (since_ < 4);
      int bit = CodeBit(coder, &value_mixer_, slots, set, (value >> b) & 1, kValueLimit);
      node = node << 1 | bit;
      sub = sub << 1 | bit;
      if (b == 5) {
        // Three bits of the high nibble known: the hashed lines of both
        // low nibbles it may lead to load during the fourth.
        for (uint32_t nibble : {node << 1, node << 1 | 1}) {
          value_carry_.Prefetch(HashIndex(carry, nibble) & ~15u);
          value_last2_.Prefetch(HashIndex(last2, nibble) & ~15u);
          value_wide_.Prefetch(HashIndex(wide, prev_diff_ | nibble << 8) & ~15u);
        }
      }
    }
    return node & 0xff;
  }

  const int hash_bits_;
  Counters flag_pair_, flag_prev3_, flag_hist_, flag_ahead_, flag_wide_;
  Counters value_last_, value_old_, value_carry_, value_last2_, value_wide_;
  Counters quiet_pair_, quiet_ahead_, block_old_, block_half_, block_run_;
  Mixer<5> flag_mixer_, value_mixer_;
  Mixer<2> quiet_mixer_;
  Mixer<3> block_mixer_;
  uint32_t old_hist_ = 0;    // Old bytes before the current one, newest lowest.
  uint32_t flags_ = 0;       // Non-zero flags of the previous bytes, newest lowest.
  uint32_t since_ = 0;       // Bytes since the last non-zero diff byte.
  uint32_t prev_diff_ = 0;   // The previous diff byte.
  uint32_t last1_ = 0, last2_ = 0;  // The last two non-zero diff bytes.
  uint32_t zero_left_ = 0;   // Bytes left in a block coded as all zero.
  uint32_t mixed_left_ = 0;  // Bytes left in a block coded as not all zero.
};

int SizedModelBits(uint64_t coded_bytes) {
  int bits = 17;
  while (bits < 19 && coded_bytes >= (uint64_t{1} << (bits + 6))) ++bits;
  return bits;
}

uint64_t DiffModelBytes(int hash_bits) {
  // The hashed tables, and those of 16, 12 and 8 bits (see DiffModel).
  constexpr uint64_t kSlot = sizeof(uint32_t);
  return kSlot * ((uint64_t{8} << hash_bits) + (uint64_t{5} << 16) + (1 << 12) + (1 << 8));
}

DiffModelEncoder::DiffModelEncoder(int hash_bits, uint64_t coded_bytes)
    : hash_bits_(hash_bits), eager_(coded_bytes >= kEagerTablesFromBytes) {}
DiffModelEncoder::~DiffModelEncoder() = default;

void DiffModelEncoder::Encode(const uint8_t* old_bytes, const uint8_t* diff, size_t n) {
  Encode(old_bytes, n, diff, n);
}

void DiffModelEncoder::Encode(const uint8_t* old_bytes, size_t lookahead, const uint8_t* diff,
                              size_t n) {
  if (model_ == nullptr) model_ = std::make_unique<DiffModel>(hash_bits_, eager_);
  model_->Code(&coder_, old_bytes, lookahead, diff, nullptr, n);
}

std::string DiffModelEncoder::Finish() { return coder_.Finish(); }

DiffModelDecoder::DiffModelDecoder(const ByteSource* source, uint64_t offset,
                                   uint64_t length, int hash_bits)
    : hash_bits_(hash_bits), coder_(source, offset, length) {}

DiffModelDecoder::~DiffModelDecoder() = default;

absl::Status DiffModelDecoder::Decode(const uint8_t* old_bytes, size_t lookahead,
                                      uint8_t* diff, size_t n) {
  if (model_ == nullptr) model_ = std::make_unique<DiffModel>(hash_bits_, /*eager=*/true);
  model_->Code(&coder_, old_bytes, lookahead, nullptr, diff, n);
  return coder_.status();
}

}  // namespace patchfarm
