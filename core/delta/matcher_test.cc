#include "core/delta/matcher.h"

#include <random>
#include <string>
#include <vector>

#include "core/delta/suffix_index.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Bytes of new in [from, from + length) that the ops take from old at the
// same distance (old_pos - new_pos == shift).
int64_t Covered(const std::vector<DeltaOp>& ops, int64_t from, int64_t length, int64_t shift) {
  int64_t covered = 0;
  for (const DeltaOp& op : ops) {
    if (op.old_pos - op.new_pos != shift) continue;
    const int64_t begin = std::max(from, op.new_pos);
    const int64_t end = std::min(from + length, op.new_pos + op.diff_len);
    covered += std::max<int64_t>(0, end - begin);
  }
  return covered;
}

// Long stretches of random bytes (fresh or compressed assets) are searched
// sparsely, but a piece of old of 64 bytes or more inside them is still
// found whole, wherever it starts.
TEST(MatcherTest, FindsShortPiecesOfOldInsideRandomStretches) {
  std::mt19937_64 rng(3);
  const std::string old_data = RandomBytes(rng, 1 << 20);
  std::string new_data = RandomBytes(rng, 256 << 10);  // Nothing to find.
  struct Piece {
    int64_t new_pos, old_pos, length;
  };
  std::vector<Piece> pieces;
  for (int k = 0; k < 64; ++k) {
    new_data += RandomBytes(rng, 4000 + rng() % 200);
    const int64_t length = 64 + k % 8, old_pos = rng() % (old_data.size() - length);
    pieces.push_back({static_cast<int64_t>(new_data.size()), old_pos, length});
    new_data += old_data.substr(old_pos, length);
  }
  new_data += RandomBytes(rng, 5000);
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(old_data);
  ASSERT_TRUE(index.ok());
  MatchOptions options;
  options.threads = 1;
  const std::vector<DeltaOp> ops = MatchAll(old_data, new_data, *index, options);
  ASSERT_TRUE(CheckOpsCover(ops, old_data.size(), new_data.size()).ok());
  for (const Piece& p : pieces) {
    EXPECT_EQ(Covered(ops, p.new_pos, p.length, p.old_pos - p.new_pos), p.length)
        << "piece at " << p.new_pos;
  }
}

}  // namespace
}  // namespace patchfarm
