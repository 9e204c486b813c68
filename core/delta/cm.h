// Context-mixing primitives of the diff model: adaptive
// bit probabilities, a logistic mixer, and a binary arithmetic coder whose
// decoder reads a stream from a range of a ByteSource in bounded chunks.
// Probabilities are P(bit = 1): 12 bits in the mixer, 16 bits in the coder.
// Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_CM_H_
#define PATCHFARM_CORE_DELTA_CM_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/delta/zeroed_bytes.h"

namespace patchfarm {
namespace cm {

// stretch(p) = ln(p / (1 - p)) and its inverse squash, both scaled so that the
// logistic domain is [-2047, 2047] and p has 12 bits. Built with integer
// arithmetic only, so that every machine codes the same bits.
struct Tables {
  Tables();
  int16_t stretch[4096];
  int16_t squash[4096];  // Indexed by d + 2048.
  int32_t reciprocal[256];
};
extern const Tables kTables;

inline int Stretch(int p12) { return kTables.stretch[p12]; }
inline int Squash(int d) { return kTables.squash[std::clamp(d, -2047, 2047) + 2048]; }

inline uint32_t Hash(uint32_t a, uint32_t b) {
  uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
  return h ^ (h >> 15);
}

// A table of adaptive probabilities. Each slot holds P(1) in its high 16 bits
// and a hit count in its low 8 bits; the count slows adaptation to
// 1 / (limit + 1.6), so rare contexts learn fast and common ones settle.
// Slots are stored XOR kInitial, so that a new table is all zero bytes: a
// ZeroedBytes, whose pages come from the kernel untouched. An `eager` table
// (for a long stream, whose coding reaches most slots) has every page
// written at once, in huge pages if it is 2 MiB or more: its slots are read
// at random, and with 4 KiB pages nearly every read of a long stream also
// missed the TLB. Other tables keep 4 KiB pages, of which only those a coder
// reaches become resident.
class Counters {
 public:
  Counters(int bits, bool eager);
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;
  uint32_t* At(uint32_t index) { return &slots_[index & mask_]; }
  // Starts loading the slot At(index) returns into the cache. Always inlined:
  // g++ 12 drops calls to a function that only prefetches.
  __attribute__((always_inline)) void Prefetch(uint32_t index) const {
    __builtin_prefetch(slots_ + (index & mask_));
  }
  static int P12(const uint32_t* slot) { return (*slot ^ kInitial) >> 20; }
  // How often the slot was updated, up to its limit.
  static int Hits(const uint32_t* slot) { return *slot & 0xff; }
  static void Update(uint32_t* slot, int bit, int limit) {
    const uint32_t value = *slot ^ kInitial;
    int p = value >> 16, n = value & 0xff;
    p += ((bit ? 65535 : 0) - p) * kTables.reciprocal[n] >> 15;
    if (n < limit) ++n;
    *slot = ((static_cast<uint32_t>(p) << 16) | n) ^ kInitial;
  }

 private:
  static constexpr uint32_t kInitial = 0x80000000u;  // P(1) = 1/2, no hits.
  ZeroedBytes table_;
  uint32_t* slots_;
  uint32_t mask_;
};

// Mixes N predictions in the logistic domain with a weight set chosen by a
// small context, trained online to reduce coding cost.
template <int N>
class Mixer {
 public:
  Mixer(int sets, int rate) : weights_(sets * N, (1 << 16) / N), rate_(rate) {}
  // `slots` are Counters slots; returns the mixed 12-bit probability.
  int Predict(uint32_t* const* slots, int set) {
    weights_at_ = &weights_[set * N];
    int64_t dot = 0;
    for (int i = 0; i < N; ++i) {
      inputs_[i] = Stretch(Counters::P12(slots[i]));
      dot += int64_t{inputs_[i]} * weights_at_[i];
    }
    p_ = Squash(static_cast<int>(dot >> 16));
    return p_;
  }
  void Update(int bit) {
    int err = ((bit << 12) - p_) * rate_;
    for (int i = 0; i < N; ++i) {
      weights_at_[i] = std::clamp(weights_at_[i] + ((inputs_[i] * err) >> 10), -kMaxWeight,
                                  kMaxWeight);
    }
  }

 private:
  static constexpr int kMaxWeight = 1 << 24;
  std::vector<int> weights_;
  int rate_;
  int inputs_[N] = {};
  int* weights_at_ = nullptr;
  int p_ = 2048;
};

inline int ToP16(int p12) { return std::clamp(p12 << 4, 1, 65535); }

// Codes one bit with every counter in `slots` and the mixer, then trains them.
// Coder::Bit(bit, p16) codes `bit` (encoder) or returns the decoded bit.
template <int N, typename Coder>
inline int CodeBit(Coder* coder, Mixer<N>* mixer, uint32_t* const* slots, int set,
                   int bit, int limit) {
  bit = coder->Bit(bit, ToP16(mixer->Predict(slots, set)));
  for (int i = 0; i < N; ++i) Counters::Update(slots[i], bit, limit);
  mixer->Update(bit);
  return bit;
}

class ArithmeticEncoder {
 public:
  int Bit(int bit, int p16) {
    uint32_t mid = low_ + static_cast<uint32_t>((uint64_t{high_ - low_} * p16) >> 16);
    if (bit) {
      high_ = mid;
    } else {
      low_ = mid + 1;
    }
    while (((low_ ^ high_) & 0xff000000u) == 0) {
      out_.push_back(static_cast<char>(high_ >> 24));
      low_ <<= 8;
      high_ = high_ << 8 | 0xff;
    }
    return bit;
  }
  // Returns the coded bytes; the encoder is then spent.
  std::string Finish();

 private:
  uint32_t low_ = 0, high_ = 0xffffffff;
  std::string out_;
};

// Decodes a stream stored in [offset, offset + length) of a ByteSource. Reading
// past the end yields zeros and is reported by status().
class ArithmeticDecoder {
 public:
  ArithmeticDecoder(const ByteSource* source, uint64_t offset, uint64_t length);
  int Bit(int, int p16) {
    if (!started_) Start();
    uint32_t mid = low_ + static_cast<uint32_t>((uint64_t{high_ - low_} * p16) >> 16);
    int bit = code_ <= mid;
    if (bit) {
      high_ = mid;
    } else {
      low_ = mid + 1;
    }
    while (((low_ ^ high_) & 0xff000000u) == 0) {
      low_ <<= 8;
      high_ = high_ << 8 | 0xff;
      code_ = code_ << 8 | NextByte();
    }
    return bit;
  }
  // DataLoss once the decoder has read past its stream, or the read error.
  absl::Status status() const;
  // OK if exactly the whole stream was consumed.
  absl::Status CheckFinished();

 private:
  void Start();
  uint8_t NextByte() {
    if (pos_ < len_) return static_cast<uint8_t>(buf_[pos_++]);
    return Refill();
  }
  uint8_t Refill();

  const ByteSource* source_;
  uint64_t next_, end_;
  std::string buf_;
  size_t pos_ = 0, len_ = 0;
  bool overrun_ = false;
  absl::Status read_error_;
  uint32_t low_ = 0, high_ = 0xffffffff, code_ = 0;
  bool started_ = false;
};

}  // namespace cm
}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_CM_H_
