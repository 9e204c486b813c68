// Publish against a real coordinator in-process (gRPC on loopback). No
// workers: the test acquires the jobs and completes them with real packages
// itself. Covers the signed index and the digests it names, the atomic
// switch and what is kept of older sites, the policy window, and the refusals.
#include "publisher/publisher.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/blob_transfer.h"
#include "common/ed25519.h"
#include "common/file.h"
#include "coordinator/server.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
#include "core/tree/tree_testing.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {
namespace {

// Version n's tree: a shared large file, and files that change each version.
TreeSpec Release(int n) {
  return {{"bin/game", {EntryType::kFile, 0755, absl::StrCat("game code, version ", n)}},
          {"data/level.pak",
           {EntryType::kFile, 0644, std::string(4000, 'L') + std::to_string(n)}},
          {"readme.txt", {EntryType::kFile, 0644, absl::StrCat("welcome to ", n, ".0")}}};
}

class PublisherTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = NewTempPath("publisher");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    for (int n = 1; n <= 4; ++n) {
      const std::string version = absl::StrCat(n, ".0");
      ASSERT_TRUE(WriteTree(Dir(version), Release(n)).ok());
      trees_[DigestBytes(ManifestDigest(ScanOrDie(Dir(version))))] = version;
    }
    auto keys = GenerateEd25519KeyPair();
    ASSERT_TRUE(keys.ok());
    keys_ = *keys;
    ServerOptions options;
    options.plaintext = true;
    options.data_dir = Dir("farm");
    options.coordinator.policy.cumulative_window = 2;
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel =
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    blobs_ = v1::BlobService::NewStub(channel);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  std::string Dir(const std::string& name) const { return root_ + "/" + name; }
  std::string Site() const { return Dir("site"); }
  std::string Channel() const { return Site() + "/game/stable"; }
  std::string Hex(const std::string& version) {
    return DigestToHex(ManifestDigest(ScanOrDie(Dir(version))));
  }

  void Upload(const std::string& dir) {
    std::map<Digest, std::string> files;
    for (const ManifestEntry& e : ScanOrDie(dir)) {
      if (e.type == EntryType::kFile) files[e.digest] = JoinPath(dir, e.path);
    }
    ASSERT_TRUE(UploadMissing(blobs_.get(), files).ok());
  }

  void Submit(const std::string& version, const std::string& dir,
              bool intermediate = false, v1::ReleaseKind kind = v1::RELEASE_KIND_TREE) {
    Upload(dir);
    v1::SubmitRequest request;
    request.mutable_release()->set_product("game");
    request.mutable_release()->set_platform("linux-x64");
    request.mutable_release()->set_version(version);
    request.set_intermediate(intermediate);
    request.set_kind(kind);
    ToProto(ScanOrDie(dir), request.mutable_manifest());
    grpc::ClientContext context;
    v1::SubmitResponse response;
    grpc::Status status = coordinator_->Submit(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Does the work of the farm: every queued job is leased and completed with
  // the real package between its trees.
  void CompleteJobs() {
    for (;;) {
      v1::AcquireRequest acquire;
      acquire.set_worker_id("test-worker");
      acquire.set_max_jobs(8);
      grpc::ClientContext context;
      v1::AcquireResponse leased;
      grpc::Status status = workers_->Acquire(&context, acquire, &leased);
      ASSERT_TRUE(status.ok()) << status.error_message();
      if (leased.jobs_size() == 0) return;
      for (const v1::Job& job : leased.jobs()) {
        ASSERT_EQ(trees_.count(job.old_manifest_digest()), 1u);
        ASSERT_EQ(trees_.count(job.new_manifest_digest()), 1u);
        const std::string from = trees_[job.old_manifest_digest()];
        const std::string to = trees_[job.new_manifest_digest()];
        std::string bytes;
        StringSink sink(&bytes);
        TreeDiffOptions options;
        options.delta.level = 3;
        ASSERT_TRUE(MakePackage(Dir(from), Dir(to), options, &sink).ok());
        const std::string path = Dir(from + "-to-" + to + ".pkg");
        ASSERT_TRUE(WriteFileAtomically(path, bytes).ok());
        const Digest digest = Sha256Of(bytes);
        ASSERT_TRUE(UploadMissing(blobs_.get(), {{digest, path}}).ok());
        v1::CompleteRequest complete;
        complete.set_worker_id("test-worker");
        complete.set_job_id(job.job_id());
        complete.set_lease_id(job.lease_id());
        complete.set_package_digest(DigestBytes(digest));
        complete.set_package_size(bytes.size());
        grpc::ClientContext complete_context;
        v1::CompleteResponse response;
        status = workers_->Complete(&complete_context, complete, &response);
        ASSERT_TRUE(status.ok()) << status.error_message();
      }
    }
  }

  void SubmitAndComplete(const std::string& version) {
    Submit(version, Dir(version));
    CompleteJobs();
  }

  absl::StatusOr<PublishReport> Publish(const std::string& private_pem = "") {
    PublishOptions options;
    options.coordinator = server_->address();
    options.product = "game";
    options.private_key_pem = private_pem.empty() ? keys_.private_pem : private_pem;
    options.out_dir = Site();
    options.motd = "have fun";
    return patchfarm::Publish(options);
  }

  // The live index, after checking its signature.
  v1::UpdateIndex LiveIndex() {
    v1::UpdateIndex index;
    auto json = ReadFileToString(Channel() + "/index.json");
    auto signature = ReadFileToString(Channel() + "/index.json.sig");
    EXPECT_TRUE(json.ok() && signature.ok());
    if (!json.ok() || !signature.ok()) return index;
    EXPECT_TRUE(VerifyEd25519(keys_.public_pem, *json, *signature).ok());
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &index).ok());
    return index;
  }

  static std::set<std::string> List(const std::string& dir) {
    std::set<std::string> names;
    if (DIR* d = opendir(dir.c_str())) {
      while (struct dirent* e = readdir(d)) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.insert(name);
      }
      closedir(d);
    }
    return names;
  }

  std::string LiveTarget() {
    char buf[4096];
    ssize_t n = readlink((Site() + "/game").c_str(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
  }

  // Checks that the site's `file` holds what the index says.
  void ExpectFile(const v1::SiteFile& file) {
    auto bytes = ReadFileToString(Channel() + "/" + file.url());
    ASSERT_TRUE(bytes.ok()) << file.url() << ": " << bytes.status();
    EXPECT_EQ(bytes->size(), file.size()) << file.url();
    EXPECT_EQ(DigestToHex(Sha256Of(*bytes)), file.sha256()) << file.url();
  }

  // The manifest digest (hex) of the tree the site's package `url` makes.
  std::string DeclaredTree(const std::string& url) {
    auto source = FileSource::Open(Channel() + "/" + url);
    if (!source.ok()) return source.status().ToString();
    auto package = ReadPackage(**source);
    if (!package.ok()) return package.status().ToString();
    return DigestToHex(package->table.new_manifest_digest);
  }

  std::string root_;
  std::map<std::string, std::string> trees_;  // Manifest digest (bytes) -> version.
  KeyPair keys_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(PublisherTest, IndexVerifiesAndNamesEveryDigest) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  SubmitAndComplete("3.0");
  Submit("4.0", Dir("4.0"), /*intermediate=*/true);  // A test build: full package only.
  {
    Upload(Dir("1.0"));
    v1::HotfixRequest request;
    request.mutable_release()->set_product("game");
    request.mutable_release()->set_platform("linux-x64");
    request.mutable_release()->set_version("3.0");
    ToProto(Manifest{ScanOrDie(Dir("1.0")).back()},
            request.mutable_files());  // readme.txt
    grpc::ClientContext context;
    v1::HotfixResponse response;
    grpc::Status status = coordinator_->AddHotfix(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  auto report = Publish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->channels, 1);
  EXPECT_EQ(report->site, Site() + "/game");

  auto json = ReadFileToString(Channel() + "/index.json");
  auto signature = ReadFileToString(Channel() + "/index.json.sig");
  ASSERT_TRUE(json.ok() && signature.ok());
  EXPECT_EQ(signature->size(), 64u);
  EXPECT_TRUE(VerifyEd25519(keys_.public_pem, *json, *signature).ok());
  auto other = GenerateEd25519KeyPair();
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(VerifyEd25519(other->public_pem, *json, *signature).ok());

  v1::UpdateIndex index = LiveIndex();
  EXPECT_EQ(index.format(), 1u);
  EXPECT_EQ(index.product(), "game");
  EXPECT_EQ(index.channel(), "stable");
  EXPECT_EQ(index.serial(), report->serial);
  EXPECT_EQ(index.expires() - index.published(), 30 * 86400);
  EXPECT_EQ(index.motd(), "have fun");
  ASSERT_EQ(index.platforms_size(), 1);
  const v1::SitePlatform& p = index.platforms(0);
  EXPECT_EQ(p.platform(), "linux-x64");
  EXPECT_EQ(p.newest(), "3.0");
  EXPECT_EQ(p.newest_manifest_sha256(), Hex("3.0"));

  ASSERT_EQ(p.releases_size(), 2);
  EXPECT_EQ(p.releases(0).version(), "3.0");
  EXPECT_FALSE(p.releases(0).intermediate());
  EXPECT_EQ(p.releases(1).version(), "4.0");
  EXPECT_TRUE(p.releases(1).intermediate());
  for (const v1::SiteRelease& r : p.releases()) {
    EXPECT_EQ(r.manifest_sha256(), Hex(r.version()));
    EXPECT_EQ(r.full().url(), "full_linux-x64_" + r.version());
    ExpectFile(r.full());
    EXPECT_EQ(DeclaredTree(r.full().url()), Hex(r.version()));
  }

  std::map<std::string, const v1::SitePatch*> patches;
  for (const v1::SitePatch& patch : p.patches()) patches[patch.file().url()] = &patch;
  ASSERT_EQ(patches.size(), 3u);
  ASSERT_EQ(patches.count("from_linux-x64_1.0"), 1u);
  ASSERT_EQ(patches.count("from_linux-x64_2.0"), 1u);
  ASSERT_EQ(patches.count("chain_linux-x64_1.0_to_2.0"), 1u);
  EXPECT_TRUE(patches["from_linux-x64_1.0"]->cumulative());
  EXPECT_FALSE(patches["chain_linux-x64_1.0_to_2.0"]->cumulative());
  for (const auto& [url, patch] : patches) {
    EXPECT_EQ(patch->from_manifest_sha256(), Hex(patch->from_version())) << url;
    EXPECT_EQ(patch->to_manifest_sha256(), Hex(patch->to_version())) << url;
    EXPECT_EQ(patch->to_version(), patch->cumulative() ? "3.0" : "2.0") << url;
    ExpectFile(patch->file());
    EXPECT_EQ(DeclaredTree(url), patch->to_manifest_sha256()) << url;
  }

  ASSERT_EQ(p.hotfixes_size(), 1);
  EXPECT_EQ(p.hotfixes(0).version(), "3.0");
  ASSERT_EQ(p.hotfixes(0).files_size(), 1);
  EXPECT_EQ(p.hotfixes(0).files(0).name(), "readme.txt");
  ExpectFile(p.hotfixes(0).files(0).file());

  auto ini = ReadFileToString(Channel() + "/version.ini");
  ASSERT_TRUE(ini.ok());
  EXPECT_EQ(*ini, "[game]\nVersion=3.0\nMOTD=have fun\n");
  auto html = ReadFileToString(Channel() + "/download.html");
  ASSERT_TRUE(html.ok());
  EXPECT_NE(html->find("href=\"full_linux-x64_3.0\""), std::string::npos) << *html;
  EXPECT_NE(html->find("(test build)"), std::string::npos) << *html;
}

TEST_F(PublisherTest, SecondPublishSwitchesTheSymlinkAndKeepsOnlyThePrevious) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string first_tree = absl::StrCat("game.", first->serial);
  EXPECT_EQ(LiveTarget(), ".published/" + first_tree);

  auto second = Publish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_GT(second->serial, first->serial);
  const std::string second_tree = absl::StrCat("game.", second->serial);
  struct stat st;
  ASSERT_EQ(lstat((Site() + "/game").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(LiveTarget(), ".published/" + second_tree);
  EXPECT_EQ(LiveIndex().serial(), second->serial);
  // The previous tree stays whole for readers still fetching from it.
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{first_tree, second_tree}));
  auto old_index =
      ReadFileToString(Site() + "/.published/" + first_tree + "/stable/index.json");
  ASSERT_TRUE(old_index.ok());
  EXPECT_NE(old_index->find(absl::StrCat("\"", first->serial, "\"")), std::string::npos);
  EXPECT_EQ(List(Site()), (std::set<std::string>{".cache", ".published", "game"}));

  auto third = Publish();
  ASSERT_TRUE(third.ok()) << third.status();
  const std::string third_tree = absl::StrCat("game.", third->serial);
  EXPECT_EQ(LiveTarget(), ".published/" + third_tree);
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{second_tree, third_tree}));
}

TEST_F(PublisherTest, TheTreeLiveBeforeIsKeptNotTheHighestSerial) {
  SubmitAndComplete("1.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::string first_tree = absl::StrCat("game.", first->serial);
  // Trees that never went live (a publish that died before its switch), one
  // with a higher serial and one whose name sorts after the others.
  for (const std::string& orphan :
       {absl::StrCat("game.", first->serial + 1000000), std::string("game.99")}) {
    ASSERT_EQ(mkdir((Site() + "/.published/" + orphan).c_str(), 0755), 0);
  }
  auto second = Publish();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(List(Site() + "/.published"),
            (std::set<std::string>{first_tree, absl::StrCat("game.", second->serial)}));
}

TEST_F(PublisherTest, FilesThatLeftTheWindowAreGone) {
  SubmitAndComplete("1.0");
  SubmitAndComplete("2.0");
  SubmitAndComplete("3.0");
  ASSERT_TRUE(Publish().ok());
  const std::set<std::string> meta = {"index.json", "index.json.sig", "version.ini",
                                      "download.html"};
  std::set<std::string> expected = meta;
  expected.insert({"from_linux-x64_1.0", "from_linux-x64_2.0",
                   "chain_linux-x64_1.0_to_2.0", "full_linux-x64_3.0"});
  EXPECT_EQ(List(Channel()), expected);

  // With a window of 2, 4.0 has no package from 1.0.
  SubmitAndComplete("4.0");
  ASSERT_TRUE(Publish().ok());
  expected = meta;
  expected.insert({"from_linux-x64_2.0", "from_linux-x64_3.0",
                   "chain_linux-x64_2.0_to_3.0", "full_linux-x64_4.0"});
  EXPECT_EQ(List(Channel()), expected);
  v1::UpdateIndex index = LiveIndex();
  ASSERT_EQ(index.platforms_size(), 1);
  EXPECT_EQ(index.platforms(0).newest(), "4.0");
  for (const v1::SitePatch& patch : index.platforms(0).patches()) {
    EXPECT_NE(patch.from_version(), "1.0") << patch.file().url();
  }
}

TEST_F(PublisherTest, NoFinishedFormalReleaseIsFailedPrecondition) {
  auto nothing = Publish();  // Nothing submitted.
  ASSERT_FALSE(nothing.ok());
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kFailedPrecondition)
      << nothing.status();

  Submit("1.0", Dir("1.0"), /*intermediate=*/true);  // A test build only.
  ASSERT_TRUE(
      WriteTree(Dir("file-release"), {{"tool.bin", {EntryType::kFile, 0755, "one file"}}})
          .ok());
  Submit("0.5", Dir("file-release"), /*intermediate=*/false,
         v1::RELEASE_KIND_FILE);  // Not published.
  auto refused = Publish();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition)
      << refused.status();
  struct stat st;
  EXPECT_NE(lstat((Site() + "/game").c_str(), &st), 0) << "no site was switched in";
  EXPECT_TRUE(List(Site() + "/.published").empty());
}

TEST_F(PublisherTest, FailedPublishLeavesTheLiveSiteAndNoTree) {
  SubmitAndComplete("1.0");
  auto first = Publish();
  ASSERT_TRUE(first.ok()) << first.status();
  const std::set<std::string> before = List(Site() + "/.published");
  SubmitAndComplete("2.0");
  auto failed = Publish("not a key");  // Fails at signing, after the tree was built.
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInvalidArgument)
      << failed.status();
  EXPECT_EQ(LiveTarget(), absl::StrCat(".published/game.", first->serial));
  EXPECT_EQ(LiveIndex().platforms(0).newest(), "1.0");
  EXPECT_EQ(List(Site() + "/.published"), before) << "a .partial tree was left behind";
}

}  // namespace
}  // namespace patchfarm
