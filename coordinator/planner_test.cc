// Version order, planning and the job queue.
#include "coordinator/job_queue.h"
#include "coordinator/planner.h"
#include "core/release/version.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(Version, DottedNumbersAndSemver) {
  EXPECT_GT(CompareVersions("5.1.2.10", "5.1.2.9"), 0);
  EXPECT_LT(CompareVersions("5.1.2.9", "5.1.2.10"), 0);
  EXPECT_EQ(CompareVersions("1.0", "1.0.0"), 0);
  EXPECT_LT(CompareVersions("1.0.0-rc.1", "1.0.0"), 0);
  EXPECT_LT(CompareVersions("1.0.0-alpha", "1.0.0-alpha.1"), 0);
  EXPECT_LT(CompareVersions("1.0.0-alpha.1", "1.0.0-alpha.beta"), 0);
  EXPECT_LT(CompareVersions("1.0.0-beta.2", "1.0.0-beta.11"), 0);
  EXPECT_LT(CompareVersions("1.0.0-rc.1", "1.0.0-rc.1.1"), 0);
  EXPECT_EQ(CompareVersions("1.2.3+build.5", "1.2.3+other"), 0);
  EXPECT_LT(CompareVersions("0.9.99999999999999999999", "1.0"), 0);
  EXPECT_GT(CompareVersions("0.25.12", "0.25.5"), 0);
}

TEST(Version, Names) {
  EXPECT_TRUE(ValidateName("version", "5.1.2-rc.1+b7").ok());
  EXPECT_FALSE(ValidateName("version", "").ok());
  EXPECT_FALSE(ValidateName("product", "a/b").ok());
  EXPECT_FALSE(ValidateName("product", "..").ok());
  EXPECT_FALSE(ValidateName("product", std::string(129, 'a')).ok());
}

TEST(Planner, WindowOfFormalVersionsNewestFirst) {
  std::vector<PlannedRelease> existing;
  for (int i = 1; i <= 14; ++i) {
    existing.push_back({"r" + std::to_string(i), "5.0." + std::to_string(i), i == 13});
  }
  existing.push_back({"future", "6.0", false});
  Policy policy;
  policy.cumulative_window = 3;
  std::vector<std::string> ids = PlanSources(policy, "5.0.15", false, existing);
  EXPECT_EQ(ids, (std::vector<std::string>{"r14", "r12", "r11"}));  // 13 is intermediate.
  EXPECT_TRUE(PlanSources(policy, "5.0.16", true, existing).empty());
  EXPECT_EQ(PlanSources(Policy(), "5.0.15", false, existing).size(), 10u);
  EXPECT_TRUE(PlanSources(policy, "0.1", false, existing).empty());
}

TEST(JobQueue, PriorityThenFifoWithAffinity) {
  JobQueue q;
  q.Push("release-a", 1, 1, "old1");
  q.Push("release-b", 1, 2, "old2");
  q.Push("oneoff", 0, 3, "old3");
  EXPECT_EQ(q.size(0), 1u);
  EXPECT_EQ(q.Pop(1, {}), std::vector<std::string>{"oneoff"});
  EXPECT_EQ(q.Pop(1, {"old2"}), std::vector<std::string>{"release-b"});  // Holds its old side.
  EXPECT_EQ(q.Pop(5, {}), std::vector<std::string>{"release-a"});
  EXPECT_EQ(q.size(), 0u);
  q.Push("x", 1, 5, "o");
  q.Push("x", 0, 5, "o");  // Moved, not duplicated.
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.size(0), 1u);
}

// Two jobs with the same priority, seq and part (a pair split again while a
// part of its first split is still queued) are both kept, and removing one
// leaves the other.
TEST(JobQueue, JobsWithTheSameKeyStayApart) {
  JobQueue q;
  q.Push("pair.s3", 1, 7, "old", 1);  // Stale, from the first split.
  q.Push("pair.s0", 1, 7, "old", 1);
  EXPECT_EQ(q.size(), 2u);
  q.Push("pair.s3", 1, 7, "old", 4);  // The second split's place for s3.
  EXPECT_EQ(q.size(), 2u);
  EXPECT_TRUE(q.Contains("pair.s0"));
  EXPECT_EQ(q.Pop(5, {}), (std::vector<std::string>{"pair.s0", "pair.s3"}));
}

}  // namespace
}  // namespace patchfarm
