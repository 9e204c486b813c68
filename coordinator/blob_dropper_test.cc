// The blob dropper deletes only what nothing references (coordinator/blob_dropper.h).
#include "coordinator/blob_dropper.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "common/file.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

class BlobDropperTest : public testing::Test {
 protected:
  void SetUp() override {
    static int n = 0;
    auto blobs = BlobStore::Open(std::string(std::getenv("TEST_TMPDIR")) + "/blobs" +
                                 std::to_string(n++));
    ASSERT_TRUE(blobs.ok()) << blobs.status();
    blobs_ = std::move(*blobs);
  }

  DropCandidate Put(const std::string& data, const std::string& job) {
    auto digest = blobs_->Put(data);
    EXPECT_TRUE(digest.ok());
    DropCandidate c;
    c.digest = *digest;
    c.job_id = job;
    c.from_version = "1.0";
    c.to_version = "2.0";
    return c;
  }

  std::unique_ptr<BlobStore> blobs_;
  std::vector<std::string> log_;
};

TEST_F(BlobDropperTest, DropsUnreferencedBlobsAndKeepsReferencedOnes) {
  BlobDropper dropper(blobs_.get(), DefaultFileSystem(),
                      [this](const std::string& line) { log_.push_back(line); });
  DropCandidate old_package = Put("an old package", "job-a");
  DropCandidate shared = Put("a package that a release also ships", "job-b");
  DropCandidate gone = old_package;  // The same blob for a second job: dropped once.
  gone.job_id = "job-c";
  std::vector<DropCandidate> dropped = dropper.Drop({old_package, shared, gone}, {shared.digest});
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_EQ(dropped[0].job_id, "job-a");
  EXPECT_EQ(dropped[1].job_id, "job-c");
  EXPECT_FALSE(blobs_->Has(old_package.digest));
  EXPECT_TRUE(blobs_->Has(shared.digest)) << "a referenced blob was deleted";
  EXPECT_EQ(dropper.blobs_dropped(), 1u);
  EXPECT_EQ(dropper.bytes_dropped(), std::string("an old package").size());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], "event=blob_dropped blob=" + DigestToHex(old_package.digest) +
                         " job=job-a from=1.0 to=2.0 bytes=14");
}

TEST_F(BlobDropperTest, ABlobAlreadyGoneCountsAsDroppedButNotAsRemoved) {
  BlobDropper dropper(blobs_.get(), DefaultFileSystem(),
                      [this](const std::string& line) { log_.push_back(line); });
  DropCandidate c = Put("dropped before a crash", "");
  ASSERT_EQ(dropper.Drop({c}, {}).size(), 1u);
  EXPECT_EQ(dropper.Drop({c}, {}).size(), 1u);  // Again: nothing left to remove.
  EXPECT_EQ(dropper.blobs_dropped(), 1u);
  EXPECT_EQ(log_.size(), 1u);
}

TEST_F(BlobDropperTest, EverythingReferencedMeansNothingIsDeleted) {
  BlobDropper dropper(blobs_.get(), DefaultFileSystem(), nullptr);
  std::vector<DropCandidate> all;
  std::set<Digest> referenced;
  for (int i = 0; i < 20; ++i) {
    all.push_back(Put("package " + std::to_string(i), "job-" + std::to_string(i)));
    referenced.insert(all.back().digest);
  }
  EXPECT_TRUE(dropper.Drop(all, referenced).empty());
  for (const DropCandidate& c : all) EXPECT_TRUE(blobs_->Has(c.digest));
  EXPECT_EQ(dropper.blobs_dropped(), 0u);
}

}  // namespace
}  // namespace patchfarm
