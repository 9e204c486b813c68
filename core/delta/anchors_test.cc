#include "core/delta/anchors.h"

#include <random>
#include <string>

#include "core/delta/matcher.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

void ExpectExactSortedDisjoint(const std::string& old_data, const std::string& new_data,
                               const std::vector<Anchor>& anchors, int64_t min_length) {
  int64_t end = 0;
  for (const Anchor& a : anchors) {
    EXPECT_GE(a.new_pos, end);
    EXPECT_GE(a.length, min_length);
    ASSERT_LE(a.old_pos + a.length, static_cast<int64_t>(old_data.size()));
    ASSERT_LE(a.new_pos + a.length, static_cast<int64_t>(new_data.size()));
    EXPECT_EQ(old_data.substr(a.old_pos, a.length), new_data.substr(a.new_pos, a.length));
    end = a.new_pos + a.length;
  }
}

// MatchAnchored's ops for the pair, checked to cover new in order from
// within old; the bytes they match exactly, or -1 if it declined.
int64_t MatchedBytes(const std::string& old_data, const std::string& new_data,
                     uint64_t max_sorted_percent) {
  absl::StatusOr<std::optional<std::vector<DeltaOp>>> ops =
      MatchAnchored(old_data, new_data, MatchOptions(), max_sorted_percent);
  EXPECT_TRUE(ops.ok()) << ops.status();
  if (!ops.ok() || !ops->has_value()) return -1;
  int64_t covered = 0, same = 0;
  for (const DeltaOp& op : **ops) {
    EXPECT_EQ(op.new_pos, covered);
    EXPECT_LE(op.old_pos + op.diff_len, static_cast<int64_t>(old_data.size()));
    if (op.new_pos != covered || op.old_pos + op.diff_len > static_cast<int64_t>(old_data.size())) {
      return 0;
    }
    for (int64_t i = 0; i < op.diff_len; ++i) {
      same += old_data[op.old_pos + i] == new_data[op.new_pos + i];
    }
    covered += op.diff_len + op.extra_len;
  }
  EXPECT_EQ(covered, static_cast<int64_t>(new_data.size()));
  return same;
}

TEST(AnchorsTest, FindsMovedBlocksWholeAndExactly) {
  std::mt19937_64 rng(3);
  const std::string old_data = RandomBytes(rng, 256 << 10);
  const std::string fresh = RandomBytes(rng, 5000);
  const std::string new_data =
      old_data.substr(100000, 100000) + fresh + old_data.substr(0, 50000);
  const std::vector<Anchor> anchors = FindAnchors(old_data, new_data, 4096);
  ExpectExactSortedDisjoint(old_data, new_data, anchors, 4096);
  ASSERT_EQ(anchors.size(), 2u);
  EXPECT_EQ(anchors[0].new_pos, 0);
  EXPECT_EQ(anchors[0].old_pos, 100000);
  EXPECT_EQ(anchors[0].length, 100000);
  EXPECT_EQ(anchors[1].new_pos, 105000);
  EXPECT_EQ(anchors[1].old_pos, 0);
  EXPECT_EQ(anchors[1].length, 50000);
}

TEST(AnchorsTest, DropsMatchesShorterThanTheMinimum) {
  std::mt19937_64 rng(5);
  const std::string old_data = RandomBytes(rng, 64 << 10);
  std::string new_data = old_data;
  for (size_t i = 1500; i < new_data.size(); i += 3000) new_data[i] ^= 0x5a;
  const std::vector<Anchor> anchors = FindAnchors(old_data, new_data, 4096);
  EXPECT_TRUE(anchors.empty());
  const std::vector<Anchor> short_ones = FindAnchors(old_data, new_data, 1024);
  ExpectExactSortedDisjoint(old_data, new_data, short_ones, 1024);
  EXPECT_GE(short_ones.size(), 10u);
  EXPECT_TRUE(FindAnchors("", new_data, 1).empty());
  EXPECT_TRUE(FindAnchors(old_data, "", 1).empty());
}

TEST(AnchorsTest, ReducedOldKeepsWhatNoAnchorCoversAndMapsBack) {
  std::mt19937_64 rng(7);
  const std::string old_data = RandomBytes(rng, 100000);
  // Overlapping and unordered old ranges: [10000, 30000), [20000, 40000), [70000, 80000).
  const std::vector<Anchor> anchors = {
      {0, 20000, 20000}, {30000, 10000, 20000}, {60000, 70000, 10000}};
  const ReducedOld reduced(old_data, anchors);
  EXPECT_EQ(reduced.bytes(), old_data.substr(0, 10000) + old_data.substr(40000, 30000) +
                                 old_data.substr(80000));
  int64_t left = 0;
  EXPECT_EQ(reduced.ToOld(0, &left), 0);
  EXPECT_EQ(left, 10000);
  EXPECT_EQ(reduced.ToOld(9999, &left), 9999);
  EXPECT_EQ(left, 1);
  EXPECT_EQ(reduced.ToOld(10000, &left), 40000);
  EXPECT_EQ(left, 30000);
  EXPECT_EQ(reduced.ToOld(40000, &left), 80000);
  EXPECT_EQ(left, 20000);
  for (int64_t pos = 0; pos < static_cast<int64_t>(reduced.bytes().size()); pos += 997) {
    EXPECT_EQ(reduced.bytes()[pos], old_data[reduced.ToOld(pos, &left)]);
  }
  const ReducedOld everything(old_data, {{0, 0, 100000}});
  EXPECT_TRUE(everything.bytes().empty());
}

// Old's repeated chunks are found exactly; runs of them whose first copies
// no anchor covers are left out of the sort, and matches into them are found
// in their first copies.
TEST(AnchorsTest, ReducedOldLeavesRepeatsToTheirFirstCopies) {
  std::mt19937_64 rng(11);
  const std::string a = RandomBytes(rng, 30000), b = RandomBytes(rng, 40000);
  const std::string c = RandomBytes(rng, 20000), d = RandomBytes(rng, 30000);
  // a's and b's bytes come again later in old: [120000, 150000) and [170000, 210000).
  const std::string old_data = a + b + d + c + a + RandomBytes(rng, 20000) + b;
  const std::string new_data = b + RandomBytes(rng, 5000) + a;
  std::vector<Repeat> repeats;
  const std::vector<Anchor> anchors = FindAnchors(old_data, new_data, 4096, &repeats);
  ASSERT_FALSE(repeats.empty());
  int64_t repeated = 0, last = 0;
  for (const Repeat& r : repeats) {
    EXPECT_GE(r.old_pos, last);
    EXPECT_LT(r.first_pos + r.length, r.old_pos + 1);
    EXPECT_EQ(old_data.substr(r.first_pos, r.length), old_data.substr(r.old_pos, r.length));
    repeated += r.length;
    last = r.old_pos + r.length;
  }
  EXPECT_GE(repeated, 60000);  // Nearly all of a's and b's second copies.
  EXPECT_LE(repeated, 70000);

  // Without anchors, the second copies go (but for their first and last
  // chunks, which content-defined cuts may leave different).
  const ReducedOld unanchored(old_data, {}, repeats);
  EXPECT_LT(unanchored.bytes().size(), old_data.size() - 60000);
  int64_t left = 0;
  for (int64_t pos = 0; pos < static_cast<int64_t>(unanchored.bytes().size()); pos += 101) {
    EXPECT_EQ(unanchored.bytes()[pos], old_data[unanchored.ToOld(pos, &left)]);
  }
  auto copies = [](const std::string& text, const std::string& piece) {
    int count = 0;
    for (size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + 1)) {
      ++count;
    }
    return count;
  };
  EXPECT_EQ(copies(unanchored.bytes(), a.substr(1000, 20000)), 1);
  EXPECT_EQ(copies(unanchored.bytes(), b.substr(1000, 30000)), 1);
  // With a's first copy under an anchor, a's second copy stays.
  const std::vector<Anchor> on_a = {{0, 0, 30000}};
  const ReducedOld anchored(old_data, on_a, repeats);
  EXPECT_EQ(copies(anchored.bytes(), a.substr(1000, 20000)), 1);
  EXPECT_EQ(copies(anchored.bytes(), b.substr(1000, 30000)), 1);

  // Matching finds new's copies of a and b whole, whichever copy it uses.
  EXPECT_GE(MatchedBytes(old_data, new_data, 100), 70000);
  // New like a with a byte changed every 2 KiB: nothing to anchor, so its
  // matches come from the sort, which holds a's first copy only.
  std::string edited = a;
  for (size_t at = 1000; at < edited.size(); at += 2048) edited[at] ^= 0x40;
  EXPECT_GE(MatchedBytes(old_data, edited, 100), static_cast<int64_t>(edited.size()) - 100);
}

// Matching with anchors covers new in order from within old, every byte under
// an anchor matched exactly; old with no anchors is left to the caller.
TEST(AnchorsTest, MatchAnchoredCoversNewOrDeclines) {
  std::mt19937_64 rng(9);
  const std::string old_data = RandomBytes(rng, 1 << 20, 64);
  std::string new_data = old_data.substr(600000) + RandomBytes(rng, 3000, 64) +
                         old_data.substr(0, 500000);
  new_data[700000] ^= 1;
  EXPECT_GE(MatchedBytes(old_data, new_data, 85), static_cast<int64_t>(new_data.size()) - 3100);
  const std::string unrelated = RandomBytes(rng, 1 << 20, 64);
  EXPECT_EQ(MatchedBytes(old_data, unrelated, 85), -1);
}

}  // namespace
}  // namespace patchfarm
