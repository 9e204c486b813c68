// Publishing per the product's policy (publisher/site_plan.h), against a real
// coordinator in-process (publisher_testing.h): chain links for the chain
// retention, cumulative packages for the window, older ones aged out; the
// size gate; a dry run that changes nothing on disk.
#include <sys/stat.h>

#include <map>
#include <set>
#include <string>

#include "publisher/publisher.h"
#include "tests/publisher_testing.h"

namespace patchfarm {
namespace {

class PublisherRetentionTest : public PublisherTest {
 protected:
  void SetPolicy(int window, int keep_chain, int keep_days, double ratio) {
    v1::PolicyRequest request;
    request.set_product("game");
    if (window > 0) request.set_cumulative_window(window);
    if (keep_chain > 0) request.set_keep_chain(keep_chain);
    if (keep_days >= 0) request.set_keep_days(keep_days);
    if (ratio > 0) request.set_max_patch_ratio(ratio);
    grpc::ClientContext context;
    v1::PolicyResponse response;
    grpc::Status status = coordinator_->SetPolicy(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // The channel's package and full-package files.
  std::set<std::string> Packages() {
    std::set<std::string> files = List(Channel());
    for (const char* meta : {"index.json", "index.json.sig", "version.ini", "download.html"}) {
      files.erase(meta);
    }
    return files;
  }

  static std::string Chain(int from, int to) {
    return absl::StrCat("chain_linux-x64_", from, ".0_to_", to, ".0");
  }
  static std::string From(int from, int to) {
    return absl::StrCat("from_linux-x64_", from, ".0_to_", to, ".0");
  }

  // Every path under `dir` (not following symlinks) with its type and
  // content or target.
  static std::map<std::string, std::string> Snapshot(const std::string& dir) {
    std::map<std::string, std::string> out;
    for (const std::string& name : List(dir)) {
      const std::string path = dir + "/" + name;
      struct stat st;
      if (lstat(path.c_str(), &st) != 0) continue;
      if (S_ISLNK(st.st_mode)) {
        char buf[4096];
        ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
        out[path] = "link " + std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
      } else if (S_ISDIR(st.st_mode)) {
        out[path] = absl::StrCat("dir ", st.st_mode & 07777);
        for (auto& [p, v] : Snapshot(path)) out[p] = v;
      } else {
        auto data = ReadFileToString(path);
        out[path] = absl::StrCat("file ", st.st_mode & 07777, " ", data.ok() ? *data : "?");
      }
    }
    return out;
  }
};

TEST_F(PublisherRetentionTest, ChainForTheLastKeepChainVersionsCumulativeForTheWindow) {
  SetPolicy(3, 10, 0, -1);
  for (int n = 1; n <= 16; ++n) {
    const std::string version = absl::StrCat(n, ".0");
    if (n > 4) MakeVersion(version, n);
    if (n == 16) break;
    SubmitAndComplete(version);
    if (n % 5 == 0) {  // 5.0.1-test, 10.0.1-test, 15.0.1-test: full downloads only.
      const std::string test_build = absl::StrCat(version, ".1-test");
      MakeVersion(test_build, 100 + n);
      Submit(test_build, Dir(test_build), /*intermediate=*/true);
    }
  }
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->gated.empty());
  std::set<std::string> expected = {From(12, 15), From(13, 15), From(14, 15), "full_linux-x64_15.0",
                                    "full_linux-x64_15.0.1-test"};
  for (int v = 5; v < 14; ++v) expected.insert(Chain(v, v + 1));  // 14 -> 15 is From(14, 15).
  EXPECT_EQ(Packages(), expected);
  v1::UpdateIndex index = LiveIndex();
  ASSERT_EQ(index.platforms_size(), 1);
  EXPECT_EQ(index.platforms(0).newest(), "15.0");
  for (const v1::SitePatch& patch : index.platforms(0).patches()) {
    EXPECT_EQ(patch.from_manifest_sha256(), Hex(patch.from_version())) << patch.file().url();
    EXPECT_EQ(patch.to_manifest_sha256(), Hex(patch.to_version())) << patch.file().url();
    EXPECT_EQ(DeclaredTree(patch.file().url()), patch.to_manifest_sha256());
    ExpectFile(patch.file());
  }
  // Every older version reaches 15.0: 5.0 and later by patches, older ones
  // by the full package.
  for (const UpdateSize& row : report->sizes) {
    EXPECT_TRUE(row.reachable) << row.version;
    EXPECT_EQ(row.newest, "15.0");
    if (row.intermediate || row.version == "1.0" || row.version == "4.0") {
      EXPECT_EQ(row.bytes, row.full_bytes) << row.version << ": " << row.path;
    } else if (row.version == "14.0") {
      EXPECT_EQ(row.packages, 1) << row.path;
      EXPECT_LT(row.bytes, row.full_bytes);
    }
  }

  // 16.0: the chain moves on a version, the window too; the rest ages out.
  SubmitAndComplete("16.0");
  ASSERT_TRUE(Publish().ok());
  expected = {From(13, 16), From(14, 16), From(15, 16), "full_linux-x64_16.0"};
  for (int v = 6; v < 15; ++v) expected.insert(Chain(v, v + 1));
  EXPECT_EQ(Packages(), expected);

  // The coordinator kept what the policy still uses and dropped the rest.
  grpc::ClientContext context;
  v1::StatusRequest request;
  request.set_product("game");
  v1::StatusResponse status;
  ASSERT_TRUE(coordinator_->Status(&context, request, &status).ok());
  for (const v1::ReleaseStatus& r : status.releases()) {
    const std::string& v = r.release().version();
    if (v == "2.0" || v == "3.0" || v == "5.0") {
      EXPECT_EQ(r.jobs_size(), 0) << v;
    }
    if (v == "7.0") {
      EXPECT_EQ(r.jobs_size(), 1) << "its chain link from 6.0";
    }
  }
}

TEST_F(PublisherRetentionTest, PackagesTooLargeNextToTheFullPackageAreNotPublished) {
  for (int n = 1; n <= 4; ++n) SubmitAndComplete(absl::StrCat(n, ".0"));
  // 5.0 rewrites the program: every patch into it is about as large as its
  // full package.
  TreeSpec rewritten = Release(5);
  std::mt19937_64 rng(99);
  for (char& c : rewritten["bin/game"].content) c = static_cast<char>(rng());
  ASSERT_TRUE(WriteTree(Dir("5.0"), rewritten).ok());
  trees_[DigestBytes(ManifestDigest(ScanOrDie(Dir("5.0"))))] = "5.0";
  SubmitAndComplete("5.0");
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  std::set<std::string> gated;
  for (const GatedPackage& g : report->gated) {
    gated.insert(g.name);
    EXPECT_EQ(g.to_version, "5.0");
    EXPECT_GT(static_cast<double>(g.bytes), 0.9 * static_cast<double>(g.full_bytes)) << g.name;
  }
  EXPECT_EQ(gated, (std::set<std::string>{From(3, 5), From(4, 5)}));
  EXPECT_EQ(Packages(), (std::set<std::string>{Chain(3, 4), "full_linux-x64_5.0"}));

  // A stricter gate keeps the chain link off too: only the full package is left.
  SetPolicy(-1, -1, -1, 0.0001);
  report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->gated.size(), 3u);
  EXPECT_EQ(Packages(), (std::set<std::string>{"full_linux-x64_5.0"}));
  for (const UpdateSize& row : report->sizes) {
    EXPECT_EQ(row.bytes, row.full_bytes) << row.version;
    EXPECT_EQ(row.packages, 1);
  }
}

TEST_F(PublisherRetentionTest, DryRunReportsTheChangesAndLeavesTheSiteAlone) {
  for (int n = 1; n <= 3; ++n) SubmitAndComplete(absl::StrCat(n, ".0"));
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  SubmitAndComplete("4.0");
  const std::map<std::string, std::string> before = Snapshot(Site());
  ASSERT_FALSE(before.empty());
  auto dry = Publish("", /*dry_run=*/true);
  ASSERT_TRUE(dry.ok()) << dry.status();
  EXPECT_EQ(Snapshot(Site()), before) << "the dry run changed the out directory";
  EXPECT_GT(dry->serial, first->serial);
  EXPECT_EQ(dry->files, 0);
  auto names = [](const std::vector<std::string>& list) {
    return std::set<std::string>(list.begin(), list.end());
  };
  // Window 2, chain 2: from 3.0 and 2.0, the chain 2.0 -> 3.0. The
  // packages to 3.0 go: a name never comes to hold other bytes.
  EXPECT_EQ(names(dry->added),
            (std::set<std::string>{"stable/" + From(3, 4), "stable/" + From(2, 4),
                                   "stable/" + Chain(2, 3), "stable/full_linux-x64_4.0"}));
  EXPECT_TRUE(dry->replaced.empty());
  EXPECT_TRUE(dry->kept.empty());
  EXPECT_EQ(names(dry->removed),
            (std::set<std::string>{"stable/" + From(1, 3), "stable/" + From(2, 3),
                                   "stable/" + Chain(1, 2), "stable/full_linux-x64_3.0"}));
  ASSERT_EQ(dry->indexes.size(), 1u);
  ASSERT_EQ(dry->sizes.size(), 3u);
  EXPECT_EQ(dry->sizes[0].version, "1.0");
  EXPECT_EQ(dry->sizes[0].bytes, dry->sizes[0].full_bytes);  // No package from 1.0 any more.
  EXPECT_EQ(dry->sizes[2].version, "3.0");
  EXPECT_EQ(dry->sizes[2].packages, 1);

  // The publish then does what the dry run said, byte for byte.
  auto real = Publish();
  ASSERT_TRUE(real.ok()) << real.status();
  std::set<std::string> published;
  for (const std::string& name : Packages()) published.insert("stable/" + name);
  std::set<std::string> said = names(dry->added);
  for (const std::string& name : dry->replaced) said.insert(name);
  EXPECT_EQ(published, said);
  v1::UpdateIndex live = LiveIndex();
  v1::UpdateIndex planned = dry->indexes[0];
  planned.set_serial(live.serial());
  planned.set_published(live.published());
  planned.set_expires(live.expires());
  EXPECT_EQ(planned.SerializeAsString(), live.SerializeAsString())
      << planned.DebugString() << "\nvs\n" << live.DebugString();
  ASSERT_EQ(real->sizes.size(), dry->sizes.size());
  for (size_t i = 0; i < real->sizes.size(); ++i) EXPECT_EQ(real->sizes[i].bytes, dry->sizes[i].bytes);

  // Nothing left to change: everything is kept.
  auto again = Publish("", /*dry_run=*/true);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->added.empty() && again->replaced.empty() && again->removed.empty());
  EXPECT_EQ(names(again->kept), said);
}

}  // namespace
}  // namespace patchfarm
