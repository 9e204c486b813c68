// RunUpdate against a site the test writes and signs itself (file:// URLs):
// the index checks (signature, expiry, serial, product, hotfix names), the
// directories the updater refuses to write through, self_update=false, the
// marker after an update, and the cheapest path over several releases (two
// packages, a corrupt package, a step failing after another committed).
#include "updater/updater.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "common/directory.h"
#include "common/ed25519.h"
#include "absl/time/clock.h"
#include "common/fake_clock.h"
#include "common/file.h"
#include "common/sha256.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
#include "core/tree/tree_testing.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "updater/marker.h"

namespace patchfarm {
namespace {

const TreeSpec kV1 = {
    {"bin/game", {EntryType::kFile, 0755, "game code, version one"}},
    {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
    {"readme.txt", {EntryType::kFile, 0644, "welcome to 1.0"}}};
const TreeSpec kV2 = {
    {"bin/game", {EntryType::kFile, 0755, "game code, version two!"}},
    {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
    {"readme.txt", {EntryType::kFile, 0644, "welcome to 2.0"}}};

class UpdaterTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = NewTempPath("updater");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(Dir("empty").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(Dir("site").c_str(), 0755), 0);
    ASSERT_TRUE(WriteTree(Dir("v1"), kV1).ok());
    ASSERT_TRUE(WriteTree(Dir("v2"), kV2).ok());
    auto keys = GenerateEd25519KeyPair();
    ASSERT_TRUE(keys.ok());
    keys_ = *keys;
    full1_ = AddPackage("full_linux-x64_1.0", "empty", "v1");
    full2_ = AddPackage("full_linux-x64_2.0", "empty", "v2");
    from1_ = AddPackage("from_linux-x64_1.0", "v1", "v2");
    hotfix_ = AddSiteFile("hotfix_linux-x64_2.0_fix.txt", "the hotfix");
  }

  std::string Dir(const std::string& name) const { return root_ + "/" + name; }
  std::string Install() const { return Dir("install"); }
  std::string Hex(const std::string& tree) {
    return DigestToHex(ManifestDigest(ScanOrDie(Dir(tree))));
  }

  v1::SiteFile AddSiteFile(const std::string& name, const std::string& bytes) {
    EXPECT_TRUE(WriteFileAtomically(Dir("site") + "/" + name, bytes).ok());
    v1::SiteFile file;
    file.set_url(name);
    file.set_size(bytes.size());
    file.set_sha256(DigestToHex(Sha256Of(bytes)));
    return file;
  }

  v1::SiteFile AddPackage(const std::string& name, const std::string& from,
                          const std::string& to) {
    std::string bytes;
    StringSink sink(&bytes);
    TreeDiffOptions options;
    options.delta.level = 3;
    EXPECT_TRUE(MakePackage(Dir(from), Dir(to), options, &sink).ok());
    return AddSiteFile(name, bytes);
  }

  // The index a publisher would sign with `newest` ("1.0" or "2.0") the newest.
  v1::UpdateIndex Index(const std::string& newest, uint64_t serial) {
    v1::UpdateIndex index;
    index.set_format(1);
    index.set_product("game");
    index.set_channel("stable");
    index.set_serial(serial);
    const int64_t now = absl::ToUnixSeconds(clock_.Now());
    index.set_published(now);
    index.set_expires(now + 86400);
    v1::SitePlatform* p = index.add_platforms();
    p->set_platform("linux-x64");
    p->set_newest(newest);
    const std::string tree = newest == "1.0" ? "v1" : "v2";
    p->set_newest_manifest_sha256(Hex(tree));
    v1::SiteRelease* release = p->add_releases();
    release->set_version(newest);
    release->set_manifest_sha256(Hex(tree));
    *release->mutable_full() = newest == "1.0" ? full1_ : full2_;
    if (newest == "2.0") {
      v1::SitePatch* patch = p->add_patches();
      patch->set_from_version("1.0");
      patch->set_to_version("2.0");
      patch->set_cumulative(true);
      patch->set_from_manifest_sha256(Hex("v1"));
      patch->set_to_manifest_sha256(Hex("v2"));
      *patch->mutable_file() = from1_;
    }
    return index;
  }

  void AddHotfix(v1::UpdateIndex* index, const std::string& version,
                 const std::string& name) {
    v1::SiteHotfix* hotfix = index->mutable_platforms(0)->add_hotfixes();
    hotfix->set_version(version);
    v1::SiteHotfixFile* file = hotfix->add_files();
    file->set_name(name);
    file->set_mode(0644);
    *file->mutable_file() = hotfix_;
  }

  // A hotfix of `version` replacing the tree's `path` (whose content in the
  // release is `original`) with `content`.
  void AddReplacement(v1::UpdateIndex* index, const std::string& version, const std::string& path,
                      const std::string& original, const std::string& content) {
    v1::SiteHotfix* hotfix = index->mutable_platforms(0)->add_hotfixes();
    hotfix->set_version(version);
    v1::SiteHotfixReplacement* replaced = hotfix->add_replacements();
    replaced->set_path(path);
    replaced->set_original_sha256(DigestToHex(Sha256Of(original)));
    replaced->set_mode(0644);
    *replaced->mutable_file() =
        AddSiteFile("hotfix_linux-x64_" + version + "_replace-" + std::to_string(content.size()),
                    content);
  }

  void Sign(const v1::UpdateIndex& index, const std::string& private_pem) {
    std::string json;
    google::protobuf::util::JsonPrintOptions print;
    print.preserve_proto_field_names = true;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(index, &json, print).ok());
    auto signature = SignEd25519(private_pem, json);
    ASSERT_TRUE(signature.ok());
    ASSERT_TRUE(WriteFileAtomically(Dir("site") + "/index.json", json).ok());
    ASSERT_TRUE(WriteFileAtomically(Dir("site") + "/index.json.sig", *signature).ok());
  }
  void Sign(const v1::UpdateIndex& index) { Sign(index, keys_.private_pem); }

  absl::StatusOr<UpdateReport> Update() {
    UpdateOptions options;
    options.index_url = "file://" + Dir("site") + "/index.json";
    options.public_key_pem = keys_.public_pem;
    options.install_dir = Install();
    options.platform = "linux-x64";
    options.clock = &clock_;
    log_.clear();
    options.log = [this](const std::string& line) { log_ += line + "\n"; };
    return RunUpdate(options);
  }

  // A signed-index skeleton whose newest version `newest` has the tree `tree`.
  v1::UpdateIndex NewIndex(const std::string& newest, const std::string& tree, uint64_t serial) {
    v1::UpdateIndex index;
    index.set_format(1);
    index.set_product("game");
    index.set_channel("stable");
    index.set_serial(serial);
    const int64_t now = absl::ToUnixSeconds(clock_.Now());
    index.set_published(now);
    index.set_expires(now + 86400);
    v1::SitePlatform* p = index.add_platforms();
    p->set_platform("linux-x64");
    p->set_newest(newest);
    p->set_newest_manifest_sha256(Hex(tree));
    return index;
  }

  void AddRelease(v1::UpdateIndex* index, const std::string& version, const std::string& tree,
                  const v1::SiteFile& full) {
    v1::SiteRelease* release = index->mutable_platforms(0)->add_releases();
    release->set_version(version);
    release->set_manifest_sha256(Hex(tree));
    *release->mutable_full() = full;
  }

  void AddPatchEntry(v1::UpdateIndex* index, const std::string& from, const std::string& from_tree,
                     const std::string& to, const std::string& to_tree, bool cumulative,
                     const v1::SiteFile& file) {
    v1::SitePatch* patch = index->mutable_platforms(0)->add_patches();
    patch->set_from_version(from);
    patch->set_to_version(to);
    patch->set_cumulative(cumulative);
    patch->set_from_manifest_sha256(Hex(from_tree));
    patch->set_to_manifest_sha256(Hex(to_tree));
    *patch->mutable_file() = file;
  }

  // Release n.0 of a game whose level data (incompressible) never changes,
  // so that patches are small and full packages large: each version changes
  // the code and the readme; 3.0 drops old.txt and adds data/extra.txt.
  static TreeSpec Release(int n) {
    std::mt19937_64 rng(7);
    std::string level(30000, '\0');
    for (char& c : level) c = static_cast<char>(rng());
    std::string code;
    for (int i = 0; i < 200; ++i) code += "routine " + std::to_string(i * n) + ";\n";
    TreeSpec spec = {
        {"bin/game", {EntryType::kFile, 0755, code}},
        {"data/level.pak", {EntryType::kFile, 0644, level}},
        {"readme.txt", {EntryType::kFile, 0644, "welcome to " + std::to_string(n) + ".0"}}};
    if (n < 3) spec["old.txt"] = {EntryType::kFile, 0644, "from the old days"};
    if (n >= 3) spec["data/extra.txt"] = {EntryType::kFile, 0644, "an extra level"};
    return spec;
  }

  // Releases 1.0 to 4.0 in trees r1 to r4 and their packages on the site,
  // as a publisher whose window holds 2.0 and 3.0 leaves them: chain links
  // 1.0 -> 2.0 -> 3.0, cumulative packages from 2.0 and 3.0, the full 4.0;
  // and the install at 1.0 (installed from full_linux-x64_1.0, serial 100).
  void InstallFirstOfFourReleases() {
    for (int n = 1; n <= 4; ++n) {
      ASSERT_TRUE(WriteTree(Dir("r" + std::to_string(n)), Release(n)).ok());
    }
    link12_ = AddPackage("chain_linux-x64_1.0_to_2.0", "r1", "r2");
    link23_ = AddPackage("chain_linux-x64_2.0_to_3.0", "r2", "r3");
    from2_ = AddPackage("from_linux-x64_2.0", "r2", "r4");
    from3_ = AddPackage("from_linux-x64_3.0", "r3", "r4");
    full4_ = AddPackage("full_linux-x64_4.0", "empty", "r4");
    v1::UpdateIndex first = NewIndex("1.0", "r1", 100);
    AddRelease(&first, "1.0", "r1", AddPackage("full_linux-x64_1.0", "empty", "r1"));
    Sign(first);
    auto report = Update();
    ASSERT_TRUE(report.ok()) << report.status() << log_;
    ASSERT_EQ(DigestToHex(ManifestDigest(ScanOrDie(Install()))), Hex("r1"));
  }

  // The index of serial 200 naming every package of the four releases.
  v1::UpdateIndex FourReleasesIndex() {
    v1::UpdateIndex index = NewIndex("4.0", "r4", 200);
    AddRelease(&index, "4.0", "r4", full4_);
    AddPatchEntry(&index, "1.0", "r1", "2.0", "r2", false, link12_);
    AddPatchEntry(&index, "2.0", "r2", "3.0", "r3", false, link23_);
    AddPatchEntry(&index, "2.0", "r2", "4.0", "r4", true, from2_);
    AddPatchEntry(&index, "3.0", "r3", "4.0", "r4", true, from3_);
    return index;
  }

  // The whole install (without .patchfarm) as a hex manifest digest.
  std::string WholeInstall() { return DigestToHex(ManifestDigest(ScanOrDie(Install()))); }

  // The install at 1.0, updated from nothing by an index of serial 100.
  void InstallV1() {
    Sign(Index("1.0", 100));
    auto report = Update();
    ASSERT_TRUE(report.ok()) << report.status() << log_;
    ASSERT_EQ(report->way, "full");
    ASSERT_EQ(InstallTree("v1"), Hex("v1"));
  }

  // The install's entries at the paths of tree `tree`, as a hex manifest
  // digest (its other entries, such as hotfix/, are not looked at).
  std::string InstallTree(const std::string& tree) {
    std::vector<std::string> paths;
    for (const ManifestEntry& e : ScanOrDie(Dir(tree))) paths.push_back(e.path);
    auto installed = ScanPaths(Install(), paths);
    if (!installed.ok()) return installed.status().ToString();
    return DigestToHex(ManifestDigest(*installed));
  }

  Marker ReadInstallMarker() {
    auto marker = ReadMarker(Install() + "/.patchfarm/marker");
    EXPECT_TRUE(marker.ok()) << marker.status();
    return marker.ok() ? *marker : Marker();
  }

  // The names in directory `dir` (not "." and "..").
  static std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
      while (struct dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(name);
      }
      closedir(d);
    }
    return names;
  }

  std::string root_;
  KeyPair keys_;
  v1::SiteFile full1_, full2_, from1_, hotfix_;
  v1::SiteFile link12_, link23_, from2_, from3_, full4_;  // InstallFirstOfFourReleases.
  std::string log_;
  FakeClock clock_{absl::Now()};
};

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
  v1::UpdateIndex index = Index("2.0", 200);
  AddHotfix(&index, "2.0", "fix.txt");
  Sign(index);
  auto report = Update();
  ASSERT_FALSE(report.ok()) << log_;
  EXPECT_EQ(report.status().code(), absl::StatusCode::kFailedPrecondition)
      << report.status();
  EXPECT_TRUE(List(Dir("elsewhere")).empty()) << "written through the symlink";
  // The tree was switched before the hotfixes: the marker says so.
  EXPECT_NE(log_.find("by the cumulative way"), std::string::npos) << log_;
  EXPECT_EQ(InstallTree("v2"), Hex("v2"));
  Marker marker = ReadInstallMarker();
  EXPECT_EQ(marker.Get("version"), "2.0");
  EXPECT_EQ(marker.Get("manifest"), Hex("v2"));
  EXPECT_EQ(marker.Get("hotfixes"), "");
  // Still refused on the next run, still nothing written there.
  EXPECT_FALSE(Update().ok());
  EXPECT_TRUE(List(Dir("elsewhere")).empty());
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
