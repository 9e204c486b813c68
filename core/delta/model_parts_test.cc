// Apply with the second part of a diff stream decoded ahead on its own thread
// (ApplyOptions::threads = 2, core/delta/model_parts.h): the same output as
// one thread, and errors (a forged second part, a failing sink) reported
// without a hang.
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"
#include "core/delta/format.h"
#include "core/delta/model_parts.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Fast enough for tests; the two-part diff stream as the default writes it.
DiffOptions PatchOptions() {
  DiffOptions options;
  options.try_zstd_prefix = false;
  options.level = 3;
  return options;
}

// A sink that fails once it has taken `limit` bytes.
class FailingSink : public ByteSink {
 public:
  explicit FailingSink(uint64_t limit) : limit_(limit) {}
  absl::Status Append(absl::string_view data) override {
    taken_ += data.size();
    if (taken_ > limit_) return absl::UnavailableError("disk full");
    return absl::OkStatus();
  }

 private:
  uint64_t limit_, taken_ = 0;
};

class ModelPartsTest : public testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(21);
    old_ = RandomBytes(rng, 3 << 20);
    for (size_t at = 0; at < old_.size(); at += 64 << 10) {
      std::string block = old_.substr(at, 64 << 10);
      for (size_t i = 0; i < block.size(); i += 256 + rng() % 512) block[i] += 1 + rng() % 3;
      new_ += block + RandomBytes(rng, 100);
    }
    absl::StatusOr<std::string> patch = Diff(old_, new_, PatchOptions());
    ASSERT_TRUE(patch.ok()) << patch.status();
    patch_ = *patch;
    StringSource source(patch_);
    absl::StatusOr<PatchHeader> header = ReadPatchHeader(source);
    ASSERT_TRUE(header.ok());
    header_ = *header;
    absl::StatusOr<DiffParts> parts = ReadDiffParts(source, header_.streams[kDiffStream], header_.method);
    ASSERT_TRUE(parts.ok()) << parts.status();
    parts_ = *parts;
    second_at_ = parts_.head_bytes + parts_.first_bytes;
    ASSERT_LT(second_at_, header_.streams[kDiffStream].compressed_size);
  }

  absl::Status ApplyWith(const std::string& patch, int threads, ByteSink* sink) {
    StringSource old(old_);
    StringSource source(patch);
    ApplyOptions options;
    options.threads = threads;
    return Apply(old, source, sink, options);
  }

  // patch_ with its diff stream replaced by `diff` and every checksum made
  // to match, so that only the decoders can tell.
  std::string WithDiffStream(const std::string& diff) const {
    std::vector<std::string> frames;
    std::vector<uint64_t> raw_sizes;
    for (const StreamExtent& s : header_.streams) {
      frames.push_back(patch_.substr(s.offset, s.compressed_size));
      raw_sizes.push_back(s.raw_size);
    }
    frames[kDiffStream] = diff;
    return SerializePatch(header_, {frames[0], frames[1], frames[2]}, raw_sizes);
  }

  std::string DiffStream() const {
    const StreamExtent& s = header_.streams[kDiffStream];
    return patch_.substr(s.offset, s.compressed_size);
  }

  std::string old_, new_, patch_;
  PatchHeader header_;
  DiffParts parts_;
  uint64_t second_at_ = 0;  // Where the second part starts in the diff stream.
};

TEST_F(ModelPartsTest, TwoThreadsWriteWhatOneWrites) {
  for (int threads : {1, 2}) {
    std::string out;
    StringSink sink(&out);
    absl::Status status = ApplyWith(patch_, threads, &sink);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(out == new_) << threads << " threads";
  }
}

TEST_F(ModelPartsTest, ForgedSecondPartIsRefused) {
  const std::string diff = DiffStream();
  std::mt19937_64 rng(5);
  for (int round = 0; round < 12; ++round) {
    std::string bad = diff;
    // Not in the last bytes, which the coder may flush without meaning.
    const uint64_t at = second_at_ + rng() % (bad.size() - second_at_ - 8);
    bad[at] ^= static_cast<char>(1 + rng() % 255);
    for (int threads : {1, 2}) {
      std::string out;
      StringSink sink(&out);
      EXPECT_EQ(ApplyWith(WithDiffStream(bad), threads, &sink).code(),
                absl::StatusCode::kDataLoss)
          << "byte " << at << ", " << threads << " threads";
    }
  }
  // The second part cut short, or with a byte more.
  for (const std::string& bad : {diff.substr(0, diff.size() - 1), diff + "x"}) {
    std::string out;
    StringSink sink(&out);
    EXPECT_EQ(ApplyWith(WithDiffStream(bad), 2, &sink).code(), absl::StatusCode::kDataLoss);
  }
}

// Changes every few bytes, some of them runs of 20 to 300: the second part
// decodes to many pieces whose packed runs need long lengths (one and two
// varint bytes) and fill several of the thread's blocks.
class ModelPartsDenseTest : public testing::Test {
 protected:
  void SetUp() override {
    std::mt19937_64 rng(8);
    old_ = RandomBytes(rng, 2 << 20);
    new_ = old_;
    for (size_t i = 0; i < new_.size(); i += 2 + rng() % 24) {
      const size_t run = rng() % 16 != 0 ? 1 : rng() % 4 == 0 ? 150 + rng() % 150 : 20 + rng() % 40;
      for (size_t k = i; k < std::min(new_.size(), i + run); ++k) new_[k] += 1 + rng() % 3;
      i += run;
    }
    absl::StatusOr<std::string> patch = Diff(old_, new_, PatchOptions());
    ASSERT_TRUE(patch.ok()) << patch.status();
    patch_ = *patch;
  }

  absl::Status ApplyWith(int threads, ByteSink* sink) {
    StringSource old(old_);
    StringSource source(patch_);
    ApplyOptions apply;
    apply.threads = threads;
    return Apply(old, source, sink, apply);
  }

  std::string old_, new_, patch_;
};

TEST_F(ModelPartsDenseTest, TwoThreadsWriteWhatOneWrites) {
  StringSource source(patch_);
  absl::StatusOr<PatchHeader> header = ReadPatchHeader(source);
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_TRUE(HasDiffParts(header->method));
  absl::StatusOr<DiffParts> parts = ReadDiffParts(source, header->streams[kDiffStream], header->method);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_LT(parts->head_bytes + parts->first_bytes,
            header->streams[kDiffStream].compressed_size);  // A second part.
  for (int threads : {1, 2}) {
    std::string out;
    StringSink sink(&out);
    absl::Status status = ApplyWith(threads, &sink);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(out == new_) << threads << " threads";
  }
}

// A sink failing while the thread is still decoding: the error, not a hang.
TEST_F(ModelPartsDenseTest, FailingOutputStopsTheThread) {
  for (uint64_t limit : {uint64_t{0}, uint64_t{1} << 20}) {
    FailingSink sink(limit);
    EXPECT_EQ(ApplyWith(2, &sink).code(), absl::StatusCode::kUnavailable) << limit;
  }
}

// The memory estimate that decides whether the second part is decoded ahead:
// the largest benchmark patch fits the bound, a control stream of 8 MiB
// (an unpredicted whole-file patch of millions of entries) does not.
TEST(AheadApplyBytesTest, LargeControlStreamsDecodeOnOneThread) {
  PatchHeader header;
  header.method = PatchMethod::kLzmaSparsePredictedModeledStreams;
  header.streams.resize(3);
  header.streams[kControlStream].raw_size = 1916040;  // biome 2.5.4 -> 2.5.15
  header.streams[kDiffStream].raw_size = 44650334;
  header.streams[kExtraStream].raw_size = 22011530;
  const uint64_t map_bytes = 324344 * 12;
  EXPECT_LE(AheadApplyBytes(header, 19, map_bytes), kApplyMemoryBytes);
  header.method = PatchMethod::kLzmaSparseModeledStreams;
  header.streams[kControlStream].raw_size = 8 << 20;
  EXPECT_GT(AheadApplyBytes(header, 19, 0), kApplyMemoryBytes);
}

TEST_F(ModelPartsTest, FailingOutputStopsTheThread) {
  for (uint64_t limit : {uint64_t{0}, uint64_t{1} << 20, new_.size() - 1}) {
    FailingSink sink(limit);
    EXPECT_EQ(ApplyWith(patch_, 2, &sink).code(), absl::StatusCode::kUnavailable) << limit;
  }
}

}  // namespace
}  // namespace patchfarm
