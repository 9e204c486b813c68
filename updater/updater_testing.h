// The updater tests' fixture (updater_test.cc, updater_paths_test.cc): an
// install, release trees and packages made by the test, and a site it writes
// and signs itself (file:// URLs), with a fake clock.
#ifndef PATCHFARM_UPDATER_UPDATER_TESTING_H_
#define PATCHFARM_UPDATER_UPDATER_TESTING_H_

#include "updater/updater.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "common/directory.h"
#include "common/ed25519.h"
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


inline const TreeSpec kV1 = {
    {"bin/game", {EntryType::kFile, 0755, "game code, version one"}},
    {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
    {"readme.txt", {EntryType::kFile, 0644, "welcome to 1.0"}}};
inline const TreeSpec kV2 = {
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

  absl::StatusOr<UpdateReport> Update(bool check_only = false) {
    UpdateOptions options;
    options.check_only = check_only;
    options.index_url = "file://" + Dir("site") + "/index.json";
    options.public_key_pem = keys_.public_pem;
    options.install_dir = Install();
    options.platform = "linux-x64";
    options.product = product_;
    options.channel = channel_;
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

  // The install at 1.0 with readme.txt replaced by a hotfix of 1.0 (index
  // serial 150).
  void InstallV1WithReadmeReplaced() {
    InstallV1();
    v1::UpdateIndex index = Index("1.0", 150);
    AddReplacement(&index, "1.0", "readme.txt", "welcome to 1.0", "welcome to 1.0, hotfixed");
    Sign(index);
    auto report = Update();
    ASSERT_TRUE(report.ok()) << report.status() << log_;
    ASSERT_NE(ReadInstallMarker().Get("replaced"), "");
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
  std::string product_, channel_;  // Update()'s --product and --channel.
  FakeClock clock_{absl::Now()};
};

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_UPDATER_TESTING_H_
