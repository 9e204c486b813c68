// Which patches a policy keeps (core/release/retention.h).
#include "core/release/retention.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1'700'000'000;

// Formal versions 1.0 .. n.0 (submitted a day apart, the newest today),
// with intermediate test builds after every fifth.
std::vector<LineRelease> Line(int n) {
  std::vector<LineRelease> releases;
  for (int v = 1; v <= n; ++v) {
    releases.push_back({std::to_string(v) + ".0", false, kNow - (n - v) * kDay, true});
    if (v % 5 == 0) releases.push_back({std::to_string(v) + ".0.1-test", true, kNow, true});
  }
  return releases;
}

std::vector<VersionPair> Links(int from, int to) {
  std::vector<VersionPair> links;
  for (int v = from; v < to; ++v) links.push_back({std::to_string(v) + ".0", std::to_string(v + 1) + ".0"});
  return links;
}

TEST(RetentionTest, WindowAndChainCountFormalVersionsOnly) {
  Policy policy;
  policy.cumulative_window = 3;
  policy.keep_chain = 10;
  policy.keep_days = 0;
  Retained r = RetainFor(policy, Line(15), "15.0", kNow);
  EXPECT_EQ(r.cumulative_from, (std::vector<std::string>{"14.0", "13.0", "12.0"}));
  EXPECT_EQ(r.chain, Links(5, 15));  // From each of the last 10 old versions.
}

TEST(RetentionTest, ShortLinesKeepEverything) {
  Policy policy;
  Retained r = RetainFor(policy, Line(4), "4.0", kNow);
  EXPECT_EQ(r.cumulative_from.size(), 3u);
  EXPECT_EQ(r.chain, Links(1, 4));
  EXPECT_TRUE(RetainFor(policy, Line(1), "1.0", kNow).chain.empty());
}

TEST(RetentionTest, KeepDaysKeepsMoreWhenItReachesFurther) {
  Policy policy;
  policy.keep_chain = 2;
  policy.keep_days = 6;  // Versions submitted less than 6 days ago: 15.0 back to 10.0.
  EXPECT_EQ(RetainFor(policy, Line(15), "15.0", kNow).chain, Links(10, 15));
  policy.keep_days = 1;  // Only 14.0: keep_chain's two versions reach further.
  EXPECT_EQ(RetainFor(policy, Line(15), "15.0", kNow).chain, Links(13, 15));
  policy.keep_days = 0;
  EXPECT_EQ(RetainFor(policy, Line(15), "15.0", kNow).chain, Links(13, 15));
  // Time passes: the same policy keeps less.
  policy.keep_days = 6;
  EXPECT_EQ(RetainFor(policy, Line(15), "15.0", kNow + 3 * kDay).chain, Links(13, 15));
}

TEST(RetentionTest, ReleasesWithoutASubmitTimeCountAsOld) {
  Policy policy;
  policy.keep_chain = 1;
  policy.keep_days = 36500;
  std::vector<LineRelease> line = Line(6);
  for (LineRelease& r : line) {
    if (r.version < "4.0") r.submitted_unix_seconds = 0;
  }
  // 4.0 and 5.0 are recent; 1.0 to 3.0 have no time: the chain starts at 4.0.
  EXPECT_EQ(RetainFor(policy, line, "6.0", kNow).chain, Links(4, 6));
}

TEST(RetentionTest, NewestMustBeAFormalVersionOfTheLine) {
  Policy policy;
  EXPECT_TRUE(RetainFor(policy, Line(6), "5.0.1-test", kNow).chain.empty());
  EXPECT_TRUE(RetainFor(policy, Line(6), "9.0", kNow).cumulative_from.empty());
  // An older anchor retains relative to itself.
  policy.cumulative_window = 2;
  Retained r = RetainFor(policy, Line(6), "4.0", kNow);
  EXPECT_EQ(r.cumulative_from, (std::vector<std::string>{"3.0", "2.0"}));
  EXPECT_EQ(r.chain, Links(1, 4));
}

TEST(RetentionTest, PublishedNewestIsTheNewestFinishedFormalRelease) {
  std::vector<LineRelease> line = Line(6);
  EXPECT_EQ(PublishedNewest(line), "6.0");
  line.back().finished = false;  // 6.0 is still being made.
  EXPECT_EQ(PublishedNewest(line), "5.0");
  EXPECT_EQ(NewestFormal(line), "6.0");
  for (LineRelease& r : line) r.finished = r.intermediate;
  EXPECT_EQ(PublishedNewest(line), std::nullopt);
  EXPECT_EQ(NewestFormal({}), std::nullopt);
}

TEST(RetentionTest, KeepCoversThePublishedNewestAndEverythingNewer) {
  Policy policy;
  policy.cumulative_window = 2;
  policy.keep_chain = 2;
  policy.keep_days = 0;
  std::vector<LineRelease> line = Line(8);
  line[line.size() - 1].finished = false;  // 8.0 in progress: 7.0 is served.
  Keep keep = KeepFor(policy, line, kNow);
  EXPECT_FALSE(keep.everything);
  EXPECT_EQ(keep.patches, (std::set<VersionPair>{{"6.0", "7.0"}, {"5.0", "7.0"}, {"5.0", "6.0"}}));
  EXPECT_EQ(keep.all_into, (std::set<std::string>{"8.0"}));
  for (LineRelease& r : line) r.finished = false;
  EXPECT_TRUE(KeepFor(policy, line, kNow).everything);  // Nothing published: keep all.
}

}  // namespace
}  // namespace patchfarm
