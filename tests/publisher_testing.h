// The publisher test harness: a real coordinator in-process (gRPC on
// loopback) and no workers: the test acquires the jobs and completes them
// with real packages itself. Shared by publisher_test.cc and
// publisher_retention_test.cc. For tests only.
#ifndef PATCHFARM_TESTS_PUBLISHER_TESTING_H_
#define PATCHFARM_TESTS_PUBLISHER_TESTING_H_

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "transfer/blob_transfer.h"
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
#include "publisher/publisher.h"

namespace patchfarm {

// Version n's tree: a program of incompressible bytes that changes a little
// each version (so that patches are far smaller than the full package), a
// large file and a readme.
inline TreeSpec Release(int n) {
  std::mt19937_64 rng(7);
  std::string code(20000, '\0');
  for (char& c : code) c = static_cast<char>(rng());
  for (int v = 1; v <= n; ++v) code.replace(static_cast<size_t>(v * 997 % 19000), 12, absl::StrCat("version ", v, "!!!!").substr(0, 12));
  return {{"bin/game", {EntryType::kFile, 0755, code}},
          {"data/level.pak",
           {EntryType::kFile, 0644, std::string(4000, 'L') + std::to_string(n)}},
          {"readme.txt", {EntryType::kFile, 0644, absl::StrCat("welcome to ", n, ".0")}}};
}

class PublisherTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = NewTempPath("publisher");
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    for (int n = 1; n <= 4; ++n) MakeVersion(absl::StrCat(n, ".0"), n);
    auto keys = GenerateEd25519KeyPair();
    ASSERT_TRUE(keys.ok());
    keys_ = *keys;
    ServerOptions options;
    options.plaintext = true;
    options.data_dir = Dir("farm");
    options.coordinator.policy.cumulative_window = 2;
    options.coordinator.policy.keep_chain = 2;
    options.coordinator.policy.keep_days = 0;
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto channel =
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    blobs_ = v1::BlobService::NewStub(channel);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  // Writes Release(n) as `version`'s tree.
  void MakeVersion(const std::string& version, int n) {
    ASSERT_TRUE(WriteTree(Dir(version), Release(n)).ok());
    trees_[DigestBytes(ManifestDigest(ScanOrDie(Dir(version))))] = version;
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
        if (tamper_) tamper_(from, to, &bytes);
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

  absl::StatusOr<PublishReport> Publish(const std::string& private_pem = "",
                                        bool dry_run = false, uint64_t max_memory = 0,
                                        absl::Duration cache_grace = absl::Hours(24),
                                        bool wait_for_others = true) {
    PublishOptions options;
    options.wait_for_others = wait_for_others;
    options.dry_run = dry_run;
    options.max_memory = max_memory;
    options.cache_grace = cache_grace;
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
  // If set, CompleteJobs hands in what it makes of each package instead (a
  // broken or hostile worker's result).
  std::function<void(const std::string& from, const std::string& to, std::string* package)>
      tamper_;
  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_TESTS_PUBLISHER_TESTING_H_
