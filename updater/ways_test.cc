#include "updater/ways.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Manifest digests (hex) of the trees of versions 1.0 to 4.0.
const std::string kM1(64, '1');
const std::string kM2(64, '2');
const std::string kM3(64, '3');
const std::string kM4(64, '4');

using Strings = std::vector<std::string>;

class WaysTest : public testing::Test {
 protected:
  void SetUp() override {
    platform_.set_platform("linux-x64");
    platform_.set_newest("3.0");
    platform_.set_newest_manifest_sha256(kM3);
  }

  v1::SitePatch* AddPatch(const std::string& from, const std::string& to, bool cumulative,
                          const std::string& from_manifest,
                          const std::string& to_manifest, uint64_t size) {
    v1::SitePatch* patch = platform_.add_patches();
    patch->set_from_version(from);
    patch->set_to_version(to);
    patch->set_cumulative(cumulative);
    patch->set_from_manifest_sha256(from_manifest);
    patch->set_to_manifest_sha256(to_manifest);
    patch->mutable_file()->set_url(cumulative ? "from_" + from
                                              : "chain_" + from + "_to_" + to);
    patch->mutable_file()->set_size(size);
    return patch;
  }

  void AddFull(const std::string& version, const std::string& manifest, uint64_t size) {
    v1::SiteRelease* release = platform_.add_releases();
    release->set_version(version);
    release->set_manifest_sha256(manifest);
    release->mutable_full()->set_url("full_" + version);
    release->mutable_full()->set_size(size);
  }

  // The published shape for newest 3.0: cumulative packages from 1.0 and
  // 2.0, the chained 1.0 -> 2.0, the full 3.0.
  void Publish(uint64_t cumulative_1, uint64_t chain_1_2, uint64_t cumulative_2,
               uint64_t full) {
    AddPatch("1.0", "3.0", true, kM1, kM3, cumulative_1);
    AddPatch("2.0", "3.0", true, kM2, kM3, cumulative_2);
    AddPatch("1.0", "2.0", false, kM1, kM2, chain_1_2);
    AddFull("3.0", kM3, full);
  }

  static std::vector<std::string> Names(const std::vector<Way>& ways) {
    std::vector<std::string> names;
    for (const Way& w : ways) names.push_back(w.name);
    return names;
  }

  static std::vector<std::string> Urls(const Way& way) {
    std::vector<std::string> urls;
    for (const v1::SiteFile& f : way.files) urls.push_back(f.url());
    return urls;
  }

  v1::SitePlatform platform_;
};

TEST_F(WaysTest, CumulativePreferredWhenCheaperThanTheChain) {
  Publish(/*cumulative_1=*/100, /*chain_1_2=*/80, /*cumulative_2=*/50, /*full=*/1000);
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, nullptr);
  ASSERT_EQ(Names(ways), (Strings{"cumulative", "chain", "full"}));
  EXPECT_EQ(Urls(ways[0]), (Strings{"from_1.0"}));
  EXPECT_EQ(ways[0].bytes, 100u);
  EXPECT_EQ(ways[0].targets, (Strings{kM3}));
  EXPECT_EQ(Urls(ways[1]), (Strings{"chain_1.0_to_2.0", "from_2.0"}));
  EXPECT_EQ(ways[1].targets, (Strings{kM2, kM3}));
  EXPECT_EQ(ways[1].bytes, 130u);
  EXPECT_EQ(Urls(ways[2]), (Strings{"full_3.0"}));
}

TEST_F(WaysTest, ChainChosenWhenCheaper) {
  Publish(/*cumulative_1=*/500, /*chain_1_2=*/80, /*cumulative_2=*/50, /*full=*/1000);
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, nullptr);
  ASSERT_EQ(Names(ways), (Strings{"chain", "cumulative", "full"}));
  EXPECT_EQ(ways[0].bytes, 130u);
}

TEST_F(WaysTest, FullPackageLastWhateverItsSize) {
  Publish(/*cumulative_1=*/500, /*chain_1_2=*/400, /*cumulative_2=*/300, /*full=*/1);
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, nullptr);
  EXPECT_EQ(Names(ways), (Strings{"cumulative", "chain", "full"}));
}

TEST_F(WaysTest, PatchWithoutManifestDigestsIgnored) {
  Publish(100, 80, 50, 1000);
  platform_.mutable_patches(0)->clear_from_manifest_sha256();       // from_1.0
  platform_.mutable_patches(2)->set_to_manifest_sha256("not hex");  // chain_1.0_to_2.0
  std::vector<std::string> ignored;
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, &ignored);
  EXPECT_EQ(Names(ways), (Strings{"full"}));
  EXPECT_EQ(ignored, (Strings{"from_1.0", "chain_1.0_to_2.0"}));
  // Upper-case hex is not how the index writes digests either.
  platform_.Clear();
  SetUp();
  Publish(100, 80, 50, 1000);
  std::string upper(64, 'A');
  platform_.mutable_patches(0)->set_from_manifest_sha256(upper);
  ignored.clear();
  EXPECT_EQ(Names(RankWays(platform_, "1.0", "", &ignored)), (Strings{"chain", "full"}));
  EXPECT_EQ(ignored, (Strings{"from_1.0"}));
}

TEST_F(WaysTest, ChainWhoseLinksDoNotJoinNotOffered) {
  Publish(100, 80, 50, 1000);
  // chain_1.0_to_2.0 makes a tree that from_2.0 does not start at.
  platform_.mutable_patches(2)->set_to_manifest_sha256(kM4);
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, nullptr);
  EXPECT_EQ(Names(ways), (Strings{"cumulative", "full"}));
  // Even without an installed manifest to start from.
  EXPECT_EQ(Names(RankWays(platform_, "1.0", "", nullptr)),
            (Strings{"cumulative", "full"}));
}

TEST_F(WaysTest, CumulativeFromAnotherTreeNotOffered) {
  Publish(100, 80, 50, 1000);
  // The install is 1.0 by its marker, but another 1.0 tree than the packages read.
  std::vector<Way> ways = RankWays(platform_, "1.0", kM4, nullptr);
  EXPECT_EQ(Names(ways), (Strings{"full"}));
  // A marker from before manifests were recorded: any start is accepted.
  EXPECT_EQ(Names(RankWays(platform_, "1.0", "", nullptr)),
            (Strings{"cumulative", "chain", "full"}));
}

TEST_F(WaysTest, WaysNotEndingAtTheNewestTreeDropped) {
  Publish(100, 80, 50, 1000);
  platform_.mutable_patches(0)->set_to_manifest_sha256(kM4);  // from_1.0
  EXPECT_EQ(Names(RankWays(platform_, "1.0", kM1, nullptr)), (Strings{"chain", "full"}));
  platform_.mutable_patches(1)->set_to_manifest_sha256(
      kM4);  // from_2.0, the chain's last link
  EXPECT_EQ(Names(RankWays(platform_, "1.0", kM1, nullptr)), (Strings{"full"}));
  platform_.mutable_releases(0)->set_manifest_sha256(kM4);
  EXPECT_TRUE(RankWays(platform_, "1.0", kM1, nullptr).empty());
  // An index that does not name the newest tree offers nothing.
  platform_.Clear();
  SetUp();
  Publish(100, 80, 50, 1000);
  platform_.clear_newest_manifest_sha256();
  EXPECT_TRUE(RankWays(platform_, "1.0", kM1, nullptr).empty());
}

TEST_F(WaysTest, EmptyInstallGetsOnlyTheFullPackage) {
  Publish(100, 80, 50, 1000);
  AddFull("3.1-test", kM4, 900);  // An intermediate release: not the newest.
  std::vector<Way> ways = RankWays(platform_, "", "", nullptr);
  ASSERT_EQ(Names(ways), (Strings{"full"}));
  EXPECT_EQ(Urls(ways[0]), (Strings{"full_3.0"}));
  EXPECT_EQ(ways[0].targets, (Strings{kM3}));
  EXPECT_EQ(ways[0].bytes, 1000u);
}

TEST_F(WaysTest, UpToDateInstallGetsNone) {
  Publish(100, 80, 50, 1000);
  EXPECT_TRUE(RankWays(platform_, "3.0", kM3, nullptr).empty());
}

TEST_F(WaysTest, ChainFromTheMiddleAndUnknownVersions) {
  Publish(100, 80, 50, 1000);
  // At 2.0 only the cumulative package (a one-package chain is not offered).
  EXPECT_EQ(Names(RankWays(platform_, "2.0", kM2, nullptr)),
            (Strings{"cumulative", "full"}));
  // A version the index knows no package from: the full package only.
  EXPECT_EQ(Names(RankWays(platform_, "0.9", kM4, nullptr)), (Strings{"full"}));
}

TEST_F(WaysTest, ChainOfThreeLinks) {
  platform_.set_newest("4.0");
  platform_.set_newest_manifest_sha256(kM4);
  AddPatch("1.0", "2.0", false, kM1, kM2, 10);
  AddPatch("2.0", "3.0", false, kM2, kM3, 10);
  AddPatch("3.0", "4.0", true, kM3, kM4, 10);
  AddPatch("2.0", "4.0", true, kM2, kM4, 100);
  AddFull("4.0", kM4, 1000);
  std::vector<Way> ways = RankWays(platform_, "1.0", kM1, nullptr);
  ASSERT_EQ(Names(ways), (Strings{"chain", "full"}));
  EXPECT_EQ(Urls(ways[0]), (Strings{"chain_1.0_to_2.0", "chain_2.0_to_3.0", "from_3.0"}));
  EXPECT_EQ(ways[0].targets, (Strings{kM2, kM3, kM4}));
  EXPECT_EQ(ways[0].bytes, 30u);
}

}  // namespace
}  // namespace patchfarm
