// Segment jobs in the coordinator (fake clock, in-memory store, real blob
// store and segments): a huge pair is split, its segments run and are
// checked, the join is queued once they are all done, survives a restart,
// and a segment failing for good fails the pair.
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "common/fake_clock.h"
#include "common/file.h"
#include "coordinator/coordinator.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/segments.h"
#include "gtest/gtest.h"
#include "storage/memory_store.h"

namespace patchfarm {
namespace {

class SegmentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto blobs = BlobStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/blobs");
    ASSERT_TRUE(blobs.ok());
    blobs_ = std::move(*blobs);
    std::mt19937_64 rng(1);
    old_.resize(200 << 10);
    for (char& c : old_) c = static_cast<char>(rng());
    new_ = old_.substr(100 << 10) + old_.substr(0, 100 << 10);  // A move.
    new_[5000] ^= 1;
    Reopen();
    for (const auto& [version, content] : {std::pair<std::string, std::string>{"1.0", old_},
                                           {"1.1", new_}}) {
      ASSERT_TRUE(coordinator_->Submit(FileRelease(version, content)).ok());
    }
  }

  void Reopen() {
    coordinator_.reset();
    CoordinatorOptions options;
    options.lease = absl::Seconds(10);
    options.max_attempts = 2;
    options.segment_bytes = 64 << 10;
    auto c = Coordinator::Create(&store_, blobs_.get(), &clock_, options);
    ASSERT_TRUE(c.ok()) << c.status();
    coordinator_ = std::move(*c);
  }

  v1::SubmitRequest FileRelease(const std::string& version, const std::string& content) {
    auto digest = blobs_->Put(content);
    EXPECT_TRUE(digest.ok());
    v1::SubmitRequest r;
    r.mutable_release()->set_product("game");
    r.mutable_release()->set_platform("linux-x64");
    r.mutable_release()->set_version(version);
    r.set_kind(v1::RELEASE_KIND_FILE);
    v1::ManifestEntry* e = r.add_manifest();
    e->set_path("game.pak");
    e->set_type(1);
    e->set_mode(0644);
    e->set_size(content.size());
    e->set_digest(reinterpret_cast<const char*>(digest->data()), digest->size());
    return r;
  }

  std::vector<v1::Job> Acquire(const std::string& worker, int n) {
    v1::AcquireRequest request;
    request.set_worker_id(worker);
    request.set_max_jobs(n);
    auto response = coordinator_->Acquire(request);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? std::vector<v1::Job>(response->jobs().begin(), response->jobs().end())
                         : std::vector<v1::Job>();
  }

  // The segment of new [begin, end), uploaded; its digest.
  std::string UploadSegment(uint64_t begin, uint64_t end) {
    StringSource old(old_), new_file(new_);
    std::string segment;
    StringSink sink(&segment);
    SegmentSpec spec{Sha256Of(old_), Sha256Of(new_), begin, end};
    EXPECT_TRUE(DiffSegment(old, new_file, spec, std::getenv("TEST_TMPDIR"), &sink, {}).ok());
    auto digest = blobs_->Put(segment);
    EXPECT_TRUE(digest.ok());
    return std::string(reinterpret_cast<const char*>(digest->data()), digest->size());
  }

  absl::Status Complete(const v1::Job& job, const std::string& digest, const std::string& worker) {
    v1::CompleteRequest request;
    request.set_worker_id(worker);
    request.set_job_id(job.job_id());
    request.set_lease_id(job.lease_id());
    request.set_package_digest(digest);
    return coordinator_->Complete(request);
  }

  MemoryStore store_;
  std::unique_ptr<BlobStore> blobs_;
  FakeClock clock_;
  std::unique_ptr<Coordinator> coordinator_;
  std::string old_, new_;
};

TEST_F(SegmentsTest, SplitRunJoinAndDropTheSegments) {
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 4u);  // 200 KiB in segments of 64 KiB at most.
  uint64_t at = 0;
  for (const v1::Job& job : jobs) {
    EXPECT_EQ(job.segment_begin(), at);
    EXPECT_GT(job.segment_end(), job.segment_begin());
    at = job.segment_end();
  }
  EXPECT_EQ(at, new_.size());
  // Another range's result is refused; the job stays leased.
  EXPECT_EQ(Complete(jobs[1], UploadSegment(jobs[0].segment_begin(), jobs[0].segment_end()), "w1")
                .code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(Complete(jobs[0], UploadSegment(jobs[0].segment_begin(), jobs[0].segment_end()), "w1")
                  .ok());
  ASSERT_TRUE(Complete(jobs[1], UploadSegment(jobs[1].segment_begin(), jobs[1].segment_end()), "w1")
                  .ok());
  Reopen();  // Leases and results survive; the join waits for the rest.
  EXPECT_TRUE(Acquire("w2", 10).empty());
  std::vector<std::string> digests;
  for (size_t i = 2; i < jobs.size(); ++i) {
    ASSERT_TRUE(
        Complete(jobs[i], UploadSegment(jobs[i].segment_begin(), jobs[i].segment_end()), "w1").ok());
  }
  std::vector<v1::Job> join = Acquire("w2", 10);
  ASSERT_EQ(join.size(), 1u);
  ASSERT_EQ(join[0].segment_digests_size(), 4);
  EXPECT_EQ(join[0].segment_end(), 0u);
  std::vector<std::unique_ptr<FileSource>> files;
  std::vector<const ByteSource*> segments;
  for (const std::string& raw : join[0].segment_digests()) {
    Digest d{};
    ASSERT_TRUE(ParseDigest(raw, &d).ok());
    auto path = blobs_->PathOf(d);
    ASSERT_TRUE(path.ok());
    files.push_back(*FileSource::Open(*path));
    segments.push_back(files.back().get());
  }
  std::string patch;
  StringSink sink(&patch);
  ASSERT_TRUE(JoinSegments(segments, std::getenv("TEST_TMPDIR"), &sink).ok());
  auto patch_digest = blobs_->Put(patch);
  ASSERT_TRUE(patch_digest.ok());
  ASSERT_TRUE(Complete(join[0],
                       std::string(reinterpret_cast<const char*>(patch_digest->data()), 32), "w2")
                  .ok());
  auto status = coordinator_->GetJobStatus(join[0].job_id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(status->package_size(), patch.size());
  // The segments' records and results are gone.
  EXPECT_EQ(coordinator_->GetJobStatus(jobs[0].job_id()).status().code(),
            absl::StatusCode::kNotFound);
  for (const std::string& raw : join[0].segment_digests()) {
    Digest d{};
    ASSERT_TRUE(ParseDigest(raw, &d).ok());
    EXPECT_FALSE(blobs_->Has(d));
  }
}

TEST_F(SegmentsTest, ASegmentFailingForGoodFailsThePair) {
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 4u);
  const std::string pair = jobs[0].job_id().substr(0, jobs[0].job_id().find('.'));
  for (int attempt = 0; attempt < 2; ++attempt) {
    clock_.Advance(absl::Seconds(11));  // The lease runs out: only this segment is retried.
    coordinator_->ExpireLeases();
    std::vector<v1::Job> again = Acquire("w2", 10);
    if (attempt == 0) {
      EXPECT_EQ(again.size(), 4u);
    }
  }
  clock_.Advance(absl::Seconds(11));
  coordinator_->ExpireLeases();
  auto status = coordinator_->GetJobStatus(pair);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(status->error().find("segment"), std::string::npos) << status->error();
}

}  // namespace
}  // namespace patchfarm
