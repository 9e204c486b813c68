// What a publish offers (publisher/site_plan.h) and what an update then
// downloads (publisher/update_sizes.h), from a hand-made coordinator status.
#include "publisher/site_plan.h"

#include <map>
#include <string>

#include "common/sha256.h"
#include "gtest/gtest.h"
#include "publisher/update_sizes.h"

namespace patchfarm {
namespace {

class SitePlanTest : public testing::Test {
 protected:
  v1::ReleaseStatus* Add(const std::string& version, bool intermediate = false,
                         const std::string& platform = "linux-x64") {
    v1::ReleaseStatus* r = status_.add_releases();
    r->mutable_release()->set_product("game");
    r->mutable_release()->set_platform(platform);
    r->mutable_release()->set_channel("stable");
    r->mutable_release()->set_version(version);
    r->set_release_id("game/" + platform + "/stable/" + version);
    r->set_kind(v1::RELEASE_KIND_TREE);
    r->set_intermediate(intermediate);
    r->set_manifest_digest(DigestBytes(Sha256Of("tree " + platform + version)));
    r->set_submitted_unix_seconds(1000);
    return r;
  }

  static void Job(v1::ReleaseStatus* to, const std::string& from, uint64_t size,
                  bool done = true, bool chain = false) {
    v1::JobStatus* j = chain ? to->add_chain_jobs() : to->add_jobs();
    j->set_job_id(from + "->" + to->release().version());
    j->set_from_version(from);
    j->set_to_version(to->release().version());
    j->set_state(done ? v1::JOB_STATE_DONE : v1::JOB_STATE_QUEUED);
    j->set_package_size(size);
    j->set_package_digest(DigestBytes(Sha256Of(j->job_id())));
  }

  std::vector<PlatformPlan> Plan(std::map<std::string, uint64_t> full_sizes = {}) {
    auto plans = PlanSite(status_, policy_, 2000, [&](const v1::ReleaseStatus& r)
                              -> absl::StatusOr<std::optional<uint64_t>> {
      asked_.push_back(r.release().version());
      auto it = full_sizes.find(r.release().version());
      if (it == full_sizes.end()) return std::optional<uint64_t>();
      return std::optional<uint64_t>(it->second);
    });
    EXPECT_TRUE(plans.ok()) << plans.status();
    return plans.ok() ? *plans : std::vector<PlatformPlan>();
  }

  static std::vector<std::string> Names(const PlatformPlan& plan) {
    std::vector<std::string> names;
    for (const PlannedPatch& p : plan.patches) names.push_back(p.name);
    return names;
  }

  v1::StatusResponse status_;
  Policy policy_;
  std::vector<std::string> asked_;
};

TEST_F(SitePlanTest, OffersTheWindowAndTheChainOfTheNewestFinishedRelease) {
  policy_.cumulative_window = 2;
  policy_.keep_chain = 2;
  policy_.keep_days = 0;
  Add("1.0");
  Job(Add("2.0"), "1.0", 10);
  v1::ReleaseStatus* v3 = Add("3.0");
  Job(v3, "2.0", 11);
  Job(v3, "1.0", 12);
  Add("3.5-test", true);
  v1::ReleaseStatus* v4 = Add("4.0");
  Job(v4, "3.0", 13);
  Job(v4, "2.0", 14);
  Job(v4, "1.0", 15);  // Outside today's window.
  Job(Add("5.0"), "4.0", 16, /*done=*/false);  // Still being made: 4.0 is served.
  Add("5.0-rc1", true);
  std::vector<PlatformPlan> plans = Plan();
  ASSERT_EQ(plans.size(), 1u);
  const PlatformPlan& plan = plans[0];
  EXPECT_EQ(plan.newest->release().version(), "4.0");
  EXPECT_EQ(Names(plan), (std::vector<std::string>{"from_linux-x64_3.0_to_4.0",
                                                   "from_linux-x64_2.0_to_4.0",
                                                   "chain_linux-x64_2.0_to_3.0"}));
  ASSERT_EQ(plan.full.size(), 2u);  // 4.0 and the newer test build.
  EXPECT_EQ(plan.full[1]->release().version(), "5.0-rc1");
  EXPECT_TRUE(plan.gated.empty());  // Full sizes unknown: no gate.
  EXPECT_EQ(asked_, (std::vector<std::string>{"4.0", "3.0"}));  // Once per target.
}

TEST_F(SitePlanTest, ChainLinksPlannedLaterAreOfferedToo) {
  Add("1.0");
  Add("2.0");  // Submitted before 1.0's link to it was planned.
  Job(status_.mutable_releases(1), "1.0", 10, true, /*chain=*/true);
  Job(Add("3.0"), "2.0", 11);
  std::vector<PlatformPlan> plans = Plan();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(Names(plans[0]), (std::vector<std::string>{"from_linux-x64_2.0_to_3.0", "chain_linux-x64_1.0_to_2.0"}));
}

TEST_F(SitePlanTest, TheGateComparesWithTheTargetsFullPackage) {
  policy_.max_patch_ratio = 0.5;
  Add("1.0");
  Job(Add("2.0"), "1.0", 60);     // 60 > 0.5 x 100: gated.
  v1::ReleaseStatus* v3 = Add("3.0");
  Job(v3, "2.0", 40);             // 40 <= 0.5 x 100: offered.
  Job(v3, "1.0", 51);             // Gated.
  std::vector<PlatformPlan> plans = Plan({{"2.0", 100}, {"3.0", 100}});
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(Names(plans[0]), (std::vector<std::string>{"from_linux-x64_2.0_to_3.0"}));
  ASSERT_EQ(plans[0].gated.size(), 2u);
  EXPECT_EQ(plans[0].gated[0].name, "from_linux-x64_1.0_to_3.0");
  EXPECT_EQ(plans[0].gated[0].full_bytes, 100u);
  EXPECT_EQ(plans[0].gated[1].name, "chain_linux-x64_1.0_to_2.0");
  EXPECT_EQ(plans[0].gated[1].bytes, 60u);
}

TEST_F(SitePlanTest, SizesFollowTheCheapestPathFewerPackagesOnTies) {
  Add("1.0");
  Job(Add("2.0"), "1.0", 10);
  v1::ReleaseStatus* v3 = Add("3.0");
  Job(v3, "2.0", 10);
  Job(v3, "1.0", 20);  // Ties the chain 1.0 -> 2.0 -> 3.0: one package wins.
  Add("2.5-test", true);
  std::vector<PlatformPlan> plans = Plan({{"3.0", 1000}});
  ASSERT_EQ(plans.size(), 1u);
  v1::SiteFile full;
  full.set_url("full_linux-x64_3.0");
  full.set_size(1000);
  full.set_sha256(std::string(64, 'a'));
  v1::SitePlatform site = PreviewPlatform(plans[0], {{v3->release_id(), full}});
  ASSERT_EQ(site.releases_size(), 1);
  EXPECT_EQ(site.patches_size(), 3);
  EXPECT_EQ(site.patches(0).file().size(), 10u);
  EXPECT_EQ(site.patches(0).file().sha256(), DigestToHex(Sha256Of("2.0->3.0")));
  std::vector<UpdateSize> sizes = UpdateSizes(plans[0], site);
  ASSERT_EQ(sizes.size(), 3u);  // 1.0, 2.0, 2.5-test.
  EXPECT_EQ(sizes[0].version, "1.0");
  EXPECT_EQ(sizes[0].bytes, 20u);
  EXPECT_EQ(sizes[0].packages, 1);
  EXPECT_EQ(sizes[1].bytes, 10u);
  EXPECT_EQ(sizes[2].version, "2.5-test");
  EXPECT_TRUE(sizes[2].intermediate);
  EXPECT_EQ(sizes[2].bytes, 1000u);
  EXPECT_EQ(sizes[2].full_bytes, 1000u);
  // Without a full package, a version with no patch has no way.
  std::vector<UpdateSize> no_full = UpdateSizes(plans[0], PreviewPlatform(plans[0], {}));
  EXPECT_FALSE(no_full[2].reachable);
  EXPECT_TRUE(no_full[0].reachable);
}

TEST_F(SitePlanTest, NoFinishedFormalReleaseMeansNoPlan) {
  Add("1.0", true);
  Job(Add("2.0"), "1.0", 10, /*done=*/false);
  EXPECT_TRUE(Plan().empty());
}

}  // namespace
}  // namespace patchfarm
