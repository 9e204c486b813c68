// Apply with old read through a ByteSource: the same output as with old in
// memory, reads of bounded size that never pass old's end, and every failure
// of a read (an error, a short read, old changing underneath) reported.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"
#include "core/delta/format.h"
#include "core/delta/varint.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Old in memory, read only through ReadAt, with faults on demand and a record
// of the reads.
class TestOldSource : public ByteSource {
 public:
  explicit TestOldSource(std::string data) : data_(std::move(data)), size_(data_.size()) {}
  // A source claiming `size` bytes; any read of it fails the test.
  static TestOldSource Unreadable(uint64_t size) {
    TestOldSource source("");
    source.size_ = size;
    source.unreadable_ = true;
    return source;
  }

  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    EXPECT_FALSE(unreadable_) << "read at " << offset;
    const int read = reads_++;
    largest_read_ = std::max(largest_read_, n);
    bytes_read_ += n;
    if (offset > size_ || n > size_ - offset) read_past_end_ = true;
    if (read == change_at_read_) data_[change_offset_] ^= 1;
    if (read == fail_at_read_) return absl::UnavailableError("injected read error");
    absl::StatusOr<size_t> got = StringSource(data_).ReadAt(offset, buf, n);
    if (read == short_at_read_ && got.ok()) return *got / 2;
    return got;
  }

  // Faults, each at the given read (counted from 0).
  void FailAt(int read) { fail_at_read_ = read; }
  void ShortAt(int read) { short_at_read_ = read; }
  void ChangeAt(int read, size_t offset) {
    change_at_read_ = read;
    change_offset_ = offset;
  }

  int reads() const { return reads_; }
  size_t largest_read() const { return largest_read_; }
  uint64_t bytes_read() const { return bytes_read_; }
  bool read_past_end() const { return read_past_end_; }

 private:
  mutable std::string data_;
  uint64_t size_;
  bool unreadable_ = false;
  int fail_at_read_ = -1, short_at_read_ = -1, change_at_read_ = -1;
  size_t change_offset_ = 0;
  mutable int reads_ = 0;
  mutable size_t largest_read_ = 0;
  mutable uint64_t bytes_read_ = 0;
  mutable bool read_past_end_ = false;
};

// Adds `delta` to the 32-bit little-endian value at every 16th position, as
// relinking does: every byte of new lies in one long diff region of old.
std::string RewritePointers(const std::string& old, uint32_t delta) {
  std::string s = old;
  for (size_t i = 0; i + 4 <= s.size(); i += 16) {
    uint32_t v = 0;
    for (int b = 0; b < 4; ++b) v |= uint32_t{static_cast<uint8_t>(s[i + b])} << (8 * b);
    v += delta;
    for (int b = 0; b < 4; ++b) s[i + b] = static_cast<char>(v >> (8 * b));
  }
  return s;
}

// Patches of every method, made once for the whole suite.
struct Inputs {
  std::string old_data, new_data, modeled_patch, streams_patch;
  std::string small_old, prefix_new, prefix_patch;
};

std::string DiffOrEmpty(const std::string& old_data, const std::string& new_data,
                        const DiffOptions& options, PatchMethod method) {
  DiffStats stats;
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, options, &stats);
  EXPECT_TRUE(patch.ok()) << patch.status();
  EXPECT_EQ(stats.method, method);
  return patch.ok() ? *patch : std::string();
}

Inputs MakeInputs() {
  Inputs in;
  std::mt19937_64 rng(7);
  // Several times the apply's 256 KiB pieces and its 1 MiB old buffer, with
  // an odd length and new starting at an odd offset, so that pieces, reads
  // and the diff model's look-ahead cross every kind of boundary.
  in.old_data.resize((5 << 19) + 3);
  for (char& c : in.old_data) c = static_cast<char>(rng() % 16);
  in.new_data = "12345" + RewritePointers(in.old_data, 0x40) + "tail";
  DiffOptions options;
  options.level = 3;
  options.try_zstd_prefix = false;
  options.sparse = false;  // Method 3: version 1 patches keep applying.
  in.modeled_patch =
      DiffOrEmpty(in.old_data, in.new_data, options, PatchMethod::kModeledStreams);
  options.fast_apply = true;
  in.streams_patch = DiffOrEmpty(in.old_data, in.new_data, options, PatchMethod::kStreams);

  in.small_old.resize(20000);
  for (char& c : in.small_old) c = static_cast<char>(rng() % 7);
  std::string small_new = in.small_old.substr(5000) + "inserted" + in.small_old.substr(0, 5000);
  in.prefix_new = small_new + small_new;
  options = DiffOptions();
  options.level = 3;
  in.prefix_patch =
      DiffOrEmpty(in.small_old, in.prefix_new, options, PatchMethod::kZstdPrefix);
  return in;
}

class ApplySourceTest : public testing::Test {
 protected:
  static void SetUpTestSuite() { inputs_ = new Inputs(MakeInputs()); }
  static void TearDownTestSuite() {
    delete inputs_;
    inputs_ = nullptr;
  }

  struct Case {
    const char* name;
    const std::string* old_data;
    const std::string* patch;
    const std::string* new_data;
  };
  static std::vector<Case> Cases() {
    return {{"modeled streams", &inputs_->old_data, &inputs_->modeled_patch, &inputs_->new_data},
            {"streams", &inputs_->old_data, &inputs_->streams_patch, &inputs_->new_data},
            {"zstd prefix", &inputs_->small_old, &inputs_->prefix_patch, &inputs_->prefix_new}};
  }

  static absl::Status ApplyFromSource(const TestOldSource& old, const std::string& patch,
                                      std::string* out) {
    out->clear();
    StringSink sink(out);
    StringSource patch_source(patch);
    return Apply(old, patch_source, &sink);
  }

  static Inputs* inputs_;
};

Inputs* ApplySourceTest::inputs_ = nullptr;

TEST_F(ApplySourceTest, SourceAndMemoryGiveTheSameOutput) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    TestOldSource old(*c.old_data);
    std::string from_source, from_memory;
    ASSERT_TRUE(ApplyFromSource(old, *c.patch, &from_source).ok());
    StringSink sink(&from_memory);
    StringSource patch(*c.patch);
    ASSERT_TRUE(Apply(*c.old_data, patch, &sink).ok());
    EXPECT_TRUE(from_source == *c.new_data);
    EXPECT_TRUE(from_memory == *c.new_data);
  }
}

TEST_F(ApplySourceTest, ReadsOldInBoundedPiecesWithinItsSize) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    TestOldSource old(*c.old_data);
    std::string out;
    ASSERT_TRUE(ApplyFromSource(old, *c.patch, &out).ok());
    EXPECT_LE(old.largest_read(), size_t{1} << 20);
    EXPECT_FALSE(old.read_past_end());
    // One hashing pass and about one more for the diff regions.
    EXPECT_LE(old.bytes_read(), 2 * c.old_data->size() + (size_t{1} << 20));
  }
}

TEST_F(ApplySourceTest, TinyOldFilesRoundTrip) {
  const std::string cases[] = {"", "a", std::string(9, '\0')};
  for (const std::string& old_data : cases) {
    for (const std::string& new_data : cases) {
      for (bool fast_apply : {false, true}) {
        DiffOptions options;
        options.level = 3;
        options.fast_apply = fast_apply;
        absl::StatusOr<std::string> patch = Diff(old_data, new_data, options);
        ASSERT_TRUE(patch.ok()) << patch.status();
        TestOldSource old(old_data);
        std::string out;
        ASSERT_TRUE(ApplyFromSource(old, *patch, &out).ok());
        EXPECT_EQ(out, new_data);
        EXPECT_FALSE(old.read_past_end());
      }
    }
  }
}

TEST_F(ApplySourceTest, EveryReadErrorIsReturnedWithItsCode) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    TestOldSource clean(*c.old_data);
    std::string out;
    ASSERT_TRUE(ApplyFromSource(clean, *c.patch, &out).ok());
    ASSERT_GE(clean.reads(), 1);
    for (int read = 0; read < clean.reads(); ++read) {
      TestOldSource old(*c.old_data);
      old.FailAt(read);
      absl::Status status = ApplyFromSource(old, *c.patch, &out);
      EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << "read " << read;
      EXPECT_NE(status.message().find("injected read error"), absl::string_view::npos)
          << status;
      EXPECT_NE(status.message().find("old file at offset"), absl::string_view::npos)
          << status;
      EXPECT_EQ(old.reads(), read + 1) << "no read after the failed one";
    }
  }
}

TEST_F(ApplySourceTest, EveryShortReadIsFailedPrecondition) {
  for (const Case& c : Cases()) {
    SCOPED_TRACE(c.name);
    TestOldSource clean(*c.old_data);
    std::string out;
    ASSERT_TRUE(ApplyFromSource(clean, *c.patch, &out).ok());
    for (int read = 0; read < clean.reads(); ++read) {
      TestOldSource old(*c.old_data);
      old.ShortAt(read);
      absl::Status status = ApplyFromSource(old, *c.patch, &out);
      EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition)
          << "read " << read << ": " << status;
      EXPECT_NE(status.message().find("change during apply"), absl::string_view::npos)
          << status;
    }
  }
}

TEST_F(ApplySourceTest, ShortReadWhileHashingWritesNothing) {
  TestOldSource old(inputs_->old_data);
  old.ShortAt(1);  // The second piece of the hashing pass.
  std::string out;
  EXPECT_EQ(ApplyFromSource(old, inputs_->modeled_patch, &out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(out.empty());
}

TEST_F(ApplySourceTest, OldChangedAfterHashingIsDataLoss) {
  for (const std::string* patch : {&inputs_->modeled_patch, &inputs_->streams_patch}) {
    TestOldSource old(inputs_->old_data);
    // Old is 2.5 MiB: the hashing pass takes 3 reads; change a byte under
    // the first control entry just before the apply reads it.
    old.ChangeAt(3, 100);
    std::string out;
    absl::Status status = ApplyFromSource(old, *patch, &out);
    // The diff model's decoder reads old, so it may fail first; with zstd
    // diff bytes the output check catches it.
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    if (patch == &inputs_->streams_patch) {
      EXPECT_NE(status.message().find("SHA-256"), absl::string_view::npos) << status;
    }
  }
}

// A caller that hashed old already says so: old is not hashed again (fewer
// bytes read than old holds twice), a digest that is not the patch's is
// refused before any output, and old changed since still fails the output.
TEST_F(ApplySourceTest, AnOldDigestKnownIsNotHashedAgain) {
  const Digest digest = Sha256Of(inputs_->old_data);
  for (const std::string* patch : {&inputs_->modeled_patch, &inputs_->streams_patch}) {
    StringSource patch_source(*patch);
    ApplyOptions known;
    known.old_digest = digest;
    TestOldSource hashed(inputs_->old_data), trusted(inputs_->old_data);
    std::string out, trusted_out;
    StringSink sink(&out), trusted_sink(&trusted_out);
    ASSERT_TRUE(Apply(hashed, patch_source, &sink).ok());
    absl::Status status = Apply(trusted, patch_source, &trusted_sink, known);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_TRUE(trusted_out == inputs_->new_data);
    EXPECT_LT(trusted.bytes_read(), hashed.bytes_read());

    known.old_digest = Sha256Of("another file");
    TestOldSource other(inputs_->old_data);
    std::string refused_out;
    StringSink refused_sink(&refused_out);
    status = Apply(other, patch_source, &refused_sink, known);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_TRUE(refused_out.empty());

    known.old_digest = digest;
    TestOldSource changed(inputs_->old_data);
    changed.ChangeAt(0, 100);
    std::string changed_out;
    StringSink changed_sink(&changed_out);
    EXPECT_EQ(Apply(changed, patch_source, &changed_sink, known).code(),
              absl::StatusCode::kDataLoss);
  }
}

TEST_F(ApplySourceTest, WrongOldSizeIsRefusedBeforeAnyRead) {
  TestOldSource old = TestOldSource::Unreadable(inputs_->old_data.size() + 1);
  std::string out;
  EXPECT_EQ(ApplyFromSource(old, inputs_->modeled_patch, &out).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(out.empty());
}

TEST_F(ApplySourceTest, PrefixPatchBeyondItsWindowIsRefusedBeforeReadingOld) {
  // A zstd-prefix header claiming an old file that, with new, exceeds the
  // method's 2 GiB window: Apply would have to hold all of it in memory.
  std::string bad = inputs_->prefix_patch;
  const uint64_t huge_old =
      (uint64_t{1} << kMaxPrefixWindowLog) - inputs_->prefix_new.size() + 1;
  std::string field;
  PutFixed64(huge_old, &field);
  bad.replace(8, 8, field);
  const size_t body = PatchHeaderSize(1) - 8;
  Digest digest = Sha256Of(absl::string_view(bad).substr(0, body));
  std::memcpy(&bad[body], digest.data(), 8);
  TestOldSource old = TestOldSource::Unreadable(huge_old);
  std::string out;
  absl::Status status = ApplyFromSource(old, bad, &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("window"), absl::string_view::npos) << status;
  EXPECT_EQ(old.reads(), 0);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace patchfarm
