// Segment jobs in the coordinator (fake clock, in-memory store, real blob
// store, index parts and segments): a huge pair is split, its index jobs run
// and are checked, its segments are queued once they are all done (with the
// parts to join; the costliest-looking first), run and are checked, the
// join is queued once they are all done, survives a restart, and an index
// job or a segment failing for good fails the pair.
#include <algorithm>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fake_clock.h"
#include "common/file.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_keys.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/index_parts.h"
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
    old_.resize(5 << 19);  // 2.5 MiB: three index parts.
    for (char& c : old_) c = static_cast<char>(rng());
    // Text in [0.5, 1) MiB of old, which the move below takes to the end of
    // new: the one segment that looks costly is new's last.
    for (size_t at = 1 << 19; at < (1 << 20); ++at) {
      old_[at] = "config name = value;\n"[at % 21] + static_cast<char>(rng() % 4 == 0);
    }
    new_ = old_.substr(1 << 20) + old_.substr(0, 1 << 20);  // A move.
    new_[5000] ^= 1;
    Reopen();
    for (const auto& [version, content] : {std::pair<std::string, std::string>{"1.0", old_},
                                           {"1.1", new_}}) {
      ASSERT_TRUE(coordinator_->Submit(FileRelease(version, content)).ok());
    }
  }

  // `part_bytes`: the segment and index part size.
  void Reopen(uint64_t part_bytes = 1 << 20) {
    coordinator_.reset();
    CoordinatorOptions options;
    options.lease = absl::Seconds(10);
    options.max_attempts = 2;
    options.segment_bytes = part_bytes;
    options.index_part_bytes = part_bytes;
    options.log = [this](const std::string& line) { log_.push_back(line); };
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

  // The index part of old at `begin` (named as the old file `as_old` names,
  // parts of `part_bytes`), uploaded; its digest.
  std::string UploadIndexPart(uint64_t begin, const std::string& as_old = "",
                              uint64_t part_bytes = 1 << 20) {
    return UploadIndexPartOf(old_, begin, as_old, part_bytes);
  }
  std::string UploadIndexPartOf(const std::string& old_file, uint64_t begin,
                                const std::string& as_old = "", uint64_t part_bytes = 1 << 20) {
    StringSource old(old_file);
    std::string part;
    StringSink sink(&part);
    DiffOptions options;
    options.index_part_bytes = part_bytes;
    const Digest named = Sha256Of(as_old.empty() ? old_file : as_old);
    EXPECT_TRUE(MakeIndexPart(old, named, begin, options, &sink).ok());
    auto digest = blobs_->Put(part);
    EXPECT_TRUE(digest.ok());
    return std::string(reinterpret_cast<const char*>(digest->data()), digest->size());
  }

  // Runs the pair's three index jobs; their results' digests.
  std::vector<std::string> RunIndexJobs() {
    std::vector<v1::Job> jobs = Acquire("w1", 10);
    EXPECT_EQ(jobs.size(), 3u);  // The segments wait for them.
    std::vector<std::string> digests;
    for (const v1::Job& job : jobs) {
      EXPECT_EQ(job.index_part_bytes(), 1u << 20);
      digests.push_back(UploadIndexPart(job.index_begin()));
      EXPECT_TRUE(Complete(job, digests.back(), "w1").ok());
    }
    return digests;
  }

  // The segment of new [begin, end), uploaded; its digest.
  std::string UploadSegment(uint64_t begin, uint64_t end) {
    return UploadSegmentOf(old_, new_, begin, end);
  }
  std::string UploadSegmentOf(const std::string& old_file, const std::string& new_contents,
                              uint64_t begin, uint64_t end) {
    StringSource old(old_file), new_file(new_contents);
    std::string segment;
    StringSink sink(&segment);
    SegmentSpec spec{Sha256Of(old_file), Sha256Of(new_contents), begin, end};
    EXPECT_TRUE(DiffSegment(old, new_file, spec, std::getenv("TEST_TMPDIR"), &sink, {}).ok());
    auto digest = blobs_->Put(segment);
    EXPECT_TRUE(digest.ok());
    return std::string(reinterpret_cast<const char*>(digest->data()), digest->size());
  }

  // The patch joining the segments the join job `join` names (read from the
  // blob store), uploaded; its digest, and the patch in *patch.
  std::string UploadJoin(const v1::Job& join, std::string* patch) {
    std::vector<std::unique_ptr<FileSource>> files;
    std::vector<const ByteSource*> segments;
    for (const std::string& raw : join.segment_digests()) {
      Digest d{};
      EXPECT_TRUE(ParseDigest(raw, &d).ok());
      auto path = blobs_->PathOf(d);
      if (!path.ok()) ADD_FAILURE() << path.status();
      auto file = FileSource::Open(path.ok() ? *path : "/nonexistent");
      if (!file.ok()) return "";
      files.push_back(*std::move(file));
      segments.push_back(files.back().get());
    }
    StringSink sink(patch);
    EXPECT_TRUE(JoinSegments(segments, std::getenv("TEST_TMPDIR"), &sink).ok());
    auto digest = blobs_->Put(*patch);
    EXPECT_TRUE(digest.ok());
    return digest.ok() ? DigestBytes(*digest) : "";
  }

  // Fails `job`, leased by `worker`, in each of its two attempts ("disk full").
  void FailForGood(v1::Job job, const std::string& worker) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      v1::FailRequest fail;
      fail.set_worker_id(worker);
      fail.set_job_id(job.job_id());
      fail.set_lease_id(job.lease_id());
      fail.set_error("disk full");
      ASSERT_TRUE(coordinator_->Fail(fail).ok());
      if (attempt == 0) job = Acquire(worker, 1).at(0);
    }
  }

  // Asks for the pair 1.0 -> 1.1 again (after it failed).
  void AskAgain() {
    v1::OneOffRequest again;
    again.set_product("game");
    again.set_platform("linux-x64");
    again.set_from_version("1.0");
    again.set_to_version("1.1");
    ASSERT_TRUE(coordinator_->RequestOneOff(again).ok());
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
  std::vector<std::string> log_;
};

TEST_F(SegmentsTest, SplitRunJoinAndDropTheSegments) {
  std::vector<v1::Job> index_jobs = Acquire("w1", 10);
  ASSERT_EQ(index_jobs.size(), 3u);  // Old's parts first; the segments wait.
  uint64_t at = 0;
  for (const v1::Job& job : index_jobs) {
    EXPECT_EQ(job.index_begin(), at);
    EXPECT_EQ(job.index_end(), std::min<uint64_t>(at + (1 << 20), old_.size()));
    EXPECT_EQ(job.segment_end(), 0u);
    at = job.index_end();
  }
  // Another part's, another old file's or another part size's result is
  // refused; the job stays leased.
  EXPECT_EQ(Complete(index_jobs[1], UploadIndexPart(0), "w1").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Complete(index_jobs[0], UploadIndexPart(0, new_), "w1").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Complete(index_jobs[0], UploadIndexPart(0, "", 2 << 20), "w1").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Complete(index_jobs[0], UploadSegment(0, 1 << 20), "w1").code(),
            absl::StatusCode::kInvalidArgument);  // Not an index part at all.
  std::vector<std::string> parts;
  for (const v1::Job& job : index_jobs) parts.push_back(UploadIndexPart(job.index_begin()));
  ASSERT_TRUE(Complete(index_jobs[0], parts[0], "w1").ok());
  const std::string pair = index_jobs[0].job_id().substr(0, index_jobs[0].job_id().find('.'));
  auto split_progress = [&] {
    auto status = coordinator_->GetJobStatus(pair);
    EXPECT_TRUE(status.ok());
    return std::make_pair(status->split_jobs_done(), status->split_jobs());
  };
  EXPECT_EQ(split_progress(), std::make_pair(1u, 6u));  // 3 index jobs, 3 segments.
  Reopen();  // The segments still wait for the other parts.
  EXPECT_TRUE(Acquire("w2", 10).empty());
  ASSERT_TRUE(Complete(index_jobs[1], parts[1], "w1").ok());
  EXPECT_TRUE(Acquire("w2", 10).empty());
  ASSERT_TRUE(Complete(index_jobs[2], parts[2], "w1").ok());

  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);  // 2.5 MiB in segments of 1 MiB at most.
  // The text's segment first (it looks costliest), then the others by offset
  // (the same order after the restart above, from the stored records).
  EXPECT_EQ(jobs[0].segment_end(), new_.size());
  EXPECT_EQ(jobs[1].segment_begin(), 0u);
  at = 0;
  for (const v1::Job& job : {jobs[1], jobs[2], jobs[0]}) {
    EXPECT_EQ(job.segment_begin(), at);
    EXPECT_GT(job.segment_end(), job.segment_begin());
    EXPECT_EQ(std::vector<std::string>(job.index_digests().begin(), job.index_digests().end()),
              parts);
    EXPECT_EQ(job.index_part_bytes(), 1u << 20);
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
  EXPECT_EQ(split_progress(), std::make_pair(5u, 6u));
  std::vector<std::string> digests;
  for (size_t i = 2; i < jobs.size(); ++i) {
    ASSERT_TRUE(
        Complete(jobs[i], UploadSegment(jobs[i].segment_begin(), jobs[i].segment_end()), "w1").ok());
  }
  std::vector<v1::Job> join = Acquire("w2", 10);
  ASSERT_EQ(join.size(), 1u);
  ASSERT_EQ(join[0].segment_digests_size(), 3);
  EXPECT_EQ(join[0].segment_end(), 0u);
  std::string patch;
  ASSERT_TRUE(Complete(join[0], UploadJoin(join[0], &patch), "w2").ok());
  auto status = coordinator_->GetJobStatus(join[0].job_id());
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_DONE);
  EXPECT_EQ(status->package_size(), patch.size());
  EXPECT_EQ(status->split_jobs(), 0u);  // Done: no more parts to follow.
  // The index parts' and segments' records and results are gone.
  EXPECT_EQ(coordinator_->GetJobStatus(jobs[0].job_id()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(coordinator_->GetJobStatus(index_jobs[0].job_id()).status().code(),
            absl::StatusCode::kNotFound);
  std::vector<std::string> results = parts;
  results.insert(results.end(), join[0].segment_digests().begin(), join[0].segment_digests().end());
  for (const std::string& raw : results) {
    Digest d{};
    ASSERT_TRUE(ParseDigest(raw, &d).ok());
    EXPECT_FALSE(blobs_->Has(d));
  }
}

// A pair fails, is asked for again and split anew with another part size:
// a child of the first split that is still leased is none of the new
// split's. It is dropped with the others once the pair is done, lease and
// all: its expiry makes no record, its result is refused.
TEST_F(SegmentsTest, ChildrenOfAnEarlierSplitAreDroppedLeaseAndAll) {
  std::vector<v1::Job> first = Acquire("w1", 10);
  ASSERT_EQ(first.size(), 3u);  // Index parts of 1 MiB.
  const std::string pair = first[0].job_id().substr(0, first[0].job_id().find('.'));
  FailForGood(first[0], "w1");  // .i0 fails for good; .i2 stays leased.
  ASSERT_EQ(coordinator_->GetJobStatus(pair)->state(), v1::JOB_STATE_FAILED);
  const v1::Job stale = first[2];  // [2, 2.5) MiB: no part of 2 MiB starts there.
  AskAgain();
  Reopen(2 << 20);

  std::vector<v1::Job> index_jobs = Acquire("w2", 10);
  ASSERT_EQ(index_jobs.size(), 2u);
  for (const v1::Job& job : index_jobs) {
    ASSERT_TRUE(Complete(job, UploadIndexPart(job.index_begin(), "", 2 << 20), "w2").ok());
  }
  std::vector<v1::Job> segments = Acquire("w2", 10);
  ASSERT_EQ(segments.size(), 2u);
  std::sort(segments.begin(), segments.end(), [](const v1::Job& a, const v1::Job& b) {
    return a.segment_begin() < b.segment_begin();
  });
  for (const v1::Job& job : segments) {
    ASSERT_TRUE(Complete(job, UploadSegment(job.segment_begin(), job.segment_end()), "w2").ok());
  }
  std::vector<v1::Job> join = Acquire("w2", 10);
  ASSERT_EQ(join.size(), 1u);
  std::string patch;
  ASSERT_TRUE(Complete(join[0], UploadJoin(join[0], &patch), "w2").ok());
  EXPECT_EQ(coordinator_->GetJobStatus(pair)->state(), v1::JOB_STATE_DONE);

  EXPECT_EQ(coordinator_->GetJobStatus(stale.job_id()).status().code(),
            absl::StatusCode::kNotFound);
  clock_.Advance(absl::Seconds(11));
  coordinator_->ExpireLeases();  // Its lease went with it: no record comes back.
  EXPECT_EQ(coordinator_->GetJobStatus(stale.job_id()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_NE(Complete(stale, UploadIndexPart(stale.index_begin()), "w1").code(),
            absl::StatusCode::kOk);
}

// A tree pair's job splits its changed files over the segment size (at the
// same path in both trees) into their own index and segment jobs, named by
// path: each file's segments wait for its own index jobs only. Files
// unchanged, added, or whose new content the old tree holds elsewhere stay
// with the tree job, which joins the split files' segments per file.
TEST_F(SegmentsTest, TreePairsSplitTheirHugeFiles) {
  const std::string added(3 << 19, 'a'), kept(3 << 19, 'k'), swapped(3 << 19, 's');
  std::string music_old = old_, music_new = new_;  // Another pair, of the same shape.
  for (std::string* music : {&music_old, &music_new}) {
    for (char& c : *music) c ^= 0x5a;
  }
  auto tree = [&](const std::string& version, bool next) {
    v1::SubmitRequest r;
    r.mutable_release()->set_product("tree-game");
    r.mutable_release()->set_platform("linux-x64");
    r.mutable_release()->set_version(version);
    r.set_kind(v1::RELEASE_KIND_TREE);
    auto add = [&](const std::string& path, uint32_t type, const std::string& content) {
      v1::ManifestEntry* e = r.add_manifest();
      e->set_path(path);
      e->set_type(type);
      e->set_mode(type == 2 ? 0755 : 0644);
      if (type != 1) return;
      auto digest = blobs_->Put(content);
      ASSERT_TRUE(digest.ok());
      e->set_size(content.size());
      e->set_digest(reinterpret_cast<const char*>(digest->data()), digest->size());
    };
    add("data", 2, "");
    if (next) add("data/added.pak", 1, added);
    add("data/game.pak", 1, next ? new_ : old_);
    add("data/kept.pak", 1, kept);
    add("data/music.pak", 1, next ? music_new : music_old);
    add("data/swap.pak", 1, next ? kept : swapped);
    add("readme.txt", 1, "version " + version);
    return r;
  };
  ASSERT_TRUE(coordinator_->Submit(tree("1.0", false)).ok());
  ASSERT_TRUE(coordinator_->Submit(tree("1.1", true)).ok());
  auto of_file = [](const std::vector<v1::Job>& jobs, const std::string& path) {
    std::vector<v1::Job> found;
    for (const v1::Job& job : jobs) {
      if (job.kind() == v1::RELEASE_KIND_TREE && job.split_path() == path) found.push_back(job);
    }
    std::sort(found.begin(), found.end(), [](const v1::Job& a, const v1::Job& b) {
      return a.index_begin() + a.segment_begin() < b.index_begin() + b.segment_begin();
    });
    return found;
  };
  // (The file pair's index jobs, leased too, are left unfinished.)
  const std::vector<v1::Job> leased = Acquire("w1", 20);
  const std::vector<v1::Job> game_index = of_file(leased, "data/game.pak");
  const std::vector<v1::Job> music_index = of_file(leased, "data/music.pak");
  ASSERT_EQ(game_index.size(), 3u);
  ASSERT_EQ(music_index.size(), 3u);
  EXPECT_EQ(leased.size(), 9u);  // And no other file of the tree.
  EXPECT_NE(game_index[0].job_id().find(".e0.i"), std::string::npos) << game_index[0].job_id();
  EXPECT_NE(music_index[0].job_id().find(".e1.i"), std::string::npos) << music_index[0].job_id();
  // A file's jobs carry that file and the directories above it, not the trees.
  for (const auto* manifest : {&game_index[0].old_manifest(), &game_index[0].new_manifest()}) {
    ASSERT_EQ(manifest->size(), 2);
    EXPECT_EQ(manifest->Get(0).path(), "data");
    EXPECT_EQ(manifest->Get(1).path(), "data/game.pak");
  }
  EXPECT_EQ(Complete(music_index[0], UploadIndexPart(0), "w1").code(),
            absl::StatusCode::kPermissionDenied);  // Another old file's.

  // Music's index done: its segments only, with its parts.
  std::vector<std::string> music_parts;
  for (const v1::Job& job : music_index) {
    music_parts.push_back(UploadIndexPartOf(music_old, job.index_begin()));
    ASSERT_TRUE(Complete(job, music_parts.back(), "w1").ok());
  }
  const std::vector<v1::Job> music_segments = Acquire("w1", 20);
  ASSERT_EQ(music_segments.size(), 3u);
  ASSERT_EQ(of_file(music_segments, "data/music.pak").size(), 3u);
  std::vector<std::string> music_digests;
  for (const v1::Job& job : of_file(music_segments, "data/music.pak")) {
    EXPECT_EQ(std::vector<std::string>(job.index_digests().begin(), job.index_digests().end()),
              music_parts);
    EXPECT_EQ(Complete(job, UploadSegment(job.segment_begin(), job.segment_end()), "w1").code(),
              absl::StatusCode::kPermissionDenied);  // Another pair's.
    music_digests.push_back(
        UploadSegmentOf(music_old, music_new, job.segment_begin(), job.segment_end()));
    ASSERT_TRUE(Complete(job, music_digests.back(), "w1").ok());
  }
  EXPECT_TRUE(Acquire("w1", 20).empty());  // Game's index is not done.

  std::vector<std::string> game_parts;
  for (const v1::Job& job : game_index) {
    game_parts.push_back(UploadIndexPart(job.index_begin()));
    ASSERT_TRUE(Complete(job, game_parts.back(), "w1").ok());
  }
  const std::vector<v1::Job> game_segments = of_file(Acquire("w1", 10), "data/game.pak");
  ASSERT_EQ(game_segments.size(), 3u);
  std::vector<std::string> game_digests;
  for (const v1::Job& job : game_segments) {
    EXPECT_EQ(std::vector<std::string>(job.index_digests().begin(), job.index_digests().end()),
              game_parts);
    game_digests.push_back(UploadSegment(job.segment_begin(), job.segment_end()));
    ASSERT_TRUE(Complete(job, game_digests.back(), "w1").ok());
  }
  Reopen();  // The tree job is queued again from the stored records.
  std::vector<v1::Job> join = Acquire("w2", 10);
  ASSERT_EQ(join.size(), 1u);
  EXPECT_EQ(join[0].kind(), v1::RELEASE_KIND_TREE);
  EXPECT_EQ(join[0].job_id().find('.'), std::string::npos);
  EXPECT_EQ(join[0].segment_digests_size(), 0);
  ASSERT_EQ(join[0].split_files_size(), 2);
  EXPECT_EQ(join[0].split_files(0).path(), "data/game.pak");
  EXPECT_EQ(std::vector<std::string>(join[0].split_files(0).segment_digests().begin(),
                                     join[0].split_files(0).segment_digests().end()),
            game_digests);
  EXPECT_EQ(join[0].split_files(1).path(), "data/music.pak");
  EXPECT_EQ(std::vector<std::string>(join[0].split_files(1).segment_digests().begin(),
                                     join[0].split_files(1).segment_digests().end()),
            music_digests);
}

TEST_F(SegmentsTest, APairWhoseSplitCannotBeWrittenIsRetriedAfterADelay) {
  // Requeued at once, a failed split came back in the same Acquire and used
  // up the pair's two attempts there.
  store_.FailWrites(true);
  EXPECT_TRUE(Acquire("w1", 10).empty());
  store_.FailWrites(false);
  EXPECT_TRUE(Acquire("w1", 10).empty()) << "held out of the queue for a while";
  clock_.Advance(kHandOutRetryDelay + absl::Seconds(1));
  coordinator_->ExpireLeases();
  EXPECT_EQ(Acquire("w1", 10).size(), 3u) << "the split's index jobs";
}

TEST_F(SegmentsTest, AnIndexJobFailingForGoodFailsThePair) {
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);
  ASSERT_GT(jobs[0].index_end(), 0u);
  const std::string pair = jobs[0].job_id().substr(0, jobs[0].job_id().find('.'));
  for (int attempt = 0; attempt < 2; ++attempt) {
    clock_.Advance(absl::Seconds(11));  // The leases run out: only the index jobs are retried.
    coordinator_->ExpireLeases();
    std::vector<v1::Job> again = Acquire("w2", 10);
    if (attempt == 0) {
      EXPECT_EQ(again.size(), 3u);
      for (const v1::Job& job : again) EXPECT_GT(job.index_end(), 0u);
    }
  }
  auto status = coordinator_->GetJobStatus(pair);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(status->error().find("index job"), std::string::npos) << status->error();
}

TEST_F(SegmentsTest, ASegmentFailingForGoodFailsThePair) {
  RunIndexJobs();
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);
  const std::string pair = jobs[0].job_id().substr(0, jobs[0].job_id().find('.'));
  for (int attempt = 0; attempt < 2; ++attempt) {
    clock_.Advance(absl::Seconds(11));  // The lease runs out: only this segment is retried.
    coordinator_->ExpireLeases();
    std::vector<v1::Job> again = Acquire("w2", 10);
    if (attempt == 0) {
      EXPECT_EQ(again.size(), 3u);
    }
  }
  clock_.Advance(absl::Seconds(11));
  coordinator_->ExpireLeases();
  auto status = coordinator_->GetJobStatus(pair);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(status->error().find("segment"), std::string::npos) << status->error();
}

// A segment whose body is corrupt (here a frame's last byte) is refused when
// its job completes: accepted, it would fail every join of the pair, and a
// retry would keep it.
TEST_F(SegmentsTest, ASegmentIsCheckedWholeWhenItsJobCompletes) {
  RunIndexJobs();
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);
  StringSource old(old_), new_file(new_);
  std::string segment;
  StringSink sink(&segment);
  SegmentSpec spec{Sha256Of(old_), Sha256Of(new_), jobs[0].segment_begin(),
                   jobs[0].segment_end()};
  ASSERT_TRUE(DiffSegment(old, new_file, spec, std::getenv("TEST_TMPDIR"), &sink, {}).ok());
  segment.back() ^= 1;
  auto digest = blobs_->Put(segment);
  ASSERT_TRUE(digest.ok());
  const absl::Status refused = Complete(jobs[0], DigestBytes(*digest), "w1");
  EXPECT_EQ(refused.code(), absl::StatusCode::kDataLoss) << refused;
  segment.back() ^= 1;
  digest = blobs_->Put(segment);
  ASSERT_TRUE(digest.ok());
  EXPECT_TRUE(Complete(jobs[0], DigestBytes(*digest), "w1").ok());  // Its lease holds.
}

// The lease of a job that a new split replaces (the same id: the pair failed
// and was asked again) ends: its worker hears at its next heartbeat that it
// is lost, and its death does not cost the new job an attempt.
TEST_F(SegmentsTest, ASplitAnewEndsTheLeasesOfTheJobsItReplaces) {
  RunIndexJobs();
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);
  const std::string pair = jobs[0].job_id().substr(0, jobs[0].job_id().find('.'));
  FailForGood(jobs[0], "w1");
  ASSERT_EQ(coordinator_->GetJobStatus(pair)->state(), v1::JOB_STATE_FAILED);
  AskAgain();
  // Split anew (the same three segments), of which one is leased again.
  EXPECT_EQ(Acquire("w2", 1).size(), 1u);
  v1::HeartbeatRequest beat;
  beat.set_worker_id("w1");
  for (const v1::Job& job : {jobs[1], jobs[2]}) {
    beat.add_job_ids(job.job_id());
    beat.add_lease_ids(job.lease_id());
  }
  auto heard = coordinator_->Heartbeat(beat);
  ASSERT_TRUE(heard.ok()) << heard.status();
  EXPECT_EQ(heard->lost_job_ids_size(), 2);
}

// A segment failed for good, and the coordinator died before it wrote its
// pair's record (two writes): at restart the pair fails, as it would have,
// instead of waiting forever for a join.
TEST_F(SegmentsTest, AtRestartAFailedSegmentFailsAPairLeftQueued) {
  RunIndexJobs();
  std::vector<v1::Job> jobs = Acquire("w1", 10);
  ASSERT_EQ(jobs.size(), 3u);
  const std::string pair = jobs[0].job_id().substr(0, jobs[0].job_id().find('.'));
  const std::string key = std::string(coordinator_keys::kJobPrefix) + pair;
  auto queued = store_.Get(key);
  ASSERT_TRUE(queued.ok() && queued->has_value());
  FailForGood(jobs[0], "w1");
  ASSERT_TRUE(store_.Write({{key, **queued}}, true).ok());  // The pair's write, lost.
  Reopen();
  auto status = coordinator_->GetJobStatus(pair);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->state(), v1::JOB_STATE_FAILED);
  EXPECT_NE(status->error().find("disk full"), std::string::npos) << status->error();
}

// Samples of new files that order a split's segments are read under the
// coordinator's lock: at most 32 MiB an Acquire, fewer a segment as
// segments add up, none past 512 segments (then they queue by offset).
TEST_F(SegmentsTest, AnAcquireReadsABoundedAmountOfSamples) {
  Reopen(64 << 10);
  auto tree = [&](const std::string& product, const std::string& version, int files) {
    v1::SubmitRequest r = FileRelease(version, version == "1.0" ? old_ : new_);  // 40 segments.
    r.mutable_release()->set_product(product);
    r.set_kind(v1::RELEASE_KIND_TREE);
    const v1::ManifestEntry pak = r.manifest(0);
    r.clear_manifest();
    for (int i = 0; i < files; ++i) {
      v1::ManifestEntry* e = r.add_manifest();
      *e = pak;
      e->set_path(absl::StrCat(product, ".pak", 10 + i));  // Trees of their own.
    }
    return r;
  };
  // Splits the pairs of `products` (of `files` files each) in one Acquire;
  // the files whose segments queue by offset.
  auto by_offset = [&](const std::vector<std::string>& products, int files) {
    for (const std::string& product : products) {
      EXPECT_TRUE(coordinator_->Submit(tree(product, "1.0", files)).ok());
      EXPECT_TRUE(coordinator_->Submit(tree(product, "1.1", files)).ok());
    }
    log_.clear();
    Acquire("w1", 64);
    EXPECT_EQ(std::count_if(log_.begin(), log_.end(),
                            [](const std::string& l) { return l.find(".pak") != std::string::npos; }),
              static_cast<int>(products.size()) * files);
    return std::count_if(log_.begin(), log_.end(), [](const std::string& l) {
      return l.find("event=segments_by_offset") != std::string::npos;
    });
  };
  while (!Acquire("w1", 64).empty()) {  // The file pair of SetUp, out of the way.
  }
  EXPECT_EQ(by_offset({"sampled"}, 12), 0);     // 12 x 40 = 480 segments: a sample each.
  EXPECT_EQ(by_offset({"by-offset"}, 13), 13);  // 13 x 40 = 520.
  EXPECT_NE(log_.front().find("520 segments, 512 samples left"), std::string::npos) << log_.front();
  // 2 x 7 x 40: the first split takes 280 samples, 232 are left for 280.
  EXPECT_EQ(by_offset({"first", "second"}, 7), 7);
}

}  // namespace
}  // namespace patchfarm
