// The coordinator's logic with a fake clock and an in-memory store.
#include "coordinator/coordinator.h"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/fake_clock.h"
#include "common/file.h"
#include "coordinator/store_keys.h"
#include "core/delta/diff.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_path.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "storage/memory_store.h"

namespace patchfarm {
namespace {

class CoordinatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto blobs = BlobStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/blobs");
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
    Reopen();
  }

  void Reopen(uint64_t cached_manifest_entries = uint64_t{1} << 20) {
    coordinator_.reset();
    CoordinatorOptions options;
    options.cached_manifest_entries = cached_manifest_entries;
    options.lease = absl::Seconds(10);
    options.policy.cumulative_window = 3;
    options.log = [this](const std::string& line) { events_ += line + "\n"; };
    auto c = Coordinator::Create(&store_, blobs_.get(), &clock_, options);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = std::move(*c);
  }

  // A file release whose content is `content` (uploaded first).
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
    e->set_digest(reinterpret_cast<const char*>(digest->data()), digest->size());
    return r;
  }

  v1::AcquireResponse Acquire(const std::string& worker, int n) {
    v1::AcquireRequest request;
    request.set_worker_id(worker);
    request.set_max_jobs(n);
    auto response = coordinator_->Acquire(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : v1::AcquireResponse();
  }

  std::string BlobContent(const std::string& raw_digest) {
    Digest digest{};
    EXPECT_TRUE(ParseDigest(raw_digest, &digest).ok());
    auto path = blobs_->PathOf(digest);
    EXPECT_TRUE(path.ok());
    auto data = ReadFileToString(*path);
    EXPECT_TRUE(data.ok());
    return data.ok() ? *data : "";
  }

  // Uploads a patch from `old_content` to `new_content`; returns its digest.
  std::string UploadPatch(const std::string& old_content, const std::string& new_content) {
    DiffOptions options;
    options.level = 1;
    auto patch = Diff(old_content, new_content, options);
    EXPECT_TRUE(patch.ok());
    auto digest = blobs_->Put(*patch);
    EXPECT_TRUE(digest.ok());
    return DigestBytes(*digest);
  }

  // `worker` reports `job` failed with `error`, or hands it back.
  absl::Status FailWith(const std::string& worker, const v1::Job& job, const std::string& error,
                        bool hand_back = false) {
    v1::FailRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job.job_id());
    request.set_lease_id(job.lease_id());
    request.set_error(error);
    request.set_hand_back(hand_back);
    return coordinator_->Fail(request);
  }

  absl::Status CompleteWith(const std::string& worker, const v1::Job& job,
                            const std::string& package_digest) {
    v1::CompleteRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job.job_id());
    request.set_lease_id(job.lease_id());
    request.set_package_digest(package_digest);
    request.set_package_size(10);  // Ignored: the size comes from the blob store.
    return coordinator_->Complete(request);
  }

  // Completes `job` with its true result: a patch between its files.
  absl::Status Complete(const std::string& worker, const v1::Job& job) {
    return CompleteWith(worker, job,
                        UploadPatch(BlobContent(job.old_manifest(0).digest()),
                                    BlobContent(job.new_manifest(0).digest())));
  }

  FakeClock clock_;
  MemoryStore store_;
  std::unique_ptr<BlobStore> blobs_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string events_;
};

TEST_F(CoordinatorTest, PlansCumulativeWindowAndIsIdempotent) {
  for (int v = 1; v <= 5; ++v) {
    auto r = coordinator_->Submit(FileRelease("1.0." + std::to_string(v), "content " + std::to_string(v)));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->job_ids_size(), std::min(v - 1, 3));
  }
  auto again = coordinator_->Submit(FileRelease("1.0.5", "content 5"));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->already_submitted());
  EXPECT_EQ(again->job_ids_size(), 3);
  EXPECT_EQ(coordinator_->Submit(FileRelease("1.0.5", "other")).status().code(),
            absl::StatusCode::kAlreadyExists);
  auto intermediate = FileRelease("1.0.6-test", "test build");
  intermediate.set_intermediate(true);
  ASSERT_EQ(coordinator_->Submit(intermediate)->job_ids_size(), 0);
  EXPECT_EQ(coordinator_->QueueDepth(1), 1u + 2 + 3 + 3);
  // A rebuild with the same content under a new version needs no patch from its twin.
  auto rebuild = coordinator_->Submit(FileRelease("1.0.7", "content 5"));
  ASSERT_TRUE(rebuild.ok());
  EXPECT_EQ(rebuild->job_ids_size(), 2);  // From 1.0.4 and 1.0.3, not from 1.0.5.
}

TEST_F(CoordinatorTest, PerProductPolicySurvivesARestart) {
  v1::PolicyRequest policy;
  policy.set_product("game");
  policy.set_cumulative_window(1);
  ASSERT_TRUE(coordinator_->SetPolicy(policy).ok());
  policy.set_cumulative_window(0);
  EXPECT_EQ(coordinator_->SetPolicy(policy).status().code(), absl::StatusCode::kInvalidArgument);
  Reopen();
  for (int v = 1; v <= 3; ++v) {
    auto r = coordinator_->Submit(FileRelease("2." + std::to_string(v), "p" + std::to_string(v)));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->job_ids_size(), v == 1 ? 0 : 1);  // Chained only.
  }
}

TEST_F(CoordinatorTest, RefusesMissingBlobsAndBadInput) {
  v1::SubmitRequest r = FileRelease("1.0", "x");
  r.mutable_manifest(0)->set_digest(std::string(32, 'z'));
  EXPECT_EQ(coordinator_->Submit(r).status().code(), absl::StatusCode::kFailedPrecondition);
  r = FileRelease("1.0", "x");
  r.mutable_release()->set_product("bad/name");
  EXPECT_EQ(coordinator_->Submit(r).status().code(), absl::StatusCode::kInvalidArgument);
  r = FileRelease("1.0", "x");
  r.mutable_manifest(0)->set_path("../escape");
  EXPECT_EQ(coordinator_->Submit(r).status().code(), absl::StatusCode::kInvalidArgument);
  v1::OneOffRequest unknown;
  unknown.set_product("game");
  unknown.set_platform("linux-x64");
  unknown.set_from_version("0.1");
  unknown.set_to_version("0.2");
  EXPECT_EQ(coordinator_->RequestOneOff(unknown).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, LeasesExpireToAnotherWorkerThenFailAfterMaxAttempts) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  for (int attempt = 1; attempt <= 3; ++attempt) {
    v1::AcquireResponse got = Acquire("w" + std::to_string(attempt), 4);
    ASSERT_EQ(got.jobs_size(), 1) << attempt;
    clock_.Advance(absl::Seconds(5));
    v1::HeartbeatRequest hb;
    hb.set_worker_id("w" + std::to_string(attempt));
    hb.add_job_ids(got.jobs(0).job_id());
    hb.add_lease_ids(got.jobs(0).lease_id());
    EXPECT_EQ(coordinator_->Heartbeat(hb)->lost_job_ids_size(), 0);
    clock_.Advance(absl::Seconds(11));  // Silent past the lease.
    coordinator_->ExpireLeases();
    EXPECT_EQ(coordinator_->Heartbeat(hb)->lost_job_ids_size(), 1);
  }
  auto status = coordinator_->Status("game");
  ASSERT_EQ(status.releases(1).jobs_size(), 1);
  EXPECT_EQ(status.releases(1).jobs(0).state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(status.releases(1).jobs(0).error().find("lease expired"), std::string::npos);
  EXPECT_EQ(Acquire("w4", 4).jobs_size(), 0);
}

TEST_F(CoordinatorTest, FailuresRetryThenFailAndHandBackCostsNothing) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  ASSERT_TRUE(FailWith("w", job, "", /*hand_back=*/true).ok());
  EXPECT_EQ(FailWith("w", job, "", /*hand_back=*/true).code(),
            absl::StatusCode::kFailedPrecondition);  // Stale.
  for (int i = 0; i < 3; ++i) {
    job = Acquire("w", 1).jobs(0);
    ASSERT_TRUE(FailWith("w", job, "engine said no").ok());
  }
  auto s = coordinator_->GetJobStatus(job.job_id());
  EXPECT_EQ(s->state(), v1::JOB_STATE_FAILED);
  EXPECT_EQ(s->attempts(), 3u);
  EXPECT_NE(s->error().find("engine said no"), std::string::npos);
}

// A worker's error text is shown by status, submit --wait and request: what
// a terminal would obey in it is stored escaped.
TEST_F(CoordinatorTest, AWorkersErrorIsStoredWithItsControlsEscaped) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  ASSERT_TRUE(FailWith("w", job, "no\x1b]0;owned\x07 \xc2\x9b" "2J").ok());
  auto s = coordinator_->GetJobStatus(job.job_id());
  EXPECT_EQ(s->error(), "w: no\\x1b]0;owned\\x07 \\xc2\\x9b2J");
}

// A job handed back for a reason (the coordinator had no room for its
// result) shows the reason, counts an attempt (room never made fails it),
// and waits before it is handed out again: the next worker would meet the
// same full disk at once.
TEST_F(CoordinatorTest, AJobHandedBackForAReasonWaitsBeforeItsNextAttempt) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  ASSERT_TRUE(FailWith("w", job, "the coordinator's disk has no room", /*hand_back=*/true).ok());
  EXPECT_EQ(Acquire("w2", 1).jobs_size(), 0);
  auto s = coordinator_->GetJobStatus(job.job_id());
  EXPECT_EQ(s->state(), v1::JOB_STATE_QUEUED);
  EXPECT_EQ(s->attempts(), 1u);
  EXPECT_NE(s->error().find("no room"), std::string::npos);
  clock_.Advance(kHandOutRetryDelay + absl::Seconds(1));
  coordinator_->ExpireLeases();
  EXPECT_EQ(Acquire("w2", 1).jobs_size(), 1);
}

// A worker's error is stored cut to whole UTF-8 characters: a cut inside
// one made a record the coordinator could not load at its next start. Its
// log line stays one line whatever the error holds.
TEST_F(CoordinatorTest, ALongErrorIsStoredWholeAndLoggedOnOneLine) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "one")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "two")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  // 2000 bytes end inside a euro sign, of the error as of "w: " and the error.
  std::string error = "line one\nevent=forged";
  while (error.size() < 3 * kMaxJobErrorBytes) error += "\xe2\x82\xac";
  ASSERT_TRUE(FailWith("w", job, error).ok());
  EXPECT_EQ(events_.find("\nevent=forged"), std::string::npos) << "a forged log line";
  Reopen();  // Loads the record stored with the error.
  auto status = coordinator_->GetJobStatus(job.job_id());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_LE(status->error().size(), kMaxJobErrorBytes);
  EXPECT_EQ(Utf8Prefix(status->error(), kMaxJobErrorBytes), status->error());
}

// A record stored before errors were cut whole (an error ending inside a
// character, which protobuf refuses to parse) loads with its error cut
// before that character, and is written back so.
TEST_F(CoordinatorTest, ARecordWithAnErrorCutInsideACharacterLoads) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "one")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "two")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  ASSERT_TRUE(FailWith("w", job, "disk full").ok());
  const std::string key = std::string(coordinator_keys::kJobPrefix) + job.job_id();
  auto stored = store_.Get(key);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  v1::StoredJob record;
  ASSERT_TRUE(record.ParseFromString(**stored));
  record.mutable_status()->set_error("w: disk full \xe2\x82");  // As the old cut left it.
  ASSERT_TRUE(store_.Write({{key, record.SerializeAsString()}}, true).ok());
  ASSERT_FALSE(record.ParseFromString(store_.Get(key)->value_or("")));
  Reopen();
  auto status = coordinator_->GetJobStatus(job.job_id());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->error(), "w: disk full ");
  EXPECT_TRUE(record.ParseFromString(store_.Get(key)->value_or(""))) << "not written back";
}

// What a worker's calls may name is bounded before the lock is taken.
TEST_F(CoordinatorTest, AHeartbeatNamesABoundedNumberOfJobs) {
  v1::HeartbeatRequest beat;
  beat.set_worker_id("w");
  for (int i = 0; i <= kMaxHeldJobs; ++i) {
    beat.add_job_ids(absl::StrCat("job", i));
    beat.add_lease_ids(1);
  }
  EXPECT_EQ(coordinator_->Heartbeat(beat).status().code(), absl::StatusCode::kInvalidArgument);
  v1::AcquireRequest acquire;
  acquire.set_worker_id("w");
  acquire.set_max_jobs(1);
  for (size_t i = 0; i < 2 * kMaxCachedManifests; ++i) acquire.add_cached_manifests(std::string(32, 'x'));
  EXPECT_TRUE(coordinator_->Acquire(acquire).ok());  // A hint, looked at in part.
}

// One-off patches run ahead of release jobs: past kMaxQueuedOneOffs queued,
// a new one is refused until they ran.
TEST_F(CoordinatorTest, OneOffRequestsCannotFloodTheQueue) {
  constexpr int kVersions = 20;  // 380 ordered pairs.
  for (int v = 1; v <= kVersions; ++v) {
    ASSERT_TRUE(coordinator_->Submit(FileRelease(std::to_string(v), "c" + std::to_string(v))).ok());
  }
  absl::Status refused;
  for (int from = 1; from <= kVersions && refused.ok(); ++from) {
    for (int to = 1; to <= kVersions && refused.ok(); ++to) {
      if (from == to) continue;
      v1::OneOffRequest request;
      request.set_product("game");
      request.set_platform("linux-x64");
      request.set_from_version(std::to_string(from));
      request.set_to_version(std::to_string(to));
      refused = coordinator_->RequestOneOff(request).status();
    }
  }
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted) << refused;
  EXPECT_GE(coordinator_->QueueDepth(0), kMaxQueuedOneOffs);  // And release jobs asked for.
}

TEST_F(CoordinatorTest, OneOffJumpsTheQueueAndIsNeverComputedTwice) {
  for (int v = 1; v <= 4; ++v) {
    ASSERT_TRUE(coordinator_->Submit(FileRelease(std::to_string(v), "c" + std::to_string(v))).ok());
  }
  v1::OneOffRequest request;
  request.set_product("game");
  request.set_platform("linux-x64");
  request.set_from_version("1");
  request.set_to_version("3");  // Already planned as a release job: moved ahead.
  auto queued = coordinator_->RequestOneOff(request);
  ASSERT_TRUE(queued.ok()) << queued.status();
  // Still the release's job: its result ages out with the release's policy.
  EXPECT_FALSE(queued->one_off());
  v1::Job first = Acquire("w", 1).jobs(0);
  EXPECT_EQ(first.job_id(), queued->job_id());
  ASSERT_TRUE(Complete("w", first).ok());
  auto done = coordinator_->RequestOneOff(request);
  EXPECT_EQ(done->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(done->job_id(), first.job_id());
  EXPECT_TRUE(Complete("w", first).ok());  // Idempotent.
}

TEST_F(CoordinatorTest, RestartResumesEveryUnfinishedJob) {
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(coordinator_->Submit(FileRelease(std::to_string(v), "c" + std::to_string(v))).ok());
  }
  v1::AcquireResponse leased = Acquire("w", 1);
  ASSERT_EQ(leased.jobs_size(), 1);
  Reopen();  // The coordinator restarts with the same store.
  EXPECT_EQ(coordinator_->QueueDepth(1), 2u);
  // The worker is listed with the job it holds (operators drain by that).
  v1::ListWorkersResponse workers = coordinator_->ListWorkers();
  ASSERT_EQ(workers.workers_size(), 1);
  EXPECT_EQ(workers.workers(0).worker_id(), "w");
  ASSERT_EQ(workers.workers(0).job_ids_size(), 1);
  EXPECT_EQ(workers.workers(0).job_ids(0), leased.jobs(0).job_id());
  // The old lease still completes; the other jobs are handed out again.
  ASSERT_TRUE(Complete("w", leased.jobs(0)).ok());
  v1::AcquireResponse rest = Acquire("w2", 8);
  EXPECT_EQ(rest.jobs_size(), 2);
  for (const v1::Job& j : rest.jobs()) ASSERT_TRUE(Complete("w2", j).ok());
  v1::StatusResponse status = coordinator_->Status("");
  for (const auto& r : status.releases()) {
    for (const auto& j : r.jobs()) EXPECT_EQ(j.state(), v1::JOB_STATE_DONE);
  }
}

TEST_F(CoordinatorTest, DrainedWorkerGetsNoJobs) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  Acquire("w", 0);
  ASSERT_TRUE(coordinator_->Drain("w").ok());
  v1::AcquireResponse got = Acquire("w", 4);
  EXPECT_TRUE(got.drain());
  EXPECT_EQ(got.jobs_size(), 0);
  EXPECT_EQ(coordinator_->Drain("nobody").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorTest, ResultIsAcceptedOnlyFromTheLeaseHolder) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "old build")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "new build")).ok());
  const std::string truth = UploadPatch("old build", "new build");
  // Queued, not leased: nobody may complete it.
  v1::Job queued;
  queued.set_job_id(coordinator_->Status("game").releases(1).jobs(0).job_id());
  EXPECT_EQ(CompleteWith("mallory", queued, truth).code(), absl::StatusCode::kFailedPrecondition);
  v1::Job job = Acquire("w", 1).jobs(0);
  // Another worker, or the right worker with another lease id.
  EXPECT_EQ(CompleteWith("mallory", job, truth).code(), absl::StatusCode::kFailedPrecondition);
  v1::Job guessed = job;
  guessed.set_lease_id(job.lease_id() + 1);
  EXPECT_EQ(CompleteWith("w", guessed, truth).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coordinator_->GetJobStatus(job.job_id())->state(), v1::JOB_STATE_LEASED);
  EXPECT_NE(events_.find("event=result_refused"), std::string::npos);
  // The holder's true result is recorded, with the blob's real size.
  ASSERT_TRUE(CompleteWith("w", job, truth).ok());
  auto done = coordinator_->GetJobStatus(job.job_id());
  EXPECT_EQ(done->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(done->package_size(), BlobContent(truth).size());
  EXPECT_TRUE(CompleteWith("w", job, truth).ok());  // The same result again.
  EXPECT_EQ(CompleteWith("w", job, UploadPatch("old build", "other")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coordinator_->GetJobStatus(job.job_id())->package_digest(), truth);
}

TEST_F(CoordinatorTest, ResultForAnotherPairIsRefusedAndTheJobIsUntouched) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "old build")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "new build")).ok());
  v1::Job job = Acquire("w", 1).jobs(0);
  // A valid patch from the job's old side to a tampered build.
  EXPECT_EQ(CompleteWith("w", job, UploadPatch("old build", "tampered build")).code(),
            absl::StatusCode::kPermissionDenied);
  // From another old file to the job's new side.
  EXPECT_EQ(CompleteWith("w", job, UploadPatch("someone's build", "new build")).code(),
            absl::StatusCode::kPermissionDenied);
  // Not a patch at all; and a blob that was never uploaded.
  auto junk = blobs_->Put("just some bytes");
  EXPECT_FALSE(CompleteWith("w", job, DigestBytes(*junk)).ok());
  EXPECT_EQ(CompleteWith("w", job, std::string(32, 'x')).code(),
            absl::StatusCode::kFailedPrecondition);
  auto status = coordinator_->GetJobStatus(job.job_id());
  EXPECT_EQ(status->state(), v1::JOB_STATE_LEASED);
  EXPECT_EQ(status->attempts(), 0u);
  EXPECT_TRUE(status->package_digest().empty());
  EXPECT_TRUE(Complete("w", job).ok());  // The lease still holds the true result.
}

TEST_F(CoordinatorTest, FailedJobCannotBeCompleted) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  v1::Job job;
  for (int i = 0; i < 3; ++i) {
    job = Acquire("w", 1).jobs(0);
    v1::FailRequest fail;
    fail.set_worker_id("w");
    fail.set_job_id(job.job_id());
    fail.set_lease_id(job.lease_id());
    ASSERT_TRUE(coordinator_->Fail(fail).ok());
  }
  EXPECT_EQ(Complete("w", job).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(coordinator_->GetJobStatus(job.job_id())->state(), v1::JOB_STATE_FAILED);
}

// A worker id is no secret (the status page shows it): a heartbeat under
// it without the lease's id keeps nothing alive.
TEST_F(CoordinatorTest, AHeartbeatWithoutTheLeaseIdRenewsNothing) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  v1::AcquireResponse got = Acquire("victim", 1);
  ASSERT_EQ(got.jobs_size(), 1);
  v1::HeartbeatRequest forged;
  forged.set_worker_id("victim");
  forged.add_job_ids(got.jobs(0).job_id());
  EXPECT_EQ(coordinator_->Heartbeat(forged).status().code(), absl::StatusCode::kInvalidArgument);
  forged.add_lease_ids(got.jobs(0).lease_id() + 1);
  for (int beat = 0; beat < 4; ++beat) {
    clock_.Advance(absl::Seconds(5));
    auto heard = coordinator_->Heartbeat(forged);
    ASSERT_TRUE(heard.ok()) << heard.status();
    EXPECT_EQ(heard->lost_job_ids_size(), 1);
  }
  v1::ListWorkersResponse listed = coordinator_->ListWorkers();
  ASSERT_EQ(listed.workers_size(), 1);
  EXPECT_EQ(listed.workers(0).job_ids_size(), 1) << "the forger does not change the victim's list";
  coordinator_->ExpireLeases();  // 20 s into a 10 s lease: gone, though beaten for.
  EXPECT_EQ(Acquire("other", 1).jobs_size(), 1);
}

TEST_F(CoordinatorTest, WorkerIdsAreValidatedOnEveryCall) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  for (const std::string& id : {std::string("a\0b", 3), std::string("<script>"), std::string(5000, 'w'),
                                std::string("")}) {
    v1::HeartbeatRequest hb;
    hb.set_worker_id(id);
    EXPECT_EQ(coordinator_->Heartbeat(hb).status().code(), absl::StatusCode::kInvalidArgument);
    v1::Job job;
    job.set_job_id("x");
    EXPECT_EQ(CompleteWith(id, job, std::string(32, 'x')).code(), absl::StatusCode::kInvalidArgument);
    v1::FailRequest fail;
    fail.set_worker_id(id);
    EXPECT_EQ(coordinator_->Fail(fail).code(), absl::StatusCode::kInvalidArgument);
    v1::AcquireRequest acquire;
    acquire.set_worker_id(id);
    acquire.set_max_jobs(1);
    EXPECT_EQ(coordinator_->Acquire(acquire).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(coordinator_->ListWorkers().workers_size(), 0);
  absl::Status long_id = coordinator_->Heartbeat([] {
    v1::HeartbeatRequest hb;
    hb.set_worker_id(std::string(5000, 'w'));
    return hb;
  }()).status();
  EXPECT_LT(long_id.message().size(), 200u) << "errors echo only a prefix";
}

TEST_F(CoordinatorTest, SubmitChecksEntrySizesAgainstTheBlobs) {
  v1::SubmitRequest r = FileRelease("1.0", "sixteen bytes!!!");
  r.mutable_manifest(0)->set_size(uint64_t{1} << 63);
  absl::Status status = coordinator_->Submit(r).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("size"), std::string::npos) << status;
  EXPECT_EQ(coordinator_->Status("").releases_size(), 0);
}

// A product or channel names a directory of the published site, beside its
// .cache and .published: a leading dot is refused.
TEST_F(CoordinatorTest, NamesStartingWithADotAreRefused) {
  for (const char* product : {".cache", ".published", ".", ".."}) {
    v1::SubmitRequest r = FileRelease("1.0", "a");
    r.mutable_release()->set_product(product);
    absl::Status status = coordinator_->Submit(r).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << product;
  }
  v1::SubmitRequest r = FileRelease("1.0", "a");
  r.mutable_release()->set_channel(".beta");
  EXPECT_EQ(coordinator_->Submit(r).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(coordinator_->Status("").releases_size(), 0);
}

TEST_F(CoordinatorTest, FailedWritesLeaveNoLeasableJob) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1", "a")).ok());
  store_.FailWrites(true);
  EXPECT_FALSE(coordinator_->Submit(FileRelease("2", "b")).ok());
  EXPECT_EQ(coordinator_->QueueDepth(1), 0u);
  EXPECT_EQ(Acquire("w", 4).jobs_size(), 0);
  EXPECT_EQ(coordinator_->Status("").releases_size(), 1);
  store_.FailWrites(false);
  ASSERT_TRUE(coordinator_->Submit(FileRelease("2", "b")).ok());
  ASSERT_TRUE(coordinator_->Submit(FileRelease("3", "c")).ok());
  v1::OneOffRequest request;
  request.set_product("game");
  request.set_platform("linux-x64");
  request.set_from_version("1");
  request.set_to_version("3");
  const size_t release_jobs = coordinator_->QueueDepth(1);
  store_.FailWrites(true);
  EXPECT_FALSE(coordinator_->RequestOneOff(request).ok());
  EXPECT_EQ(coordinator_->QueueDepth(0), 0u);
  EXPECT_EQ(coordinator_->QueueDepth(1), release_jobs);
  store_.FailWrites(false);
  auto queued = coordinator_->RequestOneOff(request);
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_EQ(coordinator_->QueueDepth(0), 1u);
}

// Manifests past the cache's bound are read back from the store: jobs
// still carry each side's own manifest.
TEST_F(CoordinatorTest, JobsGetTheirManifestsWhenTheCacheHoldsOne) {
  Reopen(/*cached_manifest_entries=*/1);
  std::map<std::string, std::string> content_of;  // Manifest digest -> file content.
  for (const std::string v : {"1", "2", "3"}) {
    const std::string content = "content of " + v;
    ASSERT_TRUE(coordinator_->Submit(FileRelease(v, content)).ok());
    const Digest digest = ManifestDigest(*FromProto(FileRelease(v, content).manifest()));
    content_of[std::string(reinterpret_cast<const char*>(digest.data()), digest.size())] = content;
  }
  v1::AcquireResponse leased = Acquire("w", 8);
  ASSERT_EQ(leased.jobs_size(), 3);  // 1 -> 2, 1 -> 3, 2 -> 3.
  for (const v1::Job& job : leased.jobs()) {
    for (const auto& [digest, manifest] : {std::pair(job.old_manifest_digest(), job.old_manifest()),
                                           std::pair(job.new_manifest_digest(), job.new_manifest())}) {
      ASSERT_EQ(manifest.size(), 1);
      ASSERT_EQ(content_of.count(digest), 1u);
      EXPECT_EQ(BlobContent(manifest.Get(0).digest()), content_of[digest]);
    }
  }
}

// A hotfix is published as hotfix_<platform>_<version>_<name>: a name that
// would make that longer than a file name may be is refused when it is set,
// not at every publish after.
TEST_F(CoordinatorTest, AHotfixNameTooLongForTheSiteIsRefused) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1.0", "content")).ok());
  auto blob = blobs_->Put("fix");
  ASSERT_TRUE(blob.ok());
  v1::HotfixRequest hotfix;
  hotfix.mutable_release()->set_product("game");
  hotfix.mutable_release()->set_platform("linux-x64");
  hotfix.mutable_release()->set_version("1.0");
  v1::ManifestEntry* file = hotfix.add_files();
  file->set_type(1);
  file->set_mode(0644);
  file->set_size(3);
  file->set_digest(DigestBytes(*blob));
  file->set_path(std::string(255 - 21, 'f'));  // hotfix_linux-x64_1.0_ is 21 bytes.
  EXPECT_TRUE(coordinator_->AddHotfix(hotfix).ok());
  file->set_path(std::string(255 - 20, 'f'));
  auto refused = coordinator_->AddHotfix(hotfix);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("at most 255"), std::string::npos);
  file->set_path("replace-0123456789abcdef");  // A replacement's site file.
  refused = coordinator_->AddHotfix(hotfix);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  file->set_path("replace-notes.txt");  // Named like none.
  EXPECT_TRUE(coordinator_->AddHotfix(hotfix).ok());
  for (int i = 1; i <= kMaxHotfixFiles; ++i) {  // One file too many.
    v1::ManifestEntry* more = hotfix.add_files();
    *more = *file;
    char name[16];
    std::snprintf(name, sizeof(name), "zfix%05d", i);  // Sorted after the first.
    more->set_path(name);
  }
  refused = coordinator_->AddHotfix(hotfix);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  hotfix.mutable_files()->RemoveLast();
  auto taken = coordinator_->AddHotfix(hotfix);
  EXPECT_TRUE(taken.ok()) << taken.status();
}

// Two releases' versions make one site file name (from_<platform>_<old>_to_
// <new>): a version too long for that is refused when submitted; it failed
// every publish of the product after.
TEST_F(CoordinatorTest, AVersionTooLongForTheSitesNamesIsRefused) {
  auto tree = [&](const std::string& version, const std::string& content) {
    v1::SubmitRequest r = FileRelease(version, content);
    r.set_kind(v1::RELEASE_KIND_TREE);
    return r;
  };
  // 11 + 9 ("linux-x64") + 2 x 117 = 254: chain_linux-x64_<a>_to_<b> fits.
  EXPECT_TRUE(coordinator_->Submit(tree(std::string(117, '1'), "a")).ok());
  absl::Status status = coordinator_->Submit(tree(std::string(118, '2'), "b")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_NE(status.message().find("at most 255"), std::string::npos) << status;
  EXPECT_EQ(coordinator_->Status("").releases_size(), 1);
  // File releases are not published: their names make no site files.
  EXPECT_TRUE(coordinator_->Submit(FileRelease(std::string(118, '2'), "b")).ok());
}

// 1.0, 1.0.0 and 1.0+b7 order the same: the line's newest would be no one's
// guess (the coordinator and the publisher guessed differently).
TEST_F(CoordinatorTest, AVersionOrderingLikeAnotherIsRefused) {
  ASSERT_TRUE(coordinator_->Submit(FileRelease("1.0", "a")).ok());
  for (const char* same : {"1.0.0", "01.0", "1.0+b7"}) {
    absl::Status status = coordinator_->Submit(FileRelease(same, "b")).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists) << same << ": " << status;
  }
  EXPECT_TRUE(coordinator_->Submit(FileRelease("1.0", "a")).ok());  // The same again.
  EXPECT_TRUE(coordinator_->Submit(FileRelease("1.0.1", "c")).ok());
  v1::SubmitRequest beta = FileRelease("1.0.0", "d");
  beta.mutable_release()->set_channel("beta");  // Another line.
  EXPECT_TRUE(coordinator_->Submit(beta).ok());
  EXPECT_EQ(coordinator_->Status("").releases_size(), 3);
}

}  // namespace
}  // namespace patchfarm
