// A worker-role client forges results, end to end: a real coordinator on
// loopback (gRPC), the publisher and the updater. A valid package from the
// job's old side to another tree is refused when completed without a lease
// and with one; a forged result that reached the coordinator's store anyway
// is refused at publish; a signed index whose package declares another tree
// is refused by the updater. Every install ends at the genuine release or
// stays where it was.
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "transfer/blob_transfer.h"
#include "common/ed25519.h"
#include "common/file.h"
#include "coordinator/server.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
#include "core/tree/tree_testing.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "proto/patchfarm/v1/state.pb.h"
#include "publisher/publisher.h"
#include "storage/rocksdb_store.h"
#include "updater/updater.h"

namespace patchfarm {
namespace {

const TreeSpec kV1 = {{"bin/game", {EntryType::kFile, 0755, "game code, version one"}},
                      {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
                      {"readme.txt", {EntryType::kFile, 0644, "welcome to 1.0"}}};
const TreeSpec kV2 = {{"bin/game", {EntryType::kFile, 0755, "game code, version two!"}},
                      {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
                      {"readme.txt", {EntryType::kFile, 0644, "welcome to 2.0"}}};
const TreeSpec kEvil = {{"bin/game", {EntryType::kFile, 0755, "malware"}},
                        {"data/level.pak", {EntryType::kFile, 0644, std::string(5000, 'L')}},
                        {"readme.txt", {EntryType::kFile, 0644, "welcome to 1.0"}}};

class ForgedResultTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = NewTempPath("forged");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    for (const auto& [name, spec] : {std::pair<std::string, TreeSpec>{"v1", kV1}, {"v2", kV2}, {"evil", kEvil}}) {
      ASSERT_TRUE(WriteTree(Dir(name), spec).ok());
    }
    auto keys = GenerateEd25519KeyPair();
    ASSERT_TRUE(keys.ok());
    keys_ = *keys;
    StartServer();
  }

  std::string Dir(const std::string& name) const { return root_ + "/" + name; }

  void StartServer() {
    server_.reset();
    ServerOptions options;
    options.plaintext = true;
    options.data_dir = Dir("farm");
    // Trees this small make patches nearly as large as the full package: no
    // size gate here, so that the cumulative package is published.
    options.coordinator.policy.max_patch_ratio = 1.0;
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    blobs_ = v1::BlobService::NewStub(channel);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  void Submit(const std::string& version, const std::string& dir) {
    Manifest manifest = ScanOrDie(dir);
    std::map<Digest, std::string> files;
    for (const ManifestEntry& e : manifest) {
      if (e.type == EntryType::kFile) files[e.digest] = JoinPath(dir, e.path);
    }
    ASSERT_TRUE(UploadMissing(blobs_.get(), files).ok());
    v1::SubmitRequest request;
    request.mutable_release()->set_product("game");
    request.mutable_release()->set_platform("linux-x64");
    request.mutable_release()->set_version(version);
    request.set_kind(v1::RELEASE_KIND_TREE);
    ToProto(manifest, request.mutable_manifest());
    grpc::ClientContext context;
    v1::SubmitResponse response;
    ASSERT_TRUE(coordinator_->Submit(&context, request, &response).ok());
  }

  // Makes and uploads the package from tree `from` to tree `to`; its digest.
  std::string UploadPackage(const std::string& from, const std::string& to) {
    std::string bytes;
    StringSink sink(&bytes);
    TreeDiffOptions options;
    options.delta.level = 3;
    EXPECT_TRUE(MakePackage(Dir(from), Dir(to), options, &sink).ok());
    const std::string path = Dir(from + "-to-" + to + ".pkg");
    EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
    Digest digest = Sha256Of(bytes);
    EXPECT_TRUE(UploadMissing(blobs_.get(), {{digest, path}}).ok());
    return DigestBytes(digest);
  }

  grpc::StatusCode Complete(const std::string& worker, const std::string& job_id, uint64_t lease,
                            const std::string& package) {
    v1::CompleteRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job_id);
    request.set_lease_id(lease);
    request.set_package_digest(package);
    grpc::ClientContext context;
    v1::CompleteResponse response;
    return workers_->Complete(&context, request, &response).error_code();
  }

  v1::ReleaseStatus Release(const std::string& version) {
    v1::StatusRequest request;
    request.set_product("game");
    grpc::ClientContext context;
    v1::StatusResponse response;
    EXPECT_TRUE(coordinator_->Status(&context, request, &response).ok());
    for (const v1::ReleaseStatus& r : response.releases()) {
      if (r.release().version() == version) return r;
    }
    ADD_FAILURE() << "no release " << version;
    return v1::ReleaseStatus();
  }

  absl::StatusOr<PublishReport> Publish() {
    PublishOptions options;
    options.coordinator = server_->address();
    options.product = "game";
    options.private_key_pem = keys_.private_pem;
    options.out_dir = Dir("site");
    return patchfarm::Publish(options);
  }

  absl::StatusOr<UpdateReport> Update(const std::string& install, std::string* log) {
    UpdateOptions options;
    options.index_url = "file://" + Dir("site") + "/game/stable/index.json";
    options.public_key_pem = keys_.public_pem;
    options.install_dir = install;
    options.platform = "linux-x64";
    options.log = [log](const std::string& line) { *log += line + "\n"; };
    return RunUpdate(options);
  }

  // The install's manifest without the updater's state.
  Digest InstallDigest(const std::string& install) { return ManifestDigest(ScanOrDie(install)); }

  std::string root_;
  KeyPair keys_;
  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(ForgedResultTest, ForgedResultsAreRefusedAndNothingElseIsInstalled) {
  // 1.0 is published and installed.
  Submit("1.0", Dir("v1"));
  ASSERT_TRUE(Publish().ok());
  const std::string install = Dir("install");
  std::string log;
  auto first = Update(install, &log);
  ASSERT_TRUE(first.ok()) << first.status() << log;
  ASSERT_EQ(InstallDigest(install), InstallDigest(Dir("v1")));
  ASSERT_EQ(std::system(("cp -a " + install + " " + Dir("install2")).c_str()), 0);

  // 2.0 is submitted; a worker-role client forges its job's result.
  Submit("2.0", Dir("v2"));
  const std::string job_id = Release("2.0").jobs(0).job_id();
  const std::string forged = UploadPackage("v1", "evil");
  EXPECT_EQ(Complete("mallory", job_id, 1, forged), grpc::StatusCode::FAILED_PRECONDITION);  // No lease.
  v1::AcquireRequest acquire;
  acquire.set_worker_id("mallory");
  acquire.set_max_jobs(1);
  grpc::ClientContext context;
  v1::AcquireResponse leased;
  ASSERT_TRUE(workers_->Acquire(&context, acquire, &leased).ok());
  ASSERT_EQ(leased.jobs_size(), 1);
  EXPECT_EQ(Complete("mallory", job_id, leased.jobs(0).lease_id(), forged),
            grpc::StatusCode::PERMISSION_DENIED);  // Leased, but another tree.
  EXPECT_EQ(Release("2.0").jobs(0).state(), v1::JOB_STATE_LEASED);

  // The honest result is accepted and installs 2.0 exactly.
  const std::string honest = UploadPackage("v1", "v2");
  ASSERT_EQ(Complete("mallory", job_id, leased.jobs(0).lease_id(), honest), grpc::StatusCode::OK);
  ASSERT_TRUE(Publish().ok());
  log.clear();
  auto second = Update(install, &log);
  ASSERT_TRUE(second.ok()) << second.status() << log;
  EXPECT_EQ(second->way, "cumulative");
  EXPECT_EQ(InstallDigest(install), InstallDigest(Dir("v2")));

  // A site whose signed index names a forged package (a compromised signer
  // of file digests, or a bug): the updater reads the package's declared
  // tree, refuses it and falls back to the full package.
  const std::string channel = Dir("site") + "/game/stable";
  auto json = ReadFileToString(channel + "/index.json");
  ASSERT_TRUE(json.ok());
  v1::UpdateIndex index;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(*json, &index).ok());
  auto forged_bytes = ReadFileToString(Dir("v1-to-evil.pkg"));
  ASSERT_TRUE(forged_bytes.ok());
  v1::SitePatch* cumulative = index.mutable_platforms(0)->mutable_patches(0);
  ASSERT_TRUE(cumulative->cumulative());
  // The files of the live site are those of its .published tree.
  ASSERT_TRUE(WriteFileAtomically(channel + "/" + cumulative->file().url(), *forged_bytes).ok());
  cumulative->mutable_file()->set_sha256(DigestToHex(Sha256Of(*forged_bytes)));
  cumulative->mutable_file()->set_size(forged_bytes->size());
  auto resign = [&](const v1::UpdateIndex& signed_index) {
    std::string out;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(signed_index, &out).ok());
    auto signature = SignEd25519(keys_.private_pem, out);
    ASSERT_TRUE(signature.ok());
    ASSERT_TRUE(WriteFileAtomically(channel + "/index.json", out).ok());
    ASSERT_TRUE(WriteFileAtomically(channel + "/index.json.sig", *signature).ok());
  };
  resign(index);
  log.clear();
  auto third = Update(Dir("install2"), &log);
  ASSERT_TRUE(third.ok()) << third.status() << log;
  EXPECT_NE(log.find("declares another tree"), std::string::npos) << log;
  EXPECT_EQ(third->way, "full");
  EXPECT_EQ(InstallDigest(Dir("install2")), InstallDigest(Dir("v2")));

  // Without the full package there is no honest way: the install stays 1.0.
  ASSERT_EQ(std::system(("rm -rf " + Dir("install2") + " && cp -a " + Dir("v1") + " " + Dir("install2") +
                         " && mkdir " + Dir("install2") + "/.patchfarm && cp " + Dir("install") +
                         "/.patchfarm/marker " + Dir("install2") + "/.patchfarm/ && sed -i " +
                         "'s/^version=.*/version=1.0/; /^manifest=/d' " + Dir("install2") + "/.patchfarm/marker")
                            .c_str()),
            0);
  index.mutable_platforms(0)->clear_releases();
  resign(index);
  log.clear();
  EXPECT_FALSE(Update(Dir("install2"), &log).ok()) << log;
  EXPECT_EQ(InstallDigest(Dir("install2")), InstallDigest(Dir("v1")));
}

TEST_F(ForgedResultTest, PublishRechecksWhatTheCoordinatorStored) {
  Submit("1.0", Dir("v1"));
  Submit("2.0", Dir("v2"));
  const std::string job_id = Release("2.0").jobs(0).job_id();
  const std::string forged = UploadPackage("v1", "evil");
  // A record written before results were checked, or by a tampered store.
  server_.reset();
  {
    auto store = RocksDbStore::Open(Dir("farm") + "/db");
    ASSERT_TRUE(store.ok()) << store.status();
    auto value = (*store)->Get("job/" + job_id);
    ASSERT_TRUE(value.ok() && value->has_value());
    v1::StoredJob job;
    ASSERT_TRUE(job.ParseFromString(**value));
    job.mutable_status()->set_state(v1::JOB_STATE_DONE);
    job.mutable_status()->set_package_digest(forged);
    ASSERT_TRUE((*store)->Write({{"job/" + job_id, job.SerializeAsString()}}, true).ok());
  }
  StartServer();
  auto published = Publish();
  ASSERT_FALSE(published.ok());
  EXPECT_EQ(published.status().code(), absl::StatusCode::kPermissionDenied) << published.status();
  struct stat st;
  EXPECT_NE(lstat((Dir("site") + "/game").c_str(), &st), 0) << "no site was switched in";
}

}  // namespace
}  // namespace patchfarm
