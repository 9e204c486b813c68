#include "core/delta/exact_cuts.h"

#include <cstring>

namespace patchfarm {

void ExactCutter::StartOp(const DeltaOp& op) {
  op_ = op;
  at_ = begin_ = 0;
  run_start_ = -1;
  nonzero_ = 0;
}

void ExactCutter::Add(const char* diff, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (diff[i] != 0) {
      if (run_start_ >= 0) CloseRun(at_ + static_cast<int64_t>(i));
      run_start_ = -1;
      ++nonzero_;
      ++total_nonzero_;
      ++i;
      continue;
    }
    if (run_start_ < 0) run_start_ = at_ + static_cast<int64_t>(i);
    ++i;
    // Inside a zero run: skip whole zero words.
    for (uint64_t word; i + 8 <= n; i += 8) {
      std::memcpy(&word, diff + i, 8);
      if (word != 0) break;
    }
  }
  at_ += static_cast<int64_t>(n);
}

void ExactCutter::EndOp() {
  if (op_.diff_len == 0) {
    pieces_.push_back({op_, false, 0});
    return;
  }
  if (run_start_ >= 0) CloseRun(op_.diff_len);
  Emit(op_.diff_len);
  pieces_.back().op.extra_len = op_.extra_len;
}

void ExactCutter::Emit(int64_t end) {
  if (end > begin_) {
    pieces_.push_back(
        {{op_.new_pos + begin_, op_.old_pos + begin_, end - begin_, 0}, nonzero_ == 0, nonzero_});
  }
  begin_ = end;
  nonzero_ = 0;
}

// The zero run [run_start_, run_end) ended: every non-zero byte since begin_
// lies before it.
void ExactCutter::CloseRun(int64_t run_end) {
  const int64_t from = run_start_ == 0 ? 0 : run_start_ + kExactRunMargin;
  const int64_t to = run_end == op_.diff_len ? run_end : run_end - kExactRunMargin;
  if (to - from >= kMinExactRun) {
    Emit(from);
    Emit(to);
  }
}

std::vector<DeltaOp> CutAtZeroRuns(const std::vector<DeltaOp>& ops, const char* diff,
                                   std::vector<uint64_t>* nonzero) {
  ExactCutter cutter;
  for (const DeltaOp& op : ops) {
    cutter.StartOp(op);
    cutter.Add(diff, op.diff_len);
    diff += op.diff_len;
    cutter.EndOp();
  }
  std::vector<DeltaOp> cut;
  cut.reserve(cutter.pieces().size());
  nonzero->clear();
  nonzero->reserve(cutter.pieces().size());
  for (const ExactCutter::Piece& piece : cutter.pieces()) {
    cut.push_back(piece.op);
    nonzero->push_back(piece.nonzero);
  }
  return cut;
}

}  // namespace patchfarm
