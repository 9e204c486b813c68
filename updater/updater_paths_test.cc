// RunUpdate's cheapest path over several releases (updater_testing.h): two
// packages bit-exact, a corrupt package on the cheapest path, a step failing
// after another committed, no path left, and an empty install.
#include <sys/stat.h>

#include "gtest/gtest.h"
#include "updater/updater_testing.h"

namespace patchfarm {
namespace {

TEST_F(UpdaterTest, CheapestPathOfTwoPackagesEndsBitExactAtTheNewest) {
  InstallFirstOfFourReleases();
  const uint64_t two = link12_.size() + from2_.size();
  // The site as set up: a link into the window, then its cumulative package,
  // is the cheapest path (the premise of this test).
  ASSERT_LT(two, link12_.size() + link23_.size() + from3_.size());
  ASSERT_LT(two, full4_.size());
  Sign(FourReleasesIndex());
  const std::string path = "1.0 -> 2.0 -> 4.0 (2 packages, " + std::to_string(two) + " bytes)";

  // --check reports the path and changes nothing.
  UpdateOptions check;
  check.index_url = "file://" + Dir("site") + "/index.json";
  check.public_key_pem = keys_.public_pem;
  check.install_dir = Install();
  std::string check_log;
  check.log = [&](const std::string& line) { check_log += line + "\n"; };
  check.check_only = true;
  auto checked = RunUpdate(check);
  ASSERT_TRUE(checked.ok()) << checked.status() << check_log;
  EXPECT_EQ(checked->path, path);
  EXPECT_EQ(checked->way, "chain");
  EXPECT_EQ(checked->download_bytes, two);
  EXPECT_FALSE(checked->updated);
  EXPECT_NE(check_log.find("patchfarm-update: path " + path + "\n"), std::string::npos) << check_log;
  EXPECT_EQ(WholeInstall(), Hex("r1"));
  EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0");

  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_TRUE(report->updated);
  EXPECT_EQ(report->installed, "1.0");
  EXPECT_EQ(report->way, "chain");
  EXPECT_EQ(report->path, path);
  EXPECT_EQ(report->download_bytes, two);
  EXPECT_NE(log_.find("patchfarm-update: path " + path + "\n"), std::string::npos) << log_;
  EXPECT_NE(log_.find("applied chain_linux-x64_1.0_to_2.0: 1.0 -> 2.0 (package 1 of 2)"),
            std::string::npos) << log_;
  EXPECT_NE(log_.find("applied from_linux-x64_2.0: 2.0 -> 4.0 (package 2 of 2)"),
            std::string::npos) << log_;
  EXPECT_EQ(log_.find("failed"), std::string::npos) << log_;
  // Bit-exact: every entry, mode and byte of 4.0, and nothing else (old.txt is gone).
  EXPECT_EQ(WholeInstall(), Hex("r4"));
  Marker marker = ReadInstallMarker();
  EXPECT_EQ(marker.Get("version"), "4.0");
  EXPECT_EQ(marker.Get("manifest"), Hex("r4"));
  EXPECT_EQ(marker.Get("serial"), "200");
  EXPECT_TRUE(List(Install() + "/.patchfarm/downloads").empty());
}

TEST_F(UpdaterTest, CorruptPackageOnTheCheapestPathTakesTheNextPath) {
  InstallFirstOfFourReleases();
  const uint64_t three = link12_.size() + link23_.size() + from3_.size();
  ASSERT_LT(link12_.size() + from2_.size(), three);
  ASSERT_LT(three, full4_.size());
  Sign(FourReleasesIndex());
  // from_linux-x64_2.0 on the site no longer has the bytes the index signs.
  const std::string file = Dir("site") + "/from_linux-x64_2.0";
  auto bytes = ReadFileToString(file);
  ASSERT_TRUE(bytes.ok());
  std::string corrupt = *bytes;
  corrupt[corrupt.size() / 2] ^= 0x55;
  ASSERT_TRUE(WriteFileAtomically(file, corrupt).ok());

  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_NE(log_.find("the chain way failed at from_linux-x64_2.0: from_linux-x64_2.0: "
                      "downloaded bytes do not match the index"),
            std::string::npos) << log_;
  // Nothing was applied before every package of the path was checked, so
  // the next path starts from 1.0 again, without the corrupt package.
  EXPECT_EQ(log_.find("applied"), log_.find("applied chain_linux-x64_1.0_to_2.0: 1.0 -> 2.0 (package 1 of 3)"))
      << log_;
  const std::string next =
      "1.0 -> 2.0 -> 3.0 -> 4.0 (3 packages, " + std::to_string(three) + " bytes)";
  EXPECT_NE(log_.find("patchfarm-update: path " + next + "\n"), std::string::npos) << log_;
  EXPECT_EQ(report->path, next);
  EXPECT_EQ(report->way, "chain");
  EXPECT_EQ(report->download_bytes, three);
  EXPECT_EQ(WholeInstall(), Hex("r4"));
  EXPECT_EQ(ReadInstallMarker().Get("version"), "4.0");
  EXPECT_EQ(ReadInstallMarker().Get("manifest"), Hex("r4"));
}

TEST_F(UpdaterTest, StepFailingAfterACommittedStepGoesOnFromThere) {
  InstallFirstOfFourReleases();
  // The index names, as the cumulative package from 2.0, the bytes of the
  // one from 3.0: they declare 4.0's tree (the check before applying
  // passes) but read 3.0's, so applying them on 2.0 fails.
  v1::UpdateIndex index = FourReleasesIndex();
  v1::SitePatch* from2 = index.mutable_platforms(0)->mutable_patches(2);
  ASSERT_EQ(from2->file().url(), "from_linux-x64_2.0");
  auto bytes = ReadFileToString(Dir("site") + "/from_linux-x64_3.0");
  ASSERT_TRUE(bytes.ok());
  *from2->mutable_file() = AddSiteFile("from_linux-x64_2.0", *bytes);
  ASSERT_LT(link12_.size() + from2->file().size(),
            link12_.size() + link23_.size() + from3_.size());
  Sign(index);

  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_NE(log_.find("applied chain_linux-x64_1.0_to_2.0: 1.0 -> 2.0 (package 1 of 2)"),
            std::string::npos) << log_;
  EXPECT_NE(log_.find("the chain way failed at from_linux-x64_2.0: "), std::string::npos) << log_;
  // The next path starts at 2.0, where the committed step left the install.
  const std::string next = "2.0 -> 3.0 -> 4.0 (2 packages, " +
                           std::to_string(link23_.size() + from3_.size()) + " bytes)";
  EXPECT_NE(log_.find("patchfarm-update: path " + next + "\n"), std::string::npos) << log_;
  EXPECT_EQ(log_.find("applied chain_linux-x64_1.0_to_2.0", log_.find(next)), std::string::npos)
      << "1.0 -> 2.0 applied twice: " << log_;
  EXPECT_EQ(report->path, "1.0 -> 2.0 -> 3.0 -> 4.0 (3 packages, " +
                              std::to_string(link12_.size() + link23_.size() + from3_.size()) +
                              " bytes)");
  EXPECT_EQ(WholeInstall(), Hex("r4"));
  EXPECT_EQ(ReadInstallMarker().Get("version"), "4.0");
}

TEST_F(UpdaterTest, NoPathLeftStopsWhereTheInstallIs) {
  InstallFirstOfFourReleases();
  // Only the link 1.0 -> 2.0 and a corrupt cumulative package from 2.0.
  v1::UpdateIndex index = NewIndex("4.0", "r4", 200);
  AddPatchEntry(&index, "1.0", "r1", "2.0", "r2", false, link12_);
  v1::SiteFile bad = from2_;
  bad.set_sha256(std::string(64, '0'));
  AddPatchEntry(&index, "2.0", "r2", "4.0", "r4", true, bad);
  Sign(index);
  auto report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << report.status();
  EXPECT_NE(log_.find("no other signed package leads from 1.0 to 4.0"), std::string::npos) << log_;
  EXPECT_EQ(WholeInstall(), Hex("r1"));
  EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0");
  // Without the link no path leads there at all: nothing is tried.
  index.mutable_platforms(0)->mutable_patches()->DeleteSubrange(0, 1);
  Sign(index);
  report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
  EXPECT_NE(log_.find("no signed package leads from 1.0 to 4.0"), std::string::npos) << log_;
}

TEST_F(UpdaterTest, EmptyInstallPathIsTheFullPackage) {
  Sign(Index("2.0", 100));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  const std::string path = "(empty) -> 2.0 (1 package, " + std::to_string(full2_.size()) + " bytes)";
  EXPECT_EQ(report->path, path);
  EXPECT_EQ(report->way, "full");
  EXPECT_NE(log_.find("patchfarm-update: path " + path + "\n"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

}  // namespace
}  // namespace patchfarm
