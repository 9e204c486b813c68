#include "storage/blob_store.h"

#include <cstdlib>
#include <string>

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

TEST(BlobStore, EvictsLeastRecentlyUsedButKeeps) {
  auto store = NewStore("evict");
  auto a = store->Put(std::string(1000, 'a'));
  auto b = store->Put(std::string(1000, 'b'));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store->EvictTo(1000, {*a}).ok());
  EXPECT_TRUE(store->Has(*a));
  EXPECT_FALSE(store->Has(*b));
}

}  // namespace
}  // namespace patchfarm
