// Where sparse methods (FORMAT.md, methods 7 and 8) cut ops: around every zero
// run of an op's diff bytes of kMinExactRun bytes or more, less
// kExactRunMargin at each end inside the op (a reference across a cut is not
// predicted, so cuts keep off the changes). The model codes a long zero run in
// a few bits and a control entry costs a few bytes, so shorter runs are left
// to the model; skipping a long one saves its time on both sides.
// Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_EXACT_CUTS_H_
#define PATCHFARM_CORE_DELTA_EXACT_CUTS_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/delta/matcher.h"

namespace patchfarm {

inline constexpr int64_t kMinExactRun = 4096;
inline constexpr int64_t kExactRunMargin = 16;

// Takes the ops in order and each op's diff bytes in pieces of any size.
class ExactCutter {
 public:
  struct Piece {
    DeltaOp op;
    bool all_zero;     // Its diff bytes are all zero (diff_len > 0).
    uint64_t nonzero;  // Its non-zero diff bytes.
  };

  // Starts `op`; its diff_len bytes follow through Add.
  void StartOp(const DeltaOp& op);
  void Add(const char* diff, size_t n);
  // Ends the op (all its diff bytes added).
  void EndOp();

  std::vector<Piece>& pieces() { return pieces_; }
  // Non-zero diff bytes added so far, over all ops.
  uint64_t nonzero() const { return total_nonzero_; }

 private:
  void Emit(int64_t end);
  void CloseRun(int64_t run_end);

  std::vector<Piece> pieces_;
  DeltaOp op_;
  int64_t at_ = 0;          // Diff bytes of the op added so far.
  int64_t begin_ = 0;       // Start of the piece not yet emitted.
  int64_t run_start_ = -1;  // Start of the current zero run, or -1.
  uint64_t nonzero_ = 0;    // Non-zero bytes in [begin_, at_).
  uint64_t total_nonzero_ = 0;
};

// The ops cut by ExactCutter, `diff` holding their diff bytes in op order;
// `nonzero` gets each cut op's non-zero diff bytes.
std::vector<DeltaOp> CutAtZeroRuns(const std::vector<DeltaOp>& ops, const char* diff,
                                   std::vector<uint64_t>* nonzero);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_EXACT_CUTS_H_
