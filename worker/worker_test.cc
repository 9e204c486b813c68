// The worker's jobs against a fake coordinator (worker_testing.h): acquiring
// a job, fetching its blobs, computing a package that applies bit-exact,
// uploading it and completing it with the job's lease; file jobs over the
// job's memory, tree jobs, the blob and index caches.
#include "core/delta/apply.h"
#include "core/tree/tree_apply.h"
#include "gtest/gtest.h"
#include "worker/worker_testing.h"

namespace patchfarm {
namespace {

TEST_F(WorkerTest, FileJobIsComputedUploadedAndCompletedWithItsLease) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(1, 200000);
  const std::string new_data = NextVersion(2, old_data);
  const std::string old_digest = fake_.PutBlob(old_data);
  const std::string new_digest = fake_.PutBlob(new_data);
  fake_.ScriptJobs({FileJob("job-1", 41, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_TRUE(record.fails.empty());
  ASSERT_EQ(record.acquires.size(), 2u);  // The job, then the drain.
  EXPECT_EQ(record.acquires[0].worker_id(), kWorkerId);
  EXPECT_EQ(record.acquires[0].max_jobs(), 1u);
  std::sort(record.downloads.begin(), record.downloads.end());
  std::vector<std::string> both = {old_digest, new_digest};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(record.downloads, both);

  ASSERT_EQ(record.completes.size(), 1u);
  const v1::CompleteRequest& complete = record.completes[0];
  EXPECT_EQ(complete.worker_id(), kWorkerId);
  EXPECT_EQ(complete.job_id(), "job-1");
  EXPECT_EQ(complete.lease_id(), 41u);
  EXPECT_EQ(record.uploads, std::vector<std::string>{complete.package_digest()});
  std::string patch;
  ASSERT_TRUE(fake_.GetBlob(complete.package_digest(), &patch)) << "the package was not uploaded";
  EXPECT_EQ(complete.package_size(), patch.size());
  EXPECT_LT(patch.size(), new_data.size() / 10);  // A delta, not a copy.

  std::string rebuilt;
  StringSink sink(&rebuilt);
  absl::Status applied = Apply(old_data, StringSource(patch), &sink);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_TRUE(rebuilt == new_data) << "the patch does not rebuild the new file bit-exact";
  EXPECT_NE(worker_->MetricsText().find("patchfarm_worker_jobs_total{result=\"done\"} 1\n"),
            std::string::npos);
}

TEST_F(WorkerTest, FileJobOverItsJobMemoryIsDiffedInBoundedMemory) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(3, 3000000);
  const std::string new_data = NextVersion(4, old_data);
  const std::string newer_data = NextVersion(5, new_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.PutBlob(newer_data);
  // Two jobs from the same old, one after the other: the second finds old's
  // chunk index in the worker's index cache.
  fake_.ScriptJobs({FileJob("job-1", 41, old_data, new_data)});
  fake_.ScriptJobs({FileJob("job-2", 42, old_data, newer_data)});
  fake_.ScriptDrain();
  // 64 MiB: below what whole-file matching would take, even for 3 MB.
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1, "", uint64_t{64} << 20));
  ASSERT_TRUE(RunResult().ok());
  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const std::string& expected = i == 0 ? new_data : newer_data;
    std::string patch;
    ASSERT_TRUE(fake_.GetBlob(record.completes[i].package_digest(), &patch));
    EXPECT_LT(patch.size(), expected.size() / 10);
    absl::StatusOr<PatchHeader> header = InspectPatch(StringSource(patch));
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->method, PatchMethod::kStreams);  // What bounded diff writes.
    std::string rebuilt;
    StringSink sink(&rebuilt);
    ASSERT_TRUE(Apply(old_data, StringSource(patch), &sink).ok());
    EXPECT_TRUE(rebuilt == expected) << "job " << i + 1;
  }
  const std::string metrics = worker_->MetricsText();
  EXPECT_NE(metrics.find("patchfarm_worker_index_cache_total{result=\"miss\"} 1\n"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("patchfarm_worker_index_cache_total{result=\"hit\"} 1\n"),
            std::string::npos) << metrics;
}

TEST_F(WorkerTest, TreeJobPackageRebuildsTheNewTree) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string base = ReleaseBytes(3, 50000);
  TreeSpec old_spec = {
      {"bin/game", {EntryType::kFile, 0755, base}},
      {"data/level1", {EntryType::kFile, 0644, ReleaseBytes(4, 20000)}},
      {"data/empty", {EntryType::kFile, 0644, ""}},
      {"README", {EntryType::kFile, 0644, "version 1\n"}},
      {"latest", {EntryType::kSymlink, 0, "", "bin/game"}},
  };
  TreeSpec new_spec = {
      {"bin/game", {EntryType::kFile, 0755, NextVersion(5, base)}},
      {"levels/level1", {EntryType::kFile, 0644, ReleaseBytes(4, 20000)}},  // Moved.
      {"data/empty", {EntryType::kFile, 0644, ""}},
      {"README", {EntryType::kFile, 0600, "version 2\n"}},
      {"latest", {EntryType::kSymlink, 0, "", "README"}},
  };
  const std::string old_root = dir_ + "/old", new_root = dir_ + "/new";
  ASSERT_TRUE(WriteTree(old_root, old_spec).ok());
  ASSERT_TRUE(WriteTree(new_root, new_spec).ok());
  const Manifest old_tree = ScanOrDie(old_root), new_tree = ScanOrDie(new_root);
  for (const auto& [root, tree] : {std::make_pair(old_root, &old_tree), std::make_pair(new_root, &new_tree)}) {
    for (const ManifestEntry& e : *tree) {
      if (e.type != EntryType::kFile) continue;
      absl::StatusOr<std::string> data = ReadFileToString(root + "/" + e.path);
      ASSERT_TRUE(data.ok()) << data.status();
      fake_.PutBlob(*data);
    }
  }
  fake_.ScriptJobs({MakeJob("tree-job", 7, v1::RELEASE_KIND_TREE, old_tree, new_tree)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_TRUE(record.fails.empty());
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "tree-job");
  EXPECT_EQ(record.completes[0].lease_id(), 7u);
  std::string bytes;
  ASSERT_TRUE(fake_.GetBlob(record.completes[0].package_digest(), &bytes));
  StringSource source(bytes);
  absl::StatusOr<Package> package = ReadPackage(source);
  ASSERT_TRUE(package.ok()) << package.status();
  const std::string out = dir_ + "/out";
  absl::Status applied = ApplyToNewTree(old_root, {PackageInput{"package", &source, &*package}}, out);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(DigestToHex(ManifestDigest(ScanOrDie(out))), DigestToHex(ManifestDigest(new_tree)));
}

TEST_F(WorkerTest, SecondJobFromTheSameOldReleaseUsesTheCachedBlob) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string v1_data = ReleaseBytes(6, 100000);
  const std::string v2_data = NextVersion(7, v1_data), v3_data = NextVersion(8, v1_data);
  const std::string v1_digest = fake_.PutBlob(v1_data);
  fake_.PutBlob(v2_data);
  fake_.PutBlob(v3_data);
  const v1::Job first = FileJob("job-a", 1, v1_data, v2_data);
  fake_.ScriptJobs({first});
  fake_.ScriptJobs({FileJob("job-b", 2, v1_data, v3_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 2u);
  EXPECT_EQ(std::count(record.downloads.begin(), record.downloads.end(), v1_digest), 1);
  EXPECT_EQ(record.downloads.size(), 3u);
  // Once it has worked from v1, the worker says so (the affinity hint).
  ASSERT_EQ(record.acquires.size(), 3u);
  EXPECT_EQ(record.acquires[0].cached_manifests_size(), 0);
  ASSERT_EQ(record.acquires[1].cached_manifests_size(), 1);
  EXPECT_EQ(record.acquires[1].cached_manifests(0), first.old_manifest_digest());
}

// The cache makes room before a job downloads, not only after jobs end: it
// stays within its bound while jobs run.
TEST_F(WorkerTest, TheCacheStaysWithinItsBoundWhileAJobDownloads) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string a = ReleaseBytes(41, 50000), b = NextVersion(42, a);
  const std::string c = ReleaseBytes(43, 50000), d = NextVersion(44, c);
  for (const std::string* blob : {&a, &b, &c, &d}) fake_.PutBlob(*blob);
  // The second job's second download waits until released.
  fake_.GateDownloads([](const Record& r) { return r.downloads.size() < 4 || r.released; });
  fake_.ScriptJobs({FileJob("job-1", 1, a, b)});
  fake_.ScriptJobs({FileJob("job-2", 2, c, d)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1, "", 0, /*cache_bytes=*/120000));
  ASSERT_TRUE(fake_.WaitFor([](const Record& r) { return r.downloads.size() >= 4; }));
  auto view = BlobStore::Open(dir_ + "/cache");
  ASSERT_TRUE(view.ok());
  auto stored = (*view)->List();
  ASSERT_TRUE(stored.ok());
  uint64_t bytes = 0;
  for (const BlobStore::StoredBlob& blob : *stored) bytes += blob.size;
  EXPECT_LE(bytes, 120000u) << stored->size() << " blobs";
  fake_.Release();
  ASSERT_TRUE(RunResult().ok());
  EXPECT_EQ(fake_.Snapshot().completes.size(), 2u);
}

}  // namespace
}  // namespace patchfarm
