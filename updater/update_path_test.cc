#include "updater/update_path.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

using Strings = std::vector<std::string>;

// The manifest digest (hex) of the tree of version `v`: its bytes in hex,
// padded with zeros (one digest per name of up to 32 bytes).
std::string M(const std::string& v) {
  std::string digest;
  for (unsigned char c : v) {
    digest += "0123456789abcdef"[c >> 4];
    digest += "0123456789abcdef"[c & 15];
  }
  digest.resize(64, '0');
  return digest;
}

class UpdatePathTest : public testing::Test {
 protected:
  void SetUp() override { SetNewest("1.2.0"); }

  void SetNewest(const std::string& version) {
    platform_.set_platform("linux-x64");
    platform_.set_newest(version);
    platform_.set_newest_manifest_sha256(M(version));
  }

  v1::SitePatch* Link(const std::string& from, const std::string& to, uint64_t size) {
    return AddPatch(from, to, false, size);
  }
  v1::SitePatch* Cumulative(const std::string& from, uint64_t size) {
    return AddPatch(from, platform_.newest(), true, size);
  }
  v1::SitePatch* AddPatch(const std::string& from, const std::string& to, bool cumulative,
                          uint64_t size) {
    v1::SitePatch* patch = platform_.add_patches();
    patch->set_from_version(from);
    patch->set_to_version(to);
    patch->set_cumulative(cumulative);
    patch->set_from_manifest_sha256(M(from));
    patch->set_to_manifest_sha256(M(to));
    patch->mutable_file()->set_url(cumulative ? "from_" + from : "chain_" + from + "_to_" + to);
    patch->mutable_file()->set_size(size);
    return patch;
  }
  v1::SiteRelease* Full(const std::string& version, uint64_t size) {
    v1::SiteRelease* release = platform_.add_releases();
    release->set_version(version);
    release->set_manifest_sha256(M(version));
    release->mutable_full()->set_url("full_" + version);
    release->mutable_full()->set_size(size);
    return release;
  }

  // Seven formal versions; the window holds the last four before the newest:
  //   chain links 1.0.1 -> 1.0.2 -> 1.0.3 -> 1.0.4 -> 1.1.0 -> 1.1.1 (and a
  //   link 1.0.1 -> 1.0.4 skipping two versions, as a publisher that aged
  //   1.0.2 and 1.0.3 out would leave), cumulative packages from 1.0.4,
  //   1.1.0, 1.1.1 (the last step), and 1.0.3; the full 1.2.0.
  void PublishMany() {
    Link("1.0.1", "1.0.2", 40);
    Link("1.0.2", "1.0.3", 40);
    Link("1.0.3", "1.0.4", 40);
    Link("1.0.1", "1.0.4", 70);
    Link("1.0.4", "1.1.0", 300);
    Link("1.1.0", "1.1.1", 300);
    Cumulative("1.0.3", 500);
    Cumulative("1.0.4", 200);
    Cumulative("1.1.0", 250);
    Cumulative("1.1.1", 100);
    Full("1.2.0", 5000);
  }

  std::optional<UpdatePath> From(const std::string& version) const {
    return UpdateGraph(platform_).Cheapest({version, M(version)});
  }

  static Strings Urls(const UpdatePath& path) {
    Strings urls;
    for (const PathEdge& e : path.steps) urls.push_back(e.file.url());
    return urls;
  }

  v1::SitePlatform platform_;
};

TEST_F(UpdatePathTest, CheapestOverEveryPublishedPackage) {
  PublishMany();
  // From outside the cumulative window: the link into it, then its
  // cumulative package (70 + 200), not three links (40 * 3 + 200), not the
  // chain all the way (70 + 300 + 300 + 100), not the full package.
  auto path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.0.4", "from_1.0.4"}));
  EXPECT_EQ(path->bytes, 270u);
  EXPECT_EQ(path->steps[0].to_manifest, M("1.0.4"));
  EXPECT_EQ(path->steps[1].to_manifest, M("1.2.0"));
  EXPECT_EQ(PathName(*path), "chain");
  EXPECT_EQ(DescribePath(*path, "1.0.1"), "1.0.1 -> 1.0.4 -> 1.2.0 (2 packages, 270 bytes)");

  // From 1.0.2: two links then a cumulative package (40 + 40 + 200) beats
  // its own cumulative (none) and one link then 1.0.3's cumulative (540).
  path = From("1.0.2");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.2_to_1.0.3", "chain_1.0.3_to_1.0.4", "from_1.0.4"}));
  EXPECT_EQ(path->bytes, 280u);
  // From 1.0.3: its cumulative package (500) loses to a link and 1.0.4's (240).
  path = From("1.0.3");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.3_to_1.0.4", "from_1.0.4"}));
  // From 1.1.0: its cumulative (250) beats the link and the last step (400).
  path = From("1.1.0");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"from_1.1.0"}));
  EXPECT_EQ(PathName(*path), "cumulative");
  EXPECT_EQ(DescribePath(*path, "1.1.0"), "1.1.0 -> 1.2.0 (1 package, 250 bytes)");
}

TEST_F(UpdatePathTest, TieGoesToFewerPackages) {
  Link("1.0.1", "1.1.0", 60);
  Cumulative("1.1.0", 40);
  Cumulative("1.0.1", 100);
  Full("1.2.0", 100);
  auto path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"from_1.0.1"}));
  // Made one byte cheaper, the two packages win.
  platform_.mutable_patches(0)->mutable_file()->set_size(59);
  path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.1.0", "from_1.1.0"}));
  EXPECT_EQ(path->bytes, 99u);
  // Equal bytes and packages: the path found first in the index's order.
  platform_.mutable_patches(0)->mutable_file()->set_size(60);
  platform_.mutable_patches(2)->mutable_file()->set_size(200);
  platform_.mutable_releases(0)->mutable_full()->set_size(1000);
  Link("1.0.1", "1.1.1", 60);
  Cumulative("1.1.1", 40);
  path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.1.0", "from_1.1.0"}));
  // A patch and the full package of the same size: the patch.
  platform_.mutable_patches(2)->mutable_file()->set_size(1000);
  platform_.mutable_patches(0)->mutable_file()->set_size(5000);
  platform_.mutable_patches(3)->mutable_file()->set_size(5000);
  path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"from_1.0.1"}));
}

TEST_F(UpdatePathTest, PackagesWhoseDigestsDoNotJoinAreNotCombined) {
  PublishMany();
  // The 1.0.1 -> 1.0.4 link makes another tree than 1.0.4's packages read.
  platform_.mutable_patches(3)->set_to_manifest_sha256(M("other"));
  auto path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path),
            (Strings{"chain_1.0.1_to_1.0.2", "chain_1.0.2_to_1.0.3", "chain_1.0.3_to_1.0.4",
                     "from_1.0.4"}));
  EXPECT_EQ(path->bytes, 320u);
  // The install is 1.0.1 by its marker, but another tree than the packages read:
  // only the full package.
  path = UpdateGraph(platform_).Cheapest({"1.0.1", M("other 1.0.1")});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
  // A cumulative package that does not make the newest tree is no way there.
  platform_.Clear();
  SetUp();
  Cumulative("1.1.0", 10)->set_to_manifest_sha256(M("1.1.9"));
  Full("1.2.0", 5000);
  path = From("1.1.0");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
}

TEST_F(UpdatePathTest, PackagesWithoutDigestsAreIgnored) {
  PublishMany();
  platform_.mutable_patches(3)->clear_from_manifest_sha256();          // 1.0.1 -> 1.0.4
  platform_.mutable_patches(7)->set_to_manifest_sha256("not hex");     // from_1.0.4
  platform_.mutable_patches(0)->set_to_manifest_sha256(std::string(64, 'A'));  // Upper case.
  UpdateGraph graph(platform_);
  EXPECT_EQ(graph.ignored(), (Strings{"chain_1.0.1_to_1.0.2", "chain_1.0.1_to_1.0.4", "from_1.0.4"}));
  auto path = graph.Cheapest({"1.0.1", M("1.0.1")});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
  path = graph.Cheapest({"1.0.4", M("1.0.4")});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.4_to_1.1.0", "from_1.1.0"}));
  // A release that does not name its tree offers no full package.
  platform_.mutable_releases(0)->clear_manifest_sha256();
  UpdateGraph without_full(platform_);
  EXPECT_EQ(without_full.ignored().back(), "full_1.2.0");
  EXPECT_FALSE(without_full.Cheapest({"1.0.1", M("1.0.1")}).has_value());
  // An index that does not name the newest tree has no path at all.
  platform_.clear_newest_manifest_sha256();
  EXPECT_FALSE(UpdateGraph(platform_).Cheapest({"1.0.4", M("1.0.4")}).has_value());
}

TEST_F(UpdatePathTest, FullPackageFromAnywhere) {
  PublishMany();
  Full("1.3.0-test", 900);  // An intermediate release's full package.
  // An empty install, and one of unknown content, get the full package.
  for (const PathStart& start : {PathStart{"", ""}, PathStart{"0.9", ""}, PathStart{"0.9", M("0.9")}}) {
    auto path = UpdateGraph(platform_).Cheapest(start);
    ASSERT_TRUE(path.has_value()) << start.version;
    EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
    EXPECT_EQ(path->steps[0].to_manifest, M("1.2.0"));
    EXPECT_EQ(path->bytes, 5000u);
    EXPECT_EQ(PathName(*path), "full");
    EXPECT_EQ(DescribePath(*path, "(empty)"), "(empty) -> 1.2.0 (1 package, 5000 bytes)");
  }
  // Fewest bytes wins, also when that is the full package.
  platform_.mutable_releases(0)->mutable_full()->set_size(250);
  auto path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
  // Another release's full package is a way into the graph like any other.
  platform_.Clear();
  SetUp();
  Full("1.2.0", 5000);
  Full("1.1.1", 1000);
  Cumulative("1.1.1", 100);
  path = UpdateGraph(platform_).Cheapest({"", ""});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.1.1", "from_1.1.1"}));
}

TEST_F(UpdatePathTest, NextPathAfterAFailedPackage) {
  PublishMany();
  UpdateGraph graph(platform_);
  const PathStart start{"1.0.1", M("1.0.1")};
  auto path = graph.Cheapest(start);
  ASSERT_TRUE(path.has_value());
  ASSERT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.0.4", "from_1.0.4"}));
  // from_1.0.4 failed before anything was applied: the next path from 1.0.1.
  graph.Drop(path->steps[1].id);
  path = graph.Cheapest(start);
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.0.2", "chain_1.0.2_to_1.0.3", "from_1.0.3"}));
  EXPECT_EQ(path->bytes, 580u);
  // The first link committed, the second failed: the next path from 1.0.2.
  graph.Drop(path->steps[1].id);
  path = graph.Cheapest({"1.0.2", M("1.0.2")});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
  // And when the full package fails too, no path is left.
  graph.Drop(path->steps[0].id);
  EXPECT_FALSE(graph.Cheapest({"1.0.2", M("1.0.2")}).has_value());
  // Dropping an id the graph does not have changes nothing.
  graph.Drop(1000);
  path = graph.Cheapest({"1.1.0", M("1.1.0")});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"from_1.1.0"}));
}

TEST_F(UpdatePathTest, MarkerWithoutManifestStartsByVersion) {
  PublishMany();
  auto path = UpdateGraph(platform_).Cheapest({"1.0.1", ""});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"chain_1.0.1_to_1.0.4", "from_1.0.4"}));
  // After the first package, steps join by digest as always.
  platform_.mutable_patches(3)->set_to_manifest_sha256(M("other"));
  path = UpdateGraph(platform_).Cheapest({"1.0.1", ""});
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->steps.size(), 4u);
}

TEST_F(UpdatePathTest, AtTheNewestTreeThePathIsEmpty) {
  PublishMany();
  auto path = From("1.2.0");
  ASSERT_TRUE(path.has_value());
  EXPECT_TRUE(path->steps.empty());
  EXPECT_EQ(path->bytes, 0u);
  EXPECT_EQ(PathName(*path), "");
}

TEST_F(UpdatePathTest, HugeSizesDoNotWrap) {
  Link("1.0.1", "1.1.0", std::numeric_limits<uint64_t>::max() - 10);
  Cumulative("1.1.0", 100);
  Full("1.2.0", 5000);
  auto path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(Urls(*path), (Strings{"full_1.2.0"}));
  platform_.mutable_releases(0)->mutable_full()->set_size(std::numeric_limits<uint64_t>::max());
  path = From("1.0.1");
  ASSERT_TRUE(path.has_value());
  EXPECT_EQ(path->bytes, std::numeric_limits<uint64_t>::max());
}

}  // namespace
}  // namespace patchfarm
