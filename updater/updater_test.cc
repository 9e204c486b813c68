// RunUpdate against a site the test writes and signs itself
// (updater_testing.h): the index checks (signature, expiry, serial, product,
// hotfix names), the directories the updater refuses to write through,
// replaced-file hotfixes, self_update=false and the marker after an update.
#include <sys/stat.h>

#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "gtest/gtest.h"
#include "updater/updater_testing.h"

namespace patchfarm {
namespace {

TEST_F(UpdaterTest, MarkerNamesTheNewVersionAndManifestAfterAnUpdate) {
  InstallV1();
  Marker first = ReadInstallMarker();
  EXPECT_EQ(first.Get("product"), "game");
  EXPECT_EQ(first.Get("channel"), "stable");
  EXPECT_EQ(first.Get("platform"), "linux-x64");
  EXPECT_EQ(first.Get("version"), "1.0");
  EXPECT_EQ(first.Get("manifest"), Hex("v1"));
  EXPECT_EQ(first.Get("serial"), "100");
  EXPECT_EQ(first.Get("self_update"), "true");

  v1::UpdateIndex index = Index("2.0", 200);
  AddHotfix(&index, "2.0", "fix.txt");
  Sign(index);
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_TRUE(report->updated);
  EXPECT_EQ(report->installed, "1.0");
  EXPECT_EQ(report->newest, "2.0");
  EXPECT_EQ(report->way, "cumulative");
  EXPECT_EQ(report->download_bytes, from1_.size());
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  Marker second = ReadInstallMarker();
  EXPECT_EQ(second.Get("version"), "2.0");
  EXPECT_EQ(second.Get("manifest"), Hex("v2"));
  EXPECT_EQ(second.Get("serial"), "200");
  EXPECT_EQ(second.Get("hotfixes"), "fix.txt:" + hotfix_.sha256());
  auto fix = ReadFileToString(Install() + "/hotfix/fix.txt");
  ASSERT_TRUE(fix.ok()) << fix.status();
  EXPECT_EQ(*fix, "the hotfix");
  EXPECT_TRUE(List(Install() + "/.patchfarm/downloads").empty());

  // Up to date: nothing is downloaded; the marker keeps the manifest.
  report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_FALSE(report->updated);
  EXPECT_EQ(report->way, "");
  EXPECT_NE(log_.find("up to date"), std::string::npos) << log_;
  EXPECT_EQ(ReadInstallMarker().fields, second.fields);
}

TEST_F(UpdaterTest, ExpiredIndexRefused) {
  Sign(Index("1.0", 100));  // Valid for a day.
  clock_.Advance(absl::Hours(24) + absl::Seconds(1));
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_NE(log_.find("index rejected: expired"), std::string::npos) << log_;
  struct stat st;
  EXPECT_NE(lstat(Install().c_str(), &st), 0) << "nothing was installed";
}

TEST_F(UpdaterTest, ReplayedIndexRefused) {
  InstallV1();
  Sign(Index("2.0", 99));  // Signed, but older than the 100 already accepted.
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_NE(log_.find("serial 99 is older than 100"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
  EXPECT_EQ(ReadInstallMarker().Get("serial"), "100");
}

TEST_F(UpdaterTest, WrongProductOrChannelRefused) {
  InstallV1();
  for (const char* field : {"product", "channel"}) {
    v1::UpdateIndex index = Index("2.0", 200);
    if (std::string(field) == "product") {
      index.set_product("other");
    } else {
      index.set_channel("beta");
    }
    Sign(index);
    auto report = Update();
    ASSERT_FALSE(report.ok()) << field;
    EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
        << report.status();
    EXPECT_NE(report.status().message().find(field), absl::string_view::npos)
        << report.status();
    EXPECT_EQ(InstallTree("v1"), Hex("v1"));
    EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0");
  }
}

// The options name the product and channel: an index for others is refused
// on a fresh install too, before anything is written.
TEST_F(UpdaterTest, ProductAndChannelOfTheOptionsAreChecked) {
  product_ = "game";
  channel_ = "beta";
  Sign(Index("1.0", 100));  // game, stable.
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
  EXPECT_NE(report.status().message().find("channel"), absl::string_view::npos) << report.status();
  struct stat st;
  EXPECT_NE(lstat(Install().c_str(), &st), 0) << "nothing was written";
  channel_ = "stable";
  report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
}

// An index that passed its checks is accepted even when no package can be
// downloaded: the older one can no longer be replayed to hide the release.
TEST_F(UpdaterTest, AnAcceptedSerialIsKeptWhenTheDownloadsFail) {
  InstallV1();
  for (const v1::SiteFile& f : {from1_, full2_}) {
    ASSERT_EQ(unlink((Dir("site") + "/" + f.url()).c_str()), 0);
  }
  Sign(Index("2.0", 200));
  EXPECT_FALSE(Update().ok());
  EXPECT_EQ(ReadInstallMarker().Get("serial"), "200");
  EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0");
  Sign(Index("1.0", 150));
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_NE(log_.find("serial 150 is older than 200"), std::string::npos) << log_;
}

TEST_F(UpdaterTest, BadSignatureRefused) {
  // Signed by another key.
  auto other = GenerateEd25519KeyPair();
  ASSERT_TRUE(other.ok());
  Sign(Index("1.0", 100), other->private_pem);
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied)
      << report.status();
  EXPECT_NE(log_.find("index rejected"), std::string::npos) << log_;
  EXPECT_NE(log_.find("fetching the index and its signature again"), std::string::npos) << log_;
  // Signed by the right key, then changed by one byte.
  Sign(Index("1.0", 100));
  auto json = ReadFileToString(Dir("site") + "/index.json");
  ASSERT_TRUE(json.ok());
  std::string changed = *json;
  changed.replace(changed.find("\"100\""), 5, "\"900\"");
  ASSERT_TRUE(WriteFileAtomically(Dir("site") + "/index.json", changed).ok());
  report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kPermissionDenied)
      << report.status();
  struct stat st;
  EXPECT_NE(lstat(Install().c_str(), &st), 0) << "nothing was installed";
}

TEST_F(UpdaterTest, SymlinkedDownloadsDirectoryRefused) {
  InstallV1();
  ASSERT_EQ(mkdir(Dir("elsewhere").c_str(), 0755), 0);
  ASSERT_EQ(
      symlink(Dir("elsewhere").c_str(), (Install() + "/.patchfarm/downloads").c_str()),
      0);
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_NE(log_.find("not a real directory"), std::string::npos) << log_;
  EXPECT_TRUE(List(Dir("elsewhere")).empty()) << "written through the symlink";
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
  EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0");
}

TEST_F(UpdaterTest, SymlinkedStateDirectoryRefused) {
  InstallV1();
  // .patchfarm moved elsewhere and replaced by a symlink to it.
  ASSERT_EQ(rename((Install() + "/.patchfarm").c_str(), Dir("state").c_str()), 0);
  ASSERT_EQ(symlink(Dir("state").c_str(), (Install() + "/.patchfarm").c_str()), 0);
  const std::vector<std::string> before = List(Dir("state"));
  auto marker_before = ReadFileToString(Dir("state") + "/marker");
  ASSERT_TRUE(marker_before.ok());
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_EQ(List(Dir("state")), before) << "written through the symlink";
  EXPECT_EQ(*ReadFileToString(Dir("state") + "/marker"), *marker_before);
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
}

TEST_F(UpdaterTest, SymlinkedHotfixDirectoryRefused) {
  InstallV1();
  ASSERT_EQ(mkdir(Dir("elsewhere").c_str(), 0755), 0);
  ASSERT_EQ(symlink(Dir("elsewhere").c_str(), (Install() + "/hotfix").c_str()), 0);
  // Named as a temporary file, but not the install's: never removed.
  ASSERT_TRUE(WriteFileAtomically(Dir("elsewhere") + "/notes.txt.tmp-a1b2c3", "mine").ok());
  v1::UpdateIndex index = Index("2.0", 200);
  AddHotfix(&index, "2.0", "fix.txt");
  Sign(index);
  auto report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_EQ(List(Dir("elsewhere")), std::vector<std::string>{"notes.txt.tmp-a1b2c3"})
      << "written through the symlink";
  // The tree was switched before the hotfixes: the marker says so.
  EXPECT_NE(log_.find("by the cumulative way"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  Marker marker = ReadInstallMarker();
  EXPECT_EQ(marker.Get("version"), "2.0");
  EXPECT_EQ(marker.Get("manifest"), Hex("v2"));
  EXPECT_EQ(marker.Get("hotfixes"), "");
  // Still refused on the next run, still nothing written there.
  EXPECT_FALSE(Update().ok());
  EXPECT_EQ(List(Dir("elsewhere")), std::vector<std::string>{"notes.txt.tmp-a1b2c3"});
}

TEST_F(UpdaterTest, BadHotfixNameRefusedBeforeAnythingChanges) {
  InstallV1();
  for (const char* name : {"../x", ".patchfarm", "..", "a/b", "", ".hidden", "a:b"}) {
    v1::UpdateIndex index = Index("2.0", 200);
    AddHotfix(&index, "2.0", name);
    Sign(index);
    auto report = Update();
    ASSERT_FALSE(report.ok()) << name;
    EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss)
        << name << ": " << report.status();
    EXPECT_NE(log_.find("index rejected"), std::string::npos) << log_;
    EXPECT_EQ(InstallTree("v1"), Hex("v1")) << name;
    EXPECT_EQ(ReadInstallMarker().Get("version"), "1.0") << name;
  }
  struct stat st;
  EXPECT_NE(lstat(Dir("x").c_str(), &st), 0) << "written outside the install";
  EXPECT_NE(lstat((Install() + "/x").c_str(), &st), 0);
  // A hotfix for another version is checked too: the whole index is bad.
  v1::UpdateIndex index = Index("2.0", 200);
  AddHotfix(&index, "1.0", "../x");
  Sign(index);
  EXPECT_FALSE(Update().ok());
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
}

TEST_F(UpdaterTest, ReplacedFileIsInstalledRestoredAndTheNextUpdateApplies) {
  InstallV1();
  v1::UpdateIndex index = Index("1.0", 150);
  AddReplacement(&index, "1.0", "readme.txt", "welcome to 1.0", "welcome to 1.0, hotfixed");
  Sign(index);
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_FALSE(report->updated);
  EXPECT_EQ(*ReadFileToString(Install() + "/readme.txt"), "welcome to 1.0, hotfixed");
  EXPECT_NE(log_.find("hotfix replaced 'readme.txt' for 1.0"), std::string::npos) << log_;
  EXPECT_EQ(List(Install() + "/.patchfarm/replaced").size(), 1u);
  EXPECT_NE(ReadInstallMarker().Get("replaced"), "");

  // Again: nothing to do.
  log_.clear();
  ASSERT_TRUE(Update().ok()) << log_;
  EXPECT_EQ(log_.find("hotfix"), std::string::npos) << log_;
  EXPECT_EQ(*ReadFileToString(Install() + "/readme.txt"), "welcome to 1.0, hotfixed");

  // The next update: the original is restored first, so the package (made
  // from the release's tree) applies, and the install is 2.0 exactly.
  Sign(Index("2.0", 200));
  report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_TRUE(report->updated);
  const size_t restored = log_.find("hotfix restored 'readme.txt'");
  EXPECT_NE(restored, std::string::npos) << log_;
  EXPECT_LT(restored, log_.find("updated to 2.0")) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  EXPECT_EQ(ReadInstallMarker().Get("replaced"), "");
  EXPECT_TRUE(List(Install() + "/.patchfarm/replaced").empty());
}

TEST_F(UpdaterTest, ReplacementOfAnotherFileOrOutsideTheTreeChangesNothing) {
  InstallV1();
  // The install's file is not the one the hotfix replaces.
  v1::UpdateIndex index = Index("1.0", 150);
  AddReplacement(&index, "1.0", "readme.txt", "some other readme", "evil");
  Sign(index);
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition) << report.status();
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
  // Paths out of the tree refuse the index before anything changes.
  for (const char* path : {"../x", ".patchfarm/marker", "/etc/passwd", "a//b", ""}) {
    v1::UpdateIndex bad = Index("1.0", 160);
    AddReplacement(&bad, "1.0", path, "x", "evil");
    Sign(bad);
    report = Update();
    ASSERT_FALSE(report.ok()) << path;
    EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss) << path << report.status();
    EXPECT_EQ(InstallTree("v1"), Hex("v1")) << path;
  }
  // A directory on the way that is a symlink out of the install.
  ASSERT_EQ(mkdir(Dir("outside").c_str(), 0755), 0);
  ASSERT_TRUE(WriteFileAtomically(Dir("outside") + "/level.pak", std::string(5000, 'L')).ok());
  ASSERT_TRUE(RemoveTree(Install() + "/data").ok());
  ASSERT_EQ(symlink(Dir("outside").c_str(), (Install() + "/data").c_str()), 0);
  index = Index("1.0", 170);
  AddReplacement(&index, "1.0", "data/level.pak", std::string(5000, 'L'), "evil");
  Sign(index);
  EXPECT_FALSE(Update().ok());
  EXPECT_EQ(*ReadFileToString(Dir("outside") + "/level.pak"), std::string(5000, 'L'));
}

TEST_F(UpdaterTest, SelfUpdateFalseStops) {
  InstallV1();
  Marker marker = ReadInstallMarker();
  marker.fields["self_update"] = "false";
  auto encoded = EncodeMarker(marker);
  ASSERT_TRUE(encoded.ok());
  ASSERT_TRUE(WriteFileAtomically(Install() + "/.patchfarm/marker", *encoded).ok());
  Sign(Index("2.0", 200));
  // The updater takes no lock of an install it leaves alone (a package
  // manager's, which a user may not write): one held elsewhere is no error.
  auto held = DefaultFileSystem()->LockFile(Install() + "/.patchfarm/update.lock");
  ASSERT_TRUE(held.ok());
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_FALSE(report->updated);
  EXPECT_EQ(report->way, "");
  EXPECT_NE(log_.find("self-update is disabled"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
  EXPECT_EQ(ReadInstallMarker().fields, marker.fields);
}

TEST_F(UpdaterTest, InstallWithAnOutsideSymlinkIsNotTakenForEmpty) {
  // A user's symlink out of the install makes the tree unscannable; the
  // marker's version still counts, so the small cumulative package is used.
  InstallV1();
  ASSERT_EQ(symlink("/tmp", (Install() + "/my-link").c_str()), 0);
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(report->installed, "1.0");
  EXPECT_EQ(report->way, "cumulative");
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  struct stat st;
  EXPECT_EQ(lstat((Install() + "/my-link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

// Bytes kept from an interrupted download that are not the package's (the
// file was replaced on the mirror, a proxy's error page): the resumed
// download fails its check, and the package is downloaded once more from
// its first byte, not given up for the full package.
TEST_F(UpdaterTest, AResumedDownloadOfOtherBytesStartsOver) {
  InstallV1();
  const std::string downloads = Install() + "/.patchfarm/downloads";
  mkdir(downloads.c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomically(downloads + "/" + from1_.sha256() + ".part", "<html>").ok());
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(report->way, "cumulative") << log_;
  EXPECT_NE(log_.find("downloading from the start"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

// What a crash leaves between a switch and the marker's record of it: the
// marker names the step as pending, and the package is in downloads/.
// `applied`: whether the switch had happened (and committed) before.
void CrashMidStep(const std::string& install, const std::string& site,
                  const v1::SiteFile& package_file, const std::string& to_manifest, bool applied) {
  const std::string downloads = install + "/.patchfarm/downloads";
  mkdir(downloads.c_str(), 0755);
  const std::string kept = downloads + "/" + package_file.sha256();
  ASSERT_TRUE(CopyFileAtomically(site + "/" + package_file.url(), kept, 0644).ok());
  if (applied) {
    auto source = FileSource::Open(kept);
    ASSERT_TRUE(source.ok());
    auto package = ReadPackage(**source);
    ASSERT_TRUE(package.ok());
    ASSERT_TRUE(ApplyInPlace(install, {{package_file.url(), source->get(), &*package}}).ok());
  }
  auto marker = ReadMarker(install + "/.patchfarm/marker");
  ASSERT_TRUE(marker.ok());
  marker->fields["pending_version"] = "2.0";
  marker->fields["pending_manifest"] = to_manifest;
  marker->fields["pending_package"] = package_file.sha256();
  auto encoded = EncodeMarker(*marker);
  ASSERT_TRUE(encoded.ok());
  ASSERT_TRUE(WriteFileAtomically(install + "/.patchfarm/marker", *encoded).ok());
}

// A switch committed, then the run died before the marker said so: the next
// run finds the install at 2.0 (up to date), instead of trying the packages
// from 1.0 and falling back to the full package.
TEST_F(UpdaterTest, ASwitchCommittedBeforeACrashIsRecordedByTheNextRun) {
  InstallV1();
  CrashMidStep(Install(), Dir("site"), from1_, Hex("v2"), /*applied=*/true);
  Sign(Index("2.0", 200));
  // --check reports the install as it is, and writes nothing.
  const Marker before = ReadInstallMarker();
  auto checked = Update(/*check_only=*/true);
  ASSERT_TRUE(checked.ok()) << checked.status() << log_;
  EXPECT_EQ(checked->installed, "2.0");
  EXPECT_EQ(checked->way, "");
  EXPECT_EQ(ReadInstallMarker().fields, before.fields);
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(report->installed, "2.0") << log_;
  EXPECT_FALSE(report->updated);
  EXPECT_NE(log_.find("switch to 2.0 had committed"), std::string::npos) << log_;
  Marker marker = ReadInstallMarker();
  EXPECT_EQ(marker.Get("version"), "2.0");
  EXPECT_EQ(marker.Get("manifest"), Hex("v2"));
  EXPECT_EQ(marker.Get("pending_manifest"), "");
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

// The run died before the switch: the install is still 1.0 and is updated.
TEST_F(UpdaterTest, ASwitchThatNeverHappenedIsForgotten) {
  InstallV1();
  CrashMidStep(Install(), Dir("site"), from1_, Hex("v2"), /*applied=*/false);
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(report->installed, "1.0");
  EXPECT_EQ(report->way, "cumulative");
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  EXPECT_EQ(ReadInstallMarker().Get("pending_manifest"), "");
}

TEST_F(UpdaterTest, OneRunAtATime) {
  InstallV1();
  auto held = DefaultFileSystem()->LockFile(Install() + "/.patchfarm/update.lock");
  ASSERT_TRUE(held.ok());
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(report.status().message().find("another update"), std::string::npos) << report.status();
  EXPECT_EQ(InstallTree("v1"), Hex("v1"));
  held->reset();
  EXPECT_TRUE(Update().ok()) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

TEST_F(UpdaterTest, AReplacedFileTheUserRemovedIsRestoredAndTheUpdateApplies) {
  InstallV1WithReadmeReplaced();
  ASSERT_EQ(unlink((Install() + "/readme.txt").c_str()), 0);
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(report->way, "cumulative") << log_;
  EXPECT_NE(log_.find("hotfix restored 'readme.txt'"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

TEST_F(UpdaterTest, ALostOriginalOfAReplacedFileDoesNotBlockUpdates) {
  InstallV1WithReadmeReplaced();
  for (const std::string& name : List(Install() + "/.patchfarm/replaced")) {
    ASSERT_EQ(unlink((Install() + "/.patchfarm/replaced/" + name).c_str()), 0);
  }
  Sign(Index("2.0", 200));
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_NE(log_.find("hotfix cannot restore 'readme.txt'"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  EXPECT_EQ(ReadInstallMarker().Get("replaced"), "");
}

// No package can be downloaded (offline): the replaced file stays replaced.
TEST_F(UpdaterTest, AnUpdateThatCannotDownloadLeavesReplacedFilesReplaced) {
  InstallV1WithReadmeReplaced();
  const std::string replaced = ReadInstallMarker().Get("replaced");
  for (const v1::SiteFile& f : {from1_, full2_}) {
    ASSERT_EQ(unlink((Dir("site") + "/" + f.url()).c_str()), 0);
  }
  Sign(Index("2.0", 200));
  EXPECT_FALSE(Update().ok());
  EXPECT_EQ(*ReadFileToString(Install() + "/readme.txt"), "welcome to 1.0, hotfixed");
  EXPECT_EQ(ReadInstallMarker().Get("replaced"), replaced);
}

// Every package was downloaded, the originals restored, and every apply
// failed (the user changed bin/game; no full package): the install is 1.0
// again with its hotfix, as the index still publishes it.
TEST_F(UpdaterTest, AnUpdateWhoseAppliesFailKeepsItsReplacements) {
  InstallV1WithReadmeReplaced();
  ASSERT_TRUE(WriteFileAtomically(Install() + "/bin/game", "changed by the user").ok());
  ASSERT_EQ(unlink((Dir("site") + "/" + full2_.url()).c_str()), 0);
  v1::UpdateIndex index = Index("2.0", 200);
  AddReplacement(&index, "1.0", "readme.txt", "welcome to 1.0", "welcome to 1.0, hotfixed");
  Sign(index);
  EXPECT_FALSE(Update().ok());
  EXPECT_NE(log_.find("hotfix restored 'readme.txt'"), std::string::npos) << log_;
  EXPECT_EQ(*ReadFileToString(Install() + "/readme.txt"), "welcome to 1.0, hotfixed") << log_;
  EXPECT_NE(ReadInstallMarker().Get("replaced"), "");
}

// A hotfix name may hold bytes that mean something in a URL.
TEST_F(UpdaterTest, AHotfixNamedWithURLBytesDownloads) {
  InstallV1();
  v1::UpdateIndex index = Index("1.0", 150);
  v1::SiteHotfix* hotfix = index.mutable_platforms(0)->add_hotfixes();
  hotfix->set_version("1.0");
  v1::SiteHotfixFile* file = hotfix->add_files();
  file->set_name("fix #1 100%?.txt");
  file->set_mode(0644);
  *file->mutable_file() = AddSiteFile("hotfix_linux-x64_1.0_fix #1 100%?.txt", "the fix");
  Sign(index);
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  EXPECT_EQ(*ReadFileToString(Install() + "/hotfix/fix #1 100%?.txt"), "the fix");
}

// A run killed while it wrote the marker or a hotfix leaves a temporary
// file; the next run removes it (a game may load every file of hotfix/).
TEST_F(UpdaterTest, TemporaryFilesOfAKilledRunAreRemoved) {
  InstallV1();
  ASSERT_EQ(mkdir((Install() + "/hotfix").c_str(), 0755), 0);
  const std::vector<std::string> left = {Install() + "/.patchfarm/marker.tmp-Ab3dE9",
                                         Install() + "/hotfix/fix.txt.tmp-x1Y2z3"};
  for (const std::string& path : left) ASSERT_TRUE(WriteFileAtomically(path, "half").ok());
  ASSERT_TRUE(WriteFileAtomically(Install() + "/hotfix/mine.tmp-notours", "kept").ok());
  Sign(Index("2.0", 200));
  ASSERT_TRUE(Update().ok()) << log_;
  struct stat st;
  for (const std::string& path : left) EXPECT_NE(lstat(path.c_str(), &st), 0) << path;
  EXPECT_EQ(lstat((Install() + "/hotfix/mine.tmp-notours").c_str(), &st), 0);
}

// A run killed while it copied a replaced file into place (or its original
// back) leaves the copy beside it; the next run removes it, and only it.
TEST_F(UpdaterTest, TemporaryCopiesBesideReplacedFilesAreRemoved) {
  InstallV1WithReadmeReplaced();
  const std::string copy = Install() + "/readme.txt.tmp-Ab3dE9";
  const std::string users = Install() + "/notes.txt.tmp-Ab3dE9";
  for (const std::string& path : {copy, users}) ASSERT_TRUE(WriteFileAtomically(path, "x").ok());
  Sign(Index("2.0", 200));
  ASSERT_TRUE(Update().ok()) << log_;
  struct stat st;
  EXPECT_NE(lstat(copy.c_str(), &st), 0);
  EXPECT_EQ(lstat(users.c_str(), &st), 0) << "not beside a replaced file: the user's";
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
}

// Downloads of files the index no longer names (a cut download of a package
// since dropped) are removed; those it names are kept for resuming.
TEST_F(UpdaterTest, DownloadsOfFilesNoLongerNamedAreRemoved) {
  InstallV1();
  const std::string dir = Install() + "/.patchfarm/downloads";
  ASSERT_TRUE(MakeDirectories(Install(), ".patchfarm/downloads").ok());
  const std::string gone = dir + "/" + std::string(64, 'a') + ".part";
  const std::string named = dir + "/" + from1_.sha256() + ".part";
  for (const std::string& path : {gone, named}) ASSERT_TRUE(WriteFileAtomically(path, "x").ok());
  v1::UpdateIndex index = Index("1.0", 150);
  AddPatchEntry(&index, "1.0", "v1", "2.0", "v2", true, from1_);  // Named, not taken.
  Sign(index);
  auto report = Update();
  ASSERT_TRUE(report.ok()) << report.status() << log_;
  struct stat st;
  EXPECT_NE(lstat(gone.c_str(), &st), 0);
  EXPECT_EQ(lstat(named.c_str(), &st), 0);
}

}  // namespace
}  // namespace patchfarm
