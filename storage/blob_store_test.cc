#include "storage/blob_store.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fault_injection_file_system.h"
#include "common/file.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::unique_ptr<BlobStore> NewStore(const std::string& name) {
  auto store = BlobStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/" + name);
  EXPECT_TRUE(store.ok());
  return std::move(*store);
}

TEST(BlobStore, UploadResumesAndVerifies) {
  auto store = NewStore("resume");
  std::string data(3 << 20, 'x');
  data[12345] = 'y';
  Digest digest = Sha256Of(data);
  {
    auto upload = store->StartUpload(digest, data.size(), 0);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Append(absl::string_view(data).substr(0, 1 << 20)).ok());
  }  // Interrupted.
  EXPECT_FALSE(store->Has(digest));
  EXPECT_EQ(store->ReceivedBytes(digest), 1u << 20);
  EXPECT_EQ(store->StartUpload(digest, data.size(), 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto upload = store->StartUpload(digest, data.size(), 1 << 20);
  ASSERT_TRUE(upload.ok());
  EXPECT_EQ(store->StartUpload(digest, data.size(), 1 << 20).status().code(),
            absl::StatusCode::kAborted);
  ASSERT_TRUE((*upload)->Append(absl::string_view(data).substr(1 << 20)).ok());
  ASSERT_TRUE((*upload)->Commit().ok());
  EXPECT_TRUE(store->Has(digest));
}

// Someone sent more bytes under a blob's name than the blob has (a longer
// declared size) and stopped: an upload of the real blob starts over.
TEST(BlobStore, BytesBeyondTheBlobsSizeDoNotBlockItsUpload) {
  auto store = NewStore("longer");
  const std::string data = "the real content";
  const Digest digest = Sha256Of(data);
  {
    auto upload = store->StartUpload(digest, 1 << 20, 0);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Append(std::string(1000, 'z')).ok());
  }  // Interrupted.
  EXPECT_EQ(store->ReceivedBytes(digest), 1000u);
  auto upload = store->StartUpload(digest, data.size(), 0);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE((*upload)->Append(data).ok());
  ASSERT_TRUE((*upload)->Commit().ok());
  EXPECT_TRUE(store->Has(digest));
}

// The bytes of an upload nobody resumed for a day go; those of a younger
// one, or of an upload running, stay.
TEST(BlobStore, StalePartialUploadsAreDropped) {
  auto store = NewStore("stale");
  const Digest interrupted = Sha256Of("interrupted"), running = Sha256Of("running");
  {
    auto upload = store->StartUpload(interrupted, 100, 0);
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Append(std::string(10, 'x')).ok());
  }
  auto upload = store->StartUpload(running, 100, 0);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(std::string(10, 'x')).ok());
  auto young = store->DropStalePartials(absl::Now(), absl::Hours(24));
  ASSERT_TRUE(young.ok()) << young.status();
  EXPECT_EQ(*young, 0u);
  auto day_later = store->DropStalePartials(absl::Now() + absl::Hours(25), absl::Hours(24));
  ASSERT_TRUE(day_later.ok()) << day_later.status();
  EXPECT_EQ(*day_later, 10u);
  EXPECT_EQ(store->ReceivedBytes(interrupted), 0u);
  EXPECT_EQ(store->ReceivedBytes(running), 10u);
}

TEST(BlobStore, WrongBytesAreRefusedAndDropped) {
  auto store = NewStore("wrong");
  Digest claimed = Sha256Of("the real content");
  auto upload = store->StartUpload(claimed, 16, 0);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append("forged  content!").ok());
  EXPECT_EQ((*upload)->Commit().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(store->Has(claimed));
  EXPECT_EQ(store->ReceivedBytes(claimed), 0u);
  upload->reset();  // Ends the upload.
  auto too_long = store->StartUpload(claimed, 4, 0);
  ASSERT_TRUE(too_long.ok());
  EXPECT_FALSE((*too_long)->Append("12345").ok());
}

TEST(BlobStore, PutSourceWithItsDigestStoresOnceAndStillVerifies) {
  auto store = NewStore("put_hashed");
  const std::string data(2 << 20, 'p');
  const Digest digest = Sha256Of(data);
  StringSource source(data);
  ASSERT_TRUE(store->PutSource(source, digest, data.size()).ok());
  EXPECT_TRUE(store->Has(digest));
  EXPECT_TRUE(store->PutSource(source, digest, data.size()).ok());  // Already there.
  // A caller's wrong digest or size stores nothing.
  const std::string other(1 << 20, 'q');
  StringSource other_source(other);
  const Digest wrong = Sha256Of("not these bytes");
  EXPECT_EQ(store->PutSource(other_source, wrong, other.size()).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_FALSE(store->Has(wrong));
  EXPECT_EQ(store->ReceivedBytes(wrong), 0u);
  const Digest right = Sha256Of(other);
  EXPECT_FALSE(store->PutSource(other_source, right, other.size() + 1).ok());
  EXPECT_FALSE(store->Has(right));
  ASSERT_TRUE(store->PutSource(other_source, right, other.size()).ok());
  EXPECT_TRUE(store->Has(right));
}

TEST(BlobStore, EvictsLeastRecentlyUsedButKeeps) {
  auto store = NewStore("evict");
  auto a = store->Put(std::string(1000, 'a'));
  auto b = store->Put(std::string(1000, 'b'));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store->EvictTo(1000, {*a}).ok());
  EXPECT_TRUE(store->Has(*a));
  EXPECT_FALSE(store->Has(*b));
}

TEST(BlobStore, EvictionSparesPinnedBlobsUntilReleased) {
  auto store = NewStore("pins");
  auto a = store->Put(std::string(1000, 'a'));
  auto b = store->Put(std::string(1000, 'b'));
  auto c = store->Put(std::string(1000, 'c'));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  {
    BlobStore::Pin pin = store->PinBlob(*b);
    BlobStore::Pin second = store->PinBlob(*b);
    BlobStore::Pin moved = std::move(second);
    ASSERT_TRUE(store->EvictTo(0, {*a}).ok());
    EXPECT_TRUE(store->Has(*a));
    EXPECT_TRUE(store->Has(*b));
    EXPECT_FALSE(store->Has(*c));
    pin = BlobStore::Pin();  // One pin left.
    ASSERT_TRUE(store->EvictTo(0, {}).ok());
    EXPECT_TRUE(store->Has(*b));
  }
  ASSERT_TRUE(store->EvictTo(0, {}).ok());
  EXPECT_FALSE(store->Has(*a));
  EXPECT_FALSE(store->Has(*b));
}

TEST(BlobStore, EvictionNeverRemovesABlobAPinnedReaderUses) {
  auto store = NewStore("evict-race");
  std::vector<Digest> digests;
  for (int i = 0; i < 8; ++i) {
    auto d = store->Put(std::string(10'000 + i, static_cast<char>('a' + i)));
    ASSERT_TRUE(d.ok());
    digests.push_back(*d);
  }
  std::atomic<bool> stop{false};
  std::thread evictor([&] {
    while (!stop) store->EvictTo(0, {}).IgnoreError();
  });
  int reads = 0;
  for (int round = 0; round < 40; ++round) {  // Each round stores afresh (fsyncs).
    const int i = round % 8;
    std::string data(10'000 + i, static_cast<char>('a' + i));
    BlobStore::Pin pin = store->PinBlob(digests[i]);
    if (!store->Has(digests[i])) {
      ASSERT_TRUE(store->Put(data).ok());
    }
    for (int n = 0; n < 50; ++n) {  // Evictions run meanwhile.
      absl::StatusOr<std::string> path = store->PathOf(digests[i]);
      ASSERT_TRUE(path.ok()) << "evicted while pinned: " << path.status();
      absl::StatusOr<std::string> got = ReadFileToString(*path);
      ASSERT_TRUE(got.ok()) << "evicted while pinned: " << got.status();
      EXPECT_EQ(*got, data);
      ++reads;
    }
  }
  stop = true;
  evictor.join();
  EXPECT_EQ(reads, 40 * 50);
}

TEST(BlobStore, PutNeverDropsTheBytesOfARunningUpload) {
  auto store = NewStore("put-guard");
  std::string data(5000, 'p');
  Digest digest = Sha256Of(data);
  auto upload = store->StartUpload(digest, data.size(), 0);
  ASSERT_TRUE(upload.ok());
  ASSERT_TRUE((*upload)->Append(absl::string_view(data).substr(0, 2000)).ok());
  EXPECT_EQ(store->Put(data).status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store->ReceivedBytes(digest), 2000u);
  ASSERT_TRUE((*upload)->Append(absl::string_view(data).substr(2000)).ok());
  ASSERT_TRUE((*upload)->Commit().ok());
  EXPECT_EQ(*ReadFileToString(*store->PathOf(digest)), data);
  // A stale partial with no upload running is discarded by Put.
  std::string other(3000, 'q');
  Digest other_digest = Sha256Of(other);
  {
    auto stale = store->StartUpload(other_digest, other.size(), 0);
    ASSERT_TRUE(stale.ok());
    ASSERT_TRUE((*stale)->Append("garbage").ok());
  }
  ASSERT_TRUE(store->Put(other).ok());
  EXPECT_EQ(*ReadFileToString(*store->PathOf(other_digest)), other);
  EXPECT_EQ(store->ReceivedBytes(other_digest), 0u);
}

// Power loss at every step of a sequence of uploads: fresh store, Put, an
// upload interrupted and resumed, PutFile, a forged upload, a second blob in
// an existing shard. Afterwards every blob whose Commit (Put, PutFile)
// returned OK is present and intact, a blob reported present is intact, and
// every other upload completes from ReceivedBytes.
struct Blob {
  std::string data;
  Digest digest;
};

std::vector<Blob> CrashBlobs() {
  std::vector<Blob> blobs;
  for (std::string data : {std::string("first blob"), std::string((2 << 20) + 777, 'u'),
                           std::string(300'000, 'f'), std::string("fourth")}) {
    blobs.push_back({data, Sha256Of(data)});
  }
  // A fifth blob in the first one's shard.
  for (int i = 0;; ++i) {
    std::string data = absl::StrCat("same shard ", i);
    Digest d = Sha256Of(data);
    if (d[0] == blobs[0].digest[0]) {
      blobs.push_back({data, d});
      break;
    }
  }
  return blobs;
}

// Runs the sequence; sets committed[i] when blob i's Commit returned OK.
void RunUploads(const std::string& dir, FileSystem* fs, const std::vector<Blob>& blobs,
                const std::string& source_file, std::vector<bool>* committed) {
  auto opened = BlobStore::Open(dir, fs);
  if (!opened.ok()) return;
  BlobStore& store = **opened;
  (*committed)[0] = store.Put(blobs[0].data).ok();
  {
    const Blob& b = blobs[1];
    {
      auto upload = store.StartUpload(b.digest, b.data.size(), 0);
      if (!upload.ok()) return;
      (*upload)->Append(absl::string_view(b.data).substr(0, 1 << 20)).IgnoreError();
    }  // Interrupted.
    uint64_t offset = store.ReceivedBytes(b.digest);
    auto upload = store.StartUpload(b.digest, b.data.size(), offset);
    if (upload.ok()) {
      for (uint64_t at = offset; at < b.data.size(); at += 500'000) {
        if (!(*upload)->Append(absl::string_view(b.data).substr(at, 500'000)).ok()) break;
      }
      (*committed)[1] = (*upload)->Commit().ok();
    }
  }
  (*committed)[2] = store.PutFile(source_file).ok();
  {
    auto forged = store.StartUpload(blobs[3].digest, blobs[3].data.size(), 0);
    if (forged.ok()) {
      (*forged)->Append("FORGED").IgnoreError();
      EXPECT_FALSE((*forged)->Commit().ok());
    }
  }
  (*committed)[3] = store.Put(blobs[3].data).ok();
  (*committed)[4] = store.Put(blobs[4].data).ok();
}

TEST(BlobStoreCrash, PowerLossAtEveryStepKeepsEveryCommittedBlobIntact) {
  const std::string tmp = std::getenv("TEST_TMPDIR");
  const std::vector<Blob> blobs = CrashBlobs();
  const std::string source_file = tmp + "/crash-source";
  ASSERT_TRUE(WriteFileAtomically(source_file, blobs[2].data).ok());
  int crashes = 0;
  for (int crash_at = 0;; ++crash_at) {
    SCOPED_TRACE(absl::StrCat("crash at operation ", crash_at));
    const std::string dir = absl::StrCat(tmp, "/crash-", crash_at);
    std::vector<bool> committed(blobs.size(), false);
    FaultInjectionFileSystem fs(tmp);
    fs.CrashAfter(crash_at);
    RunUploads(dir, &fs, blobs, source_file, &committed);
    const bool crashed = fs.crashed();
    ASSERT_TRUE(fs.SimulatePowerLoss().ok());

    auto store = BlobStore::Open(dir, &fs);  // The next run.
    ASSERT_TRUE(store.ok()) << store.status();
    for (size_t i = 0; i < blobs.size(); ++i) {
      SCOPED_TRACE(absl::StrCat("blob ", i));
      const Blob& b = blobs[i];
      if (committed[i]) {
        EXPECT_TRUE((*store)->Has(b.digest)) << "a committed blob was lost";
      }
      if ((*store)->Has(b.digest)) {
        absl::StatusOr<std::string> data = ReadFileToString(*(*store)->PathOf(b.digest));
        ASSERT_TRUE(data.ok());
        EXPECT_TRUE(*data == b.data) << "a blob reported present is not intact";
        continue;
      }
      // The upload resumes from what survived and completes.
      const uint64_t offset = (*store)->ReceivedBytes(b.digest);
      ASSERT_LE(offset, b.data.size());
      auto upload = (*store)->StartUpload(b.digest, b.data.size(), offset);
      ASSERT_TRUE(upload.ok()) << upload.status();
      ASSERT_TRUE((*upload)->Append(absl::string_view(b.data).substr(offset)).ok());
      absl::Status status = (*upload)->Commit();
      EXPECT_TRUE(status.ok()) << "resuming at " << offset << ": " << status;
    }
    if (!crashed) {
      for (bool c : committed) EXPECT_TRUE(c);
      break;
    }
    ++crashes;
  }
  EXPECT_GT(crashes, 20);
}

}  // namespace
}  // namespace patchfarm
