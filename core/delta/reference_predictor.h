// Reference prediction for machine code (format version 2, methods 4 and 5 of
// core/delta/FORMAT.md). When code moves between builds, the relative
// operands of calls, jumps and PC-relative loads change although the
// instructions do not: they point at things that moved by another amount.
// Two instruction sets: x86-64 (rel32 of call, jmp, jcc and RIP-relative
// ModRM operands) and arm64 (imm26 of B and BL; ADRP with the ADD, load or
// store that completes its address; at 4-byte aligned offsets). The
// ops of a patch say where every matched region of old went in new, so a
// reference found in old can be carried over: its old target is mapped
// through the ops to new, and the operand that would reach it from the
// instruction's new place is written into the "base" that the diff bytes are
// added to. Where the prediction is right the diff byte is zero.
//
// Encoder and decoder compute the same base from the same inputs: the old
// bytes of an op's region and the map of all ops. Detection reads the old
// bytes only (never new), so a wrong guess (data that looks like code) costs
// diff bytes, never correctness.
// Not thread-safe; a ReferenceMap is immutable and may be shared.
#ifndef PATCHFARM_CORE_DELTA_REFERENCE_PREDICTOR_H_
#define PATCHFARM_CORE_DELTA_REFERENCE_PREDICTOR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/delta/matcher.h"

namespace patchfarm {

// Where the matched regions of old went in new: the diff regions of a
// patch's ops, searchable by old position. About 12 bytes a region where old
// and new positions stay below 4 GiB, 24 past it.
class ReferenceMap {
 public:
  ReferenceMap() = default;  // Maps nothing until regions are added.
  // Add for each of `ops` in patch order (DeltaOp::old_pos is where each diff
  // region starts), then Finish.
  explicit ReferenceMap(const std::vector<DeltaOp>& ops);

  // Builds the map one op at a time: Add each op's diff region in patch
  // order (new_pos increasing), then Finish before any MapOld.
  void Add(int64_t old_pos, int64_t length, int64_t new_pos);
  void Finish();

  // The new position of old position `old_pos`, through the covering region
  // that starts last in old (the later op on a tie), looking at no more than
  // kMaxCandidates regions. False if none of them covers it.
  bool MapOld(int64_t old_pos, int64_t* new_pos) const;

  // Bytes the map holds (after Finish).
  uint64_t bytes() const { return small_.bytes() + large_.bytes(); }

 private:
  static constexpr int kMaxCandidates = 64;
  static constexpr size_t kReachStride = 16;
  template <typename Position>
  struct Regions {
    struct Region {
      Position old_pos, length, new_pos;
    };
    std::vector<Region> regions;   // By old_pos, then op order.
    // reach[b]: the largest old end in regions[0, b * kReachStride).
    std::vector<Position> reach;
    void Finish();
    bool MapOld(int64_t old_pos, int64_t* new_pos) const;
    uint64_t bytes() const {
      return regions.capacity() * sizeof(Region) + reach.capacity() * sizeof(Position);
    }
  };
  Regions<uint32_t> small_;  // While every region fits 32 bits,
  Regions<int64_t> large_;   // else all of them here.
};

// Computes the base of one op's diff region, front to back, in pieces.
enum class InstructionSet : uint8_t { kX86_64 = 1, kArm64 = 2 };

class ReferencePredictor {
 public:
  // Longest instruction prefix looked at beyond a position (opcode bytes and
  // the 4-byte operand).
  static constexpr int64_t kLookahead = 7;  // x86-64: up to 7; arm64 ADRP pairs: 7.

  // `old_size`: bytes of old (targets outside it are not mapped).
  ReferencePredictor(const ReferenceMap* map, int64_t old_size, InstructionSet set)
      : map_(map), old_size_(old_size), set_(set) {}

  // Begins the region of an op: `length` bytes at old_pos in old, new_pos in new.
  void StartRegion(int64_t old_pos, int64_t new_pos, int64_t length);

  // Writes base bytes [at, at + n) of the region to `base`. Calls cover the
  // region in order without gaps (`at` is where the previous call ended).
  // `old` holds the region's old bytes [at, at + n + kLookahead), cut at the
  // region's end.
  void Fill(int64_t at, const uint8_t* old, int64_t n, uint8_t* base);

  // References predicted so far (for statistics).
  uint64_t predictions() const { return predictions_; }

 private:
  // Predicts the reference at region offset `p` if there is one: writes the
  // predicted bytes (to `base` or pending_) and returns the bytes it spans
  // from p; 0 if none.
  int PredictX86(int64_t p, const uint8_t* here, int64_t avail, int64_t at, int64_t end,
                 uint8_t* base);
  int PredictArm64(int64_t p, const uint8_t* here, int64_t avail, int64_t at, int64_t end,
                   uint8_t* base);
  int PredictAdrp(int64_t p, const uint8_t* here, int64_t avail, int64_t at, int64_t end,
                  uint8_t* base);
  void Put(int64_t pos, uint8_t byte, int64_t at, int64_t end, uint8_t* base);

  const ReferenceMap* map_;
  const int64_t old_size_;
  const InstructionSet set_;
  int64_t old_pos_ = 0, new_pos_ = 0, length_ = 0;
  int64_t scan_ = 0;  // Next region offset to look for an instruction at.
  // Predicted operand bytes at region offsets not yet filled.
  struct Pending {
    int64_t at;
    uint8_t byte;
  };
  std::vector<Pending> pending_;
  uint64_t predictions_ = 0;
};

// The instruction set of an executable, from its ELF, PE or Mach-O header:
// x86-64 or arm64; nullopt for anything else (or a header too short to tell).
std::optional<InstructionSet> DetectInstructionSet(absl::string_view data);

// Whether `data` reads as text, which has no references to predict: in a
// sample of it (64 pieces of 1 KiB, spread evenly), fewer than one non-NUL
// byte in 8 is one that text seldom has (a control byte other than tab, line
// feed, form feed and carriage return, or a byte from 0x80). NUL bytes (tar
// headers, padding) count neither way. Code has 40-55% such bytes, JavaScript
// tars 1-3%; text in a non-Latin script has more than an eighth and is not
// called text here, nor is data of NUL bytes alone or empty data.
bool LooksLikeText(absl::string_view data);

// `data` with the operands of the references of `set` zeroed (the same scan as
// the predictor's, over all of `data`): for matching only, so that code which
// differs only in where its references point matches as a whole.
std::string MaskReferences(absl::string_view data, InstructionSet set);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_REFERENCE_PREDICTOR_H_
