// The coordinator's retention (coordinator.h, coordinator_retention.cc): the
// policy fields stored and validated, submit times, chained patches planned
// where missing, and results dropped from the blob store once no policy keeps
// them, never while anything names their blob. File releases, an in-memory
// store, fake clocks.
#include <fcntl.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "common/fake_clock.h"
#include "common/file.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_keys.h"
#include "core/delta/diff.h"
#include "gtest/gtest.h"
#include "storage/memory_store.h"

namespace patchfarm {
namespace {

class CoordinatorRetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    auto blobs = BlobStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/blobs" +
                                 std::to_string(n++));
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
    Reopen();
  }

  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions options;
    options.policy.cumulative_window = 3;
    options.log = [this](const std::string& line) { events_ += line + "\n"; };
    auto c = Coordinator::Create(&store_, blobs_.get(), &clock_, options);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = std::move(*c);
  }

  std::string Content(const std::string& version) {
    return "game binary " + version + " " + std::string(2000, 'x') + version;
  }

  v1::SubmitRequest FileRelease(const std::string& version, const std::string& content,
                                const std::string& platform = "linux-x64") {
    auto digest = blobs_->Put(content);
    EXPECT_TRUE(digest.ok());
    v1::SubmitRequest r;
    r.mutable_release()->set_product("game");
    r.mutable_release()->set_platform(platform);
    r.mutable_release()->set_version(version);
    r.set_kind(v1::RELEASE_KIND_FILE);
    v1::ManifestEntry* e = r.add_manifest();
    e->set_path("game.bin");
    e->set_type(1);
    e->set_mode(0755);
    e->set_size(content.size());
    e->set_digest(DigestBytes(*digest));
    return r;
  }

  void Submit(const std::string& version, const std::string& platform = "linux-x64") {
    auto r = coordinator_->Submit(FileRelease(version, Content(version), platform));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::string Blob(const std::string& raw_digest) {
    Digest digest{};
    EXPECT_TRUE(ParseDigest(raw_digest, &digest).ok());
    auto path = blobs_->PathOf(digest);
    if (!path.ok()) return "";
    auto data = ReadFileToString(*path);
    return data.ok() ? *data : "";
  }

  bool HasBlob(const std::string& raw_digest) {
    Digest digest{};
    return ParseDigest(raw_digest, &digest).ok() && blobs_->Has(digest);
  }

  // Leases and completes every queued job with its true patch.
  void CompleteAll() {
    for (;;) {
      v1::AcquireRequest request;
      request.set_worker_id("w");
      request.set_max_jobs(16);
      auto leased = coordinator_->Acquire(request);
      ASSERT_TRUE(leased.ok());
      if (leased->jobs_size() == 0) return;
      for (const v1::Job& job : leased->jobs()) {
        DiffOptions options;
        options.level = 1;
        auto patch = Diff(Blob(job.old_manifest(0).digest()), Blob(job.new_manifest(0).digest()), options);
        ASSERT_TRUE(patch.ok());
        auto digest = blobs_->Put(*patch);
        ASSERT_TRUE(digest.ok());
        v1::CompleteRequest complete;
        complete.set_worker_id("w");
        complete.set_job_id(job.job_id());
        complete.set_lease_id(job.lease_id());
        complete.set_package_digest(DigestBytes(*digest));
        ASSERT_TRUE(coordinator_->Complete(complete).ok());
      }
    }
  }

  absl::StatusOr<v1::PolicyResponse> SetPolicy(int window, int keep_chain, int keep_days) {
    v1::PolicyRequest request;
    request.set_product("game");
    if (window > 0) request.set_cumulative_window(window);
    if (keep_chain > 0) request.set_keep_chain(keep_chain);
    if (keep_days >= 0) request.set_keep_days(keep_days);
    return coordinator_->SetPolicy(request);
  }

  const v1::ReleaseStatus* Release(const v1::StatusResponse& status, const std::string& version) {
    for (const v1::ReleaseStatus& r : status.releases()) {
      if (r.release().version() == version) return &r;
    }
    ADD_FAILURE() << "no release " << version;
    return nullptr;
  }

  // Every done job's "from->to" and package digest.
  std::map<std::string, std::string> DoneJobs() {
    std::map<std::string, std::string> jobs;
    const v1::StatusResponse status = coordinator_->Status("game");
    for (const v1::ReleaseStatus& r : status.releases()) {
      for (const auto* list : {&r.jobs(), &r.chain_jobs()}) {
        for (const v1::JobStatus& j : *list) {
          if (j.state() == v1::JOB_STATE_DONE) {
            jobs[j.from_version() + "->" + j.to_version()] = j.package_digest();
          }
        }
      }
    }
    return jobs;
  }

  FakeClock clock_;
  MemoryStore store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string events_;
};

TEST_F(CoordinatorRetentionTest, PolicyFieldsAreStoredValidatedAndSurviveARestart) {
  auto policy = SetPolicy(0, 5, -1);  // Only keep-chain.
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->cumulative_window(), 3u);  // The coordinator's default.
  EXPECT_EQ(policy->keep_chain(), 5u);
  EXPECT_EQ(policy->keep_days(), 365u);
  EXPECT_DOUBLE_EQ(policy->max_patch_ratio(), 0.9);

  v1::PolicyRequest request;
  request.set_product("game");
  request.set_keep_days(0);
  request.set_max_patch_ratio(0.5);
  ASSERT_TRUE(coordinator_->SetPolicy(request).ok());
  for (auto bad : std::vector<std::function<void(v1::PolicyRequest*)>>{
           [](v1::PolicyRequest* r) { r->set_cumulative_window(0); },
           [](v1::PolicyRequest* r) { r->set_cumulative_window(1001); },
           [](v1::PolicyRequest* r) { r->set_keep_chain(0); },
           [](v1::PolicyRequest* r) { r->set_keep_chain(100001); },
           [](v1::PolicyRequest* r) { r->set_keep_days(36501); },
           [](v1::PolicyRequest* r) { r->set_max_patch_ratio(0); },
           [](v1::PolicyRequest* r) { r->set_max_patch_ratio(1.5); },
           [](v1::PolicyRequest* r) { r->set_max_patch_ratio(std::nan("")); },
       }) {
    v1::PolicyRequest r;
    r.set_product("game");
    bad(&r);
    EXPECT_EQ(coordinator_->SetPolicy(r).status().code(), absl::StatusCode::kInvalidArgument)
        << r.DebugString();
  }
  v1::PolicyRequest bounds;
  bounds.set_product("game");
  bounds.set_cumulative_window(1000);
  bounds.set_keep_chain(100000);
  bounds.set_keep_days(36500);
  bounds.set_max_patch_ratio(1);
  ASSERT_TRUE(coordinator_->SetPolicy(bounds).ok());
  bounds.set_cumulative_window(2);
  bounds.set_keep_chain(5);
  bounds.clear_keep_days();  // Keeps 36500.
  bounds.set_max_patch_ratio(0.5);
  ASSERT_TRUE(coordinator_->SetPolicy(bounds).ok());

  Reopen();
  const v1::StatusResponse status = coordinator_->Status("game");
  EXPECT_EQ(status.policy().cumulative_window(), 2u);
  EXPECT_EQ(status.policy().keep_chain(), 5u);
  EXPECT_EQ(status.policy().keep_days(), 36500u);
  EXPECT_DOUBLE_EQ(status.policy().max_patch_ratio(), 0.5);
  v1::PolicyRequest ask;  // Nothing set: the policy in effect, unchanged.
  ask.set_product("game");
  auto asked = coordinator_->SetPolicy(ask);
  ASSERT_TRUE(asked.ok());
  EXPECT_EQ(asked->keep_chain(), 5u);
  // Another product has the coordinator's defaults.
  EXPECT_EQ(coordinator_->Status("other").policy().keep_chain(), 100u);
}

TEST_F(CoordinatorRetentionTest, APolicyRecordFromBeforeTheNewFieldsLoadsWithDefaults) {
  v1::PolicyRequest old;
  old.set_product("game");
  old.set_cumulative_window(4);
  ASSERT_TRUE(store_.Write({{"policy/game", old.SerializeAsString()}}, true).ok());
  Reopen();
  const v1::PolicyResponse p = coordinator_->Status("game").policy();
  EXPECT_EQ(p.cumulative_window(), 4u);
  EXPECT_EQ(p.keep_chain(), 100u);
  EXPECT_EQ(p.keep_days(), 365u);
  EXPECT_DOUBLE_EQ(p.max_patch_ratio(), 0.9);
}

TEST_F(CoordinatorRetentionTest, ReleasesRecordTheirSubmitTimeFromTheWallClock) {
  Submit("1.0");
  clock_.Advance(absl::Hours(50));
  Submit("2.0");
  Reopen();
  const v1::StatusResponse status = coordinator_->Status("game");
  EXPECT_EQ(status.now_unix_seconds(), absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(Release(status, "1.0")->submitted_unix_seconds(), 1'700'000'000);
  EXPECT_EQ(Release(status, "2.0")->submitted_unix_seconds(), 1'700'000'000 + 50 * 3600);
}

TEST_F(CoordinatorRetentionTest, MissingChainLinksArePlannedApartFromTheReleasesJobs) {
  ASSERT_TRUE(SetPolicy(2, -1, -1).ok());
  Submit("1.0");
  Submit("2.0");
  Submit("3.0");
  CompleteAll();
  // Out of order: 2.5 gets patches from 2.0 and 1.0 by the window, but 2.5 ->
  // 3.0 is missing; 1.0 -> 3.0 has left the window of 3.0 (now 2.5, 2.0).
  Submit("2.5");
  v1::StatusResponse status = coordinator_->Status("game");
  const v1::ReleaseStatus* three = Release(status, "3.0");
  ASSERT_EQ(three->jobs_size(), 1);
  EXPECT_EQ(three->jobs(0).from_version(), "2.0");
  ASSERT_EQ(three->chain_jobs_size(), 1);
  EXPECT_EQ(three->chain_jobs(0).from_version(), "2.5");
  EXPECT_EQ(three->chain_jobs(0).state(), v1::JOB_STATE_QUEUED);
  EXPECT_NE(events_.find("event=chain_planned"), std::string::npos);
  EXPECT_EQ(coordinator_->QueueDepth(1), 3u);  // 2.0 -> 2.5, 1.0 -> 2.5, 2.5 -> 3.0.
  Reopen();  // Stored with the release.
  EXPECT_EQ(Release(coordinator_->Status("game"), "3.0")->chain_jobs_size(), 1);
  EXPECT_EQ(coordinator_->QueueDepth(1), 3u);
}

TEST_F(CoordinatorRetentionTest, ResultsThatLeftThePolicyAreDroppedOnlyThen) {
  ASSERT_TRUE(SetPolicy(2, 2, 0).ok());
  for (int v = 1; v <= 6; ++v) {
    Submit(std::to_string(v) + ".0");
    CompleteAll();
  }
  // While 6.0 was being made, 5.0 was the newest served: the patches into 5.0
  // from 4.0 and 3.0 and the chain 3.0 -> 4.0 -> 5.0 were kept.
  std::map<std::string, std::string> before = DoneJobs();
  ASSERT_EQ(before.count("3.0->5.0"), 1u);
  ASSERT_EQ(before.count("3.0->4.0"), 1u);
  ASSERT_EQ(before.count("1.0->2.0"), 0u) << "dropped at 5.0's submit";
  ASSERT_EQ(before.count("2.0->4.0"), 0u) << "dropped at 6.0's submit";
  const uint64_t finished = coordinator_->GetMetrics().job_seconds.count;
  ASSERT_TRUE(SetPolicy(2, 2, 0).ok());  // Now 6.0 is served.
  const std::map<std::string, std::string> after = DoneJobs();
  // The histograms keep the jobs dropped (Prometheus reads a fall as a reset).
  EXPECT_EQ(coordinator_->GetMetrics().job_seconds.count, finished);
  EXPECT_EQ(coordinator_->GetMetrics().package_bytes.count, finished);
  EXPECT_GT(finished, after.size());
  EXPECT_EQ(after, (std::map<std::string, std::string>{{"4.0->5.0", before["4.0->5.0"]},
                                                       {"4.0->6.0", before["4.0->6.0"]},
                                                       {"5.0->6.0", before["5.0->6.0"]}}));
  for (const auto& [pair, digest] : before) {
    EXPECT_EQ(HasBlob(digest), after.count(pair) != 0) << pair;
  }
  EXPECT_NE(events_.find("event=blob_dropped blob=" + coordinator_keys::Hex(before["3.0->5.0"])),
            std::string::npos)
      << events_;
  Coordinator::Metrics m = coordinator_->GetMetrics();
  EXPECT_EQ(m.blobs_dropped, 6u);  // 1->2, 1->3; 2->3, 2->4; 3->4, 3->5.
  EXPECT_GT(m.blob_bytes_dropped, 0u);
  // Reopening keeps what is left.
  Reopen();
  EXPECT_EQ(DoneJobs(), after);
}

TEST_F(CoordinatorRetentionTest, KeepDaysKeepsRecentLinksUntilTheyAge) {
  ASSERT_TRUE(SetPolicy(1, 1, 35).ok());
  for (int v = 1; v <= 6; ++v) {  // Ten days apart.
    Submit(std::to_string(v) + ".0");
    CompleteAll();
    clock_.Advance(absl::Hours(24 * 10));
  }
  // Day 60: 6.0 is served; 4.0 (day 30) and 5.0 (day 40) are within 35 days.
  ASSERT_TRUE(SetPolicy(1, 1, 35).ok());
  std::map<std::string, std::string> jobs = DoneJobs();
  EXPECT_EQ(jobs.count("5.0->6.0"), 1u);
  EXPECT_EQ(jobs.count("4.0->5.0"), 1u);
  EXPECT_EQ(jobs.count("3.0->4.0"), 0u);
  clock_.Advance(absl::Hours(24 * 20));  // Day 80: none is; keep-chain keeps 5.0's.
  ASSERT_TRUE(SetPolicy(1, 1, 35).ok());
  jobs = DoneJobs();
  EXPECT_EQ(jobs.count("5.0->6.0"), 1u);
  EXPECT_EQ(jobs.count("4.0->5.0"), 0u) << "aged out";
}

TEST_F(CoordinatorRetentionTest, NothingStillReferencedIsDeleted) {
  ASSERT_TRUE(SetPolicy(1, 1, 0).ok());
  for (int v = 1; v <= 3; ++v) {
    Submit(std::to_string(v) + ".0");
    CompleteAll();
  }
  std::map<std::string, std::string> jobs = DoneJobs();
  const std::string p12 = jobs["1.0->2.0"], p23 = jobs["2.0->3.0"];
  // A release on another platform ships the bytes of 1.0 -> 2.0's package,
  // and a hotfix those of 2.0 -> 3.0's.
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1.0", Blob(p12), "win-x64")).ok());
  v1::HotfixRequest hotfix;
  *hotfix.mutable_release() = FileRelease("3.0", Content("3.0")).release();
  *hotfix.add_files() = FileRelease("3.0", Blob(p23)).manifest(0);
  hotfix.mutable_files(0)->set_path("patch.bin");
  ASSERT_TRUE(coordinator_->AddHotfix(hotfix).ok());
  v1::OneOffRequest one_off;
  one_off.set_product("game");
  one_off.set_platform("linux-x64");
  one_off.set_from_version("1.0");
  one_off.set_to_version("3.0");
  ASSERT_TRUE(coordinator_->RequestOneOff(one_off).ok());
  CompleteAll();
  auto one_off_job = coordinator_->RequestOneOff(one_off);
  ASSERT_TRUE(one_off_job.ok());
  ASSERT_EQ(one_off_job->state(), v1::JOB_STATE_DONE);
  // 4.0, 5.0 and then serving 5.0 age out 1.0 -> 2.0, 2.0 -> 3.0 and 3.0 -> 4.0.
  Submit("4.0");
  CompleteAll();
  const std::string p34 = DoneJobs()["3.0->4.0"];
  Submit("5.0");
  CompleteAll();
  ASSERT_TRUE(SetPolicy(1, 1, 0).ok());
  jobs = DoneJobs();
  EXPECT_EQ(jobs, (std::map<std::string, std::string>{{"4.0->5.0", jobs["4.0->5.0"]}}));
  EXPECT_TRUE(HasBlob(p12)) << "a release's file was deleted";
  EXPECT_TRUE(HasBlob(p23)) << "a hotfix file was deleted";
  EXPECT_FALSE(HasBlob(p34));
  EXPECT_EQ(coordinator_->GetMetrics().blobs_dropped, 1u);
  EXPECT_TRUE(HasBlob(one_off_job->package_digest())) << "a one-off's result was deleted";
  EXPECT_TRUE(coordinator_->GetJobStatus(one_off_job->job_id()).ok());
}

TEST_F(CoordinatorRetentionTest, ADropInterruptedByACrashFinishesAtTheNextStart) {
  auto orphan = blobs_->Put("a package whose job record was already dropped");
  auto shipped = blobs_->Put("a file some release ships");
  ASSERT_TRUE(orphan.ok() && shipped.ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1.0", "a file some release ships")).ok());
  ASSERT_TRUE(store_.Write({{"drop/" + DigestToHex(*orphan), ""},
                            {"drop/" + DigestToHex(*shipped), ""}},
                           true)
                  .ok());
  Reopen();
  EXPECT_FALSE(blobs_->Has(*orphan));
  EXPECT_TRUE(blobs_->Has(*shipped));
  int markers = 0;
  ASSERT_TRUE(store_.Scan("drop/", [&](absl::string_view, absl::string_view) {
    ++markers;
    return true;
  }).ok());
  EXPECT_EQ(markers, 0);
}

TEST_F(CoordinatorRetentionTest, FullPackageSizesAreRecordedPerRelease) {
  Submit("1.0");
  v1::RecordFullPackageRequest request;
  request.set_release_id("game/linux-x64/stable/1.0");
  request.set_package_digest(std::string(32, 'd'));
  request.set_package_size(12345);
  ASSERT_TRUE(coordinator_->RecordFullPackage(request).ok());
  Reopen();
  const v1::StatusResponse status = coordinator_->Status("game");
  const v1::ReleaseStatus* r = Release(status, "1.0");
  EXPECT_EQ(r->full_package_size(), 12345u);
  EXPECT_EQ(r->full_package_digest(), std::string(32, 'd'));
  request.set_release_id("game/linux-x64/stable/9.0");
  EXPECT_EQ(coordinator_->RecordFullPackage(request).code(), absl::StatusCode::kNotFound);
  request.set_release_id("game/linux-x64/stable/1.0");
  request.set_package_digest("short");
  EXPECT_EQ(coordinator_->RecordFullPackage(request).code(), absl::StatusCode::kInvalidArgument);
}

// Sets the modification time of blob `digest` to `when`.
void SetModified(BlobStore* blobs, const Digest& digest, absl::Time when) {
  auto path = blobs->PathOf(digest);
  ASSERT_TRUE(path.ok());
  const timespec at = absl::ToTimespec(when);
  const timespec times[2] = {at, at};
  ASSERT_EQ(utimensat(AT_FDCWD, path->c_str(), times, 0), 0);
}

// Uploads nothing came to name are removed once a week old; what a
// release, a hotfix or a job names stays, however old, and so do young ones.
TEST_F(CoordinatorRetentionTest, OrphanBlobsAreDroppedOnceAWeekOld) {
  Submit("1.0");
  Submit("1.1");
  CompleteAll();
  auto hotfix_blob = blobs_->Put("hotfix bytes");
  ASSERT_TRUE(hotfix_blob.ok());
  v1::HotfixRequest hotfix;
  hotfix.mutable_release()->set_product("game");
  hotfix.mutable_release()->set_platform("linux-x64");
  hotfix.mutable_release()->set_version("1.1");
  v1::ManifestEntry* file = hotfix.add_files();
  file->set_path("fix.cfg");
  file->set_type(1);
  file->set_mode(0644);
  file->set_size(12);
  file->set_digest(DigestBytes(*hotfix_blob));
  ASSERT_TRUE(coordinator_->AddHotfix(hotfix).ok());
  auto orphan = blobs_->Put("uploaded, never submitted");
  auto young = blobs_->Put("uploaded, submitted soon");
  ASSERT_TRUE(orphan.ok() && young.ok());
  auto listed = blobs_->List();
  ASSERT_TRUE(listed.ok());
  // A month on; one upload changed 6 days before (its ctime is now: the
  // later of the two counts).
  const absl::Time now = absl::Now() + absl::Hours(24 * 30);
  SetModified(blobs_.get(), *young, now - absl::Hours(24 * 6));

  auto dropped = coordinator_->DropOrphanBlobs(now, kOrphanBlobAge);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 1u);
  EXPECT_FALSE(blobs_->Has(*orphan));
  EXPECT_TRUE(blobs_->Has(*young));
  EXPECT_TRUE(blobs_->Has(*hotfix_blob));
  for (const BlobStore::StoredBlob& b : *listed) {
    if (b.digest != *orphan) EXPECT_TRUE(blobs_->Has(b.digest)) << DigestToHex(b.digest);
  }
  EXPECT_EQ(listed->size(), 6u);  // 2 releases, a patch, a hotfix, 2 uploads.
  EXPECT_NE(events_.find("event=blob_dropped blob=" + DigestToHex(*orphan)), std::string::npos);
  EXPECT_NE(events_.find("event=orphan_blobs_dropped blobs=1"), std::string::npos);
  EXPECT_EQ(coordinator_->GetMetrics().blobs_dropped, 1u);
  EXPECT_EQ(*coordinator_->DropOrphanBlobs(now, kOrphanBlobAge), 0u);
  // A blob restored from a copy with its old mtime is as young as the copy.
  SetModified(blobs_.get(), *young, now - absl::Hours(24 * 60));
  EXPECT_EQ(*coordinator_->DropOrphanBlobs(absl::Now() + absl::Hours(24 * 6), kOrphanBlobAge), 0u);
  EXPECT_TRUE(blobs_->Has(*young));
}

// A store most of which nothing names (a database older than its blobs, or
// a new one beside them) keeps every blob.
TEST_F(CoordinatorRetentionTest, OrphansAreKeptWhenTheDatabaseDoesNotLookLikeTheStoresOwn) {
  const absl::Time later = absl::Now() + absl::Hours(24 * 30);
  auto orphan = blobs_->Put(std::string(10000, 'o'));
  ASSERT_TRUE(orphan.ok());
  EXPECT_EQ(*coordinator_->DropOrphanBlobs(later, kOrphanBlobAge), 0u);  // No release at all.
  Submit("1.0");  // 2 KB named, 10 KB not.
  auto refused = coordinator_->DropOrphanBlobs(later, kOrphanBlobAge);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition) << refused.status();
  EXPECT_TRUE(blobs_->Has(*orphan));
  EXPECT_NE(events_.find("event=blob_drop_refused blobs=1 bytes=10000"), std::string::npos) << events_;
}

// The real file system, with hooks: the first Stat (or Unlink) of a path
// runs the hook set for it before the call. Thread-safe.
class HookFileSystem : public FileSystem {
 public:
  void OnStat(const std::string& path, std::function<void()> hook) { Set(&on_stat_, path, hook); }
  void OnUnlink(const std::string& path, std::function<void()> hook) { Set(&on_unlink_, path, hook); }

  absl::StatusOr<FileInfo> Stat(const std::string& path) override {
    Run(&on_stat_, path);
    return base_->Stat(path);
  }
  absl::Status Unlink(const std::string& path) override {
    Run(&on_unlink_, path);
    return base_->Unlink(path);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, OpenMode mode,
                                                             uint32_t permissions) override {
    return base_->OpenWritable(path, mode, permissions);
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> CreateTemporary(const std::string& prefix,
                                                                uint32_t permissions,
                                                                std::string* path) override {
    return base_->CreateTemporary(prefix, permissions, path);
  }
  absl::Status CopyFile(const std::string& from, const std::string& to, uint32_t permissions) override {
    return base_->CopyFile(from, to, permissions);
  }
  absl::StatusOr<std::unique_ptr<ByteSource>> OpenReadable(const std::string& path) override {
    return base_->OpenReadable(path);
  }
  absl::StatusOr<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  absl::Status Rename(const std::string& from, const std::string& to) override {
    return base_->Rename(from, to);
  }
  absl::Status MakeDirectory(const std::string& path, uint32_t mode) override {
    return base_->MakeDirectory(path, mode);
  }
  absl::Status RemoveDirectory(const std::string& path) override { return base_->RemoveDirectory(path); }
  absl::Status Symlink(const std::string& target, const std::string& path) override {
    return base_->Symlink(target, path);
  }
  absl::StatusOr<std::string> ReadLink(const std::string& path) override { return base_->ReadLink(path); }
  absl::Status Chmod(const std::string& path, uint32_t mode) override { return base_->Chmod(path, mode); }
  absl::Status Touch(const std::string& path) override { return base_->Touch(path); }
  absl::StatusOr<FileInfo> LStat(const std::string& path) override { return base_->LStat(path); }
  absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) override {
    return base_->ListDirectory(dir);
  }
  absl::Status SyncDirectory(const std::string& dir) override { return base_->SyncDirectory(dir); }
  absl::Status SyncFileSystem(const std::string& path) override { return base_->SyncFileSystem(path); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

 private:
  using Hooks = std::map<std::string, std::function<void()>>;
  void Set(Hooks* hooks, const std::string& path, std::function<void()> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    (*hooks)[path] = std::move(hook);
  }
  void Run(Hooks* hooks, const std::string& path) {
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = hooks->find(path);
      if (it == hooks->end()) return;
      hook = std::move(it->second);
      hooks->erase(it);
    }
    hook();
  }

  FileSystem* base_ = DefaultFileSystem();
  std::mutex mu_;
  Hooks on_stat_, on_unlink_;
};

// A tree release naming a.pak (uploaded a month ago, never submitted: an
// orphan) and b.pak (uploaded just now), on a coordinator whose blob store
// runs on a HookFileSystem.
class CoordinatorOrphanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    auto blobs = BlobStore::Open(
        std::string(std::getenv("TEST_TMPDIR")) + "/race" + std::to_string(n++), &fs_);
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
    auto coordinator = Coordinator::Create(&store_, blobs_.get(), &clock_, CoordinatorOptions());
    ASSERT_TRUE(coordinator.ok());
    coordinator_ = std::move(*coordinator);
    // Another product's release: the store is the database's.
    auto other = blobs_->Put(std::string(1000, 'x'));
    ASSERT_TRUE(other.ok());
    v1::SubmitRequest r;
    r.mutable_release()->set_product("other");
    r.mutable_release()->set_platform("linux-x64");
    r.mutable_release()->set_version("1.0");
    r.set_kind(v1::RELEASE_KIND_FILE);
    v1::ManifestEntry* e = r.add_manifest();
    e->set_path("tool");
    e->set_type(1);
    e->set_size(1000);
    e->set_digest(DigestBytes(*other));
    ASSERT_TRUE(coordinator_->Submit(r).ok());
    // A month on (every blob was written a month ago), b.pak written then.
    auto a = blobs_->Put("uploaded last month");
    auto b = blobs_->Put("uploaded just now");
    ASSERT_TRUE(a.ok() && b.ok());
    SetModified(blobs_.get(), *b, now_);
    a_path_ = *blobs_->PathOf(*a);
    b_path_ = *blobs_->PathOf(*b);
    release_.mutable_release()->set_product("game");
    release_.mutable_release()->set_platform("linux-x64");
    release_.mutable_release()->set_version("1.0");
    release_.set_kind(v1::RELEASE_KIND_TREE);
    for (const auto& [name, digest, size] :
         {std::tuple<std::string, Digest, size_t>{"a.pak", *a, 19}, {"b.pak", *b, 17}}) {
      v1::ManifestEntry* e = release_.add_manifest();
      e->set_path(name);
      e->set_type(1);
      e->set_mode(0644);
      e->set_size(size);
      e->set_digest(DigestBytes(digest));
    }
  }

  void ExpectRefusedAndUploadAgain(const absl::StatusOr<v1::SubmitResponse>& submitted) {
    ASSERT_FALSE(submitted.ok());
    EXPECT_EQ(submitted.status().code(), absl::StatusCode::kFailedPrecondition) << submitted.status();
    EXPECT_NE(submitted.status().message().find("upload it again"), std::string::npos);
    EXPECT_EQ(coordinator_->Status("game").releases_size(), 0);
    ASSERT_TRUE(blobs_->Put("uploaded last month").ok());
    EXPECT_TRUE(coordinator_->Submit(release_).ok());
  }

  HookFileSystem fs_;
  std::unique_ptr<BlobStore> blobs_;
  MemoryStore store_;
  FakeClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
  const absl::Time now_ = absl::Now() + absl::Hours(24 * 30);
  std::string a_path_, b_path_;
  v1::SubmitRequest release_;
};

// A submit checks its blobs without the coordinator's lock. An old upload
// it names (the CI job found it uploaded) may be removed as an orphan right
// after that check: the submit must then fail, not record a release whose
// file is gone.
TEST_F(CoordinatorOrphanTest, ARemovalAfterASubmitsCheckFailsTheSubmit) {
  // After a.pak's blob is checked, before the release is recorded.
  bool swept = false;
  fs_.OnStat(b_path_, [&] {
    EXPECT_EQ(*coordinator_->DropOrphanBlobs(now_, kOrphanBlobAge), 1u);
    swept = true;
  });
  auto submitted = coordinator_->Submit(release_);
  EXPECT_TRUE(swept);
  ExpectRefusedAndUploadAgain(submitted);
}

// The same with the submit's check made while the removal runs (under the
// coordinator's lock, a.pak not yet unlinked): the submit waits for the lock,
// then sees that blobs were removed since its check.
TEST_F(CoordinatorOrphanTest, ASubmitCheckingDuringARemovalFails) {
  std::thread submit;
  absl::StatusOr<v1::SubmitResponse> submitted;
  std::atomic<bool> checked{false};
  fs_.OnUnlink(a_path_, [&] {
    fs_.OnStat(b_path_, [&] { checked = true; });
    submit = std::thread([&] { submitted = coordinator_->Submit(release_); });
    while (!checked) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  EXPECT_EQ(*coordinator_->DropOrphanBlobs(now_, kOrphanBlobAge), 1u);
  submit.join();
  ExpectRefusedAndUploadAgain(submitted);
}

}  // namespace
}  // namespace patchfarm
