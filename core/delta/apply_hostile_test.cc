// Hostile and mistaken inputs to Apply: every one must give an error, never a
// crash, a hang or a huge allocation.
#include <cstring>
#include <random>
#include <string>

#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"
#include "core/delta/format.h"
#include "core/delta/varint.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

class ApplyHostileTest : public testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(42);
    old_.resize(20000);
    for (char& c : old_) c = static_cast<char>(rng() % 7);
    new_ = old_.substr(5000) + "inserted bytes" + old_.substr(0, 5000);
    new_[100] ^= 0x55;
    DiffOptions options;
    options.level = 3;
    options.try_zstd_prefix = false;
    absl::StatusOr<std::string> patch = Diff(old_, new_, options);
    ASSERT_TRUE(patch.ok()) << patch.status();
    patch_ = *patch;
    options.fast_apply = true;
    patch = Diff(old_, new_, options);
    ASSERT_TRUE(patch.ok()) << patch.status();
    fast_patch_ = *patch;
    options.fast_apply = false;
    options.try_zstd_prefix = true;
    DiffStats stats;
    patch = Diff(old_, new_ + new_, options, &stats);
    ASSERT_TRUE(patch.ok()) << patch.status();
    ASSERT_EQ(stats.method, PatchMethod::kZstdPrefix);
    prefix_patch_ = *patch;
  }

  absl::Status ApplyBytes(const std::string& patch, std::string* out) {
    out->clear();
    StringSink sink(out);
    StringSource source(patch);
    return Apply(old_, source, &sink);
  }

  // Rewrites the header checksum so that a forged header passes it.
  static void ResealHeader(std::string* patch, size_t streams) {
    size_t body = PatchHeaderSize(streams) - 8;
    Digest digest = Sha256Of(absl::string_view(*patch).substr(0, body));
    std::memcpy(&(*patch)[body], digest.data(), 8);
  }

  // patch_ is kSizedLzmaSparseModeledStreams (with exact entries), fast_patch_
  // kStreams, prefix_patch_ kZstdPrefix.
  std::string old_, new_, patch_, fast_patch_, prefix_patch_;
};

TEST_F(ApplyHostileTest, ValidPatchesApply) {
  for (const std::string* patch : {&patch_, &fast_patch_}) {
    std::string out;
    ASSERT_TRUE(ApplyBytes(*patch, &out).ok());
    EXPECT_EQ(out, new_);
  }
  std::string out;
  StringSink sink(&out);
  StringSource source(prefix_patch_);
  ASSERT_TRUE(Apply(old_, source, &sink).ok());
  EXPECT_EQ(out, new_ + new_);
}

TEST_F(ApplyHostileTest, EveryTruncationFails) {
  for (const std::string* patch : {&patch_, &fast_patch_, &prefix_patch_}) {
    for (size_t len = 0; len < patch->size(); ++len) {
      std::string out;
      absl::Status status = ApplyBytes(patch->substr(0, len), &out);
      EXPECT_FALSE(status.ok()) << "truncated to " << len << " bytes";
    }
  }
}

TEST_F(ApplyHostileTest, TrailingGarbageFails) {
  std::string out;
  EXPECT_EQ(ApplyBytes(patch_ + "x", &out).code(), absl::StatusCode::kDataLoss);
}

TEST_F(ApplyHostileTest, RandomBitFlipsFail) {
  std::random_device seeder;
  uint64_t seed = seeder();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const std::string* patch : {&patch_, &fast_patch_, &prefix_patch_}) {
    for (int round = 0; round < 1500; ++round) {
      std::string bad = *patch;
      int flips = 1 + rng() % 3;
      for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] ^= 1 << (rng() % 8);
      if (bad == *patch) continue;  // Two flips of the same bit cancel out.
      std::string out;
      EXPECT_FALSE(ApplyBytes(bad, &out).ok()) << "round " << round;
    }
  }
}

TEST_F(ApplyHostileTest, HugeDeclaredSizesFailWithoutAllocating) {
  // new_size and every stream's raw size, set huge and re-sealed.
  for (size_t field : {16, 88 + 8, 88 + 24 + 8, 88 + 48 + 8}) {
    std::string bad = patch_;
    std::string huge;
    PutFixed64(uint64_t{1} << 62, &huge);
    bad.replace(field, 8, huge);
    ResealHeader(&bad, 3);
    std::string out;
    absl::Status status = ApplyBytes(bad, &out);
    EXPECT_FALSE(status.ok()) << "field at " << field;
    EXPECT_LE(out.size(), new_.size());
  }
}

TEST_F(ApplyHostileTest, HugeCompressedSizeIsTruncation) {
  std::string bad = patch_;
  std::string huge;
  PutFixed64(uint64_t{1} << 62, &huge);
  bad.replace(88, 8, huge);
  ResealHeader(&bad, 3);
  std::string out;
  EXPECT_EQ(ApplyBytes(bad, &out).code(), absl::StatusCode::kDataLoss);
}

TEST_F(ApplyHostileTest, WrongOldFileIsNamed) {
  std::string other_old = old_;
  other_old[7] ^= 1;
  std::string out;
  StringSink sink(&out);
  StringSource source(patch_);
  absl::Status status = Apply(other_old, source, &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("SHA-256"), absl::string_view::npos) << status;
  EXPECT_TRUE(out.empty());
  status = Apply(old_.substr(1), source, &sink);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
}

// With two threads old is hashed while new is written: a wrong old file is
// still the error reported, whatever else decoding against it ran into.
TEST_F(ApplyHostileTest, WrongOldFileIsNamedWhenHashedBesideTheOutput) {
  std::string flipped = old_;
  flipped[7] ^= 1;
  std::string reversed(old_.rbegin(), old_.rend());
  ApplyOptions options;
  options.threads = 2;
  for (const std::string* patch : {&patch_, &fast_patch_}) {
    for (const std::string* other_old : {&flipped, &reversed}) {
      std::string out;
      StringSink sink(&out);
      StringSource source(*patch);
      absl::Status status = Apply(*other_old, source, &sink, options);
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
      EXPECT_NE(status.message().find("SHA-256"), absl::string_view::npos) << status;
    }
    std::string out;
    StringSink sink(&out);
    StringSource source(*patch);
    ASSERT_TRUE(Apply(old_, source, &sink, options).ok());
    EXPECT_TRUE(out == new_);
  }
}

TEST_F(ApplyHostileTest, NotAPatch) {
  std::string out;
  EXPECT_EQ(ApplyBytes("hello, world", &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApplyBytes("", &out).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(ApplyHostileTest, FutureVersionIsRefused) {
  std::string bad = patch_;
  bad[4] = 3;
  std::string out;
  absl::Status status = ApplyBytes(bad, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("version 3"), absl::string_view::npos) << status;
}

TEST_F(ApplyHostileTest, OutputLimitIsEnforcedBeforeWriting) {
  std::string out;
  StringSink sink(&out);
  StringSource source(patch_);
  ApplyOptions options;
  options.max_output_bytes = new_.size() - 1;
  EXPECT_EQ(Apply(old_, source, &sink, options).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace patchfarm
