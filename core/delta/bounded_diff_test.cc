// Bounded-memory diff: exact round trips of pairs larger than the budget,
// moves found across the whole file, files above 4 GiB (generated, never on
// disk), and the choice between whole-file and bounded diff.
#include "core/delta/bounded_diff.h"

#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader.
#include <zstd.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "common/file.h"
#include "common/sha256.h"
#include "core/delta/apply.h"
#include "core/delta/block_index.h"
#include "core/delta/diff.h"
#include "core/delta/diff_files.h"
#include "core/delta/index_store_testing.h"
#include "core/delta/format.h"
#include "core/delta/streamed_coder.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

constexpr uint64_t kPart = uint64_t{1} << 30;

std::string ScratchDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// A sink that hashes what it is given and keeps nothing.
class HashingSink : public ByteSink {
 public:
  absl::Status Append(absl::string_view data) override {
    hash_.Update(data);
    size_ += data.size();
    return absl::OkStatus();
  }
  Digest Finish() { return hash_.Finish(); }
  uint64_t size() const { return size_; }

 private:
  Sha256 hash_;
  uint64_t size_ = 0;
};

// A source made of spans: zeros, pseudo-random bytes (a function of the seed
// and the offset, so any range is computed on demand) or a range of another
// source. Files of any size, without memory or disk.
class SpanSource : public ByteSource {
 public:
  void Zeros(uint64_t n) { spans_.push_back({n, kZeros, 0, nullptr, 0}); }
  void Random(uint64_t n, uint64_t seed) { spans_.push_back({n, kRandom, seed, nullptr, 0}); }
  void Copy(const ByteSource* from, uint64_t offset, uint64_t n) {
    spans_.push_back({n, kCopy, 0, from, offset});
  }
  uint64_t size() const override {
    uint64_t total = 0;
    for (const Span& s : spans_) total += s.length;
    return total;
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    size_t done = 0;
    uint64_t start = 0;
    for (const Span& s : spans_) {
      if (done == n) break;
      const uint64_t at = offset + done;
      if (at >= start + s.length) {
        start += s.length;
        continue;
      }
      const uint64_t in = at - start;
      const size_t take = static_cast<size_t>(std::min<uint64_t>(n - done, s.length - in));
      if (s.kind == kZeros) {
        std::memset(buf + done, 0, take);
      } else if (s.kind == kRandom) {
        for (size_t i = 0; i < take; ++i) buf[done + i] = RandomByte(s.seed, in + i);
      } else {
        absl::StatusOr<size_t> got = s.from->ReadAt(s.offset + in, buf + done, take);
        if (!got.ok()) return got.status();
      }
      done += take;
      start += s.length;
    }
    return done;
  }

 private:
  enum Kind { kZeros, kRandom, kCopy };
  struct Span {
    uint64_t length;
    Kind kind;
    uint64_t seed;
    const ByteSource* from;
    uint64_t offset;
  };
  static char RandomByte(uint64_t seed, uint64_t pos) {
    uint64_t z = seed * 0x9E3779B97F4A7C15 + (pos >> 3) * 0xBF58476D1CE4E5B9;
    z = (z ^ (z >> 31)) * 0x94D049BB133111EB;
    z ^= z >> 29;
    return static_cast<char>(z >> (8 * (pos & 7)));
  }
  std::vector<Span> spans_;
};

Digest DigestOf(const ByteSource& source) {
  Sha256 hash;
  std::string buf(1 << 20, '\0');
  for (uint64_t at = 0; at < source.size();) {
    size_t got = *source.ReadAt(at, buf.data(), buf.size());
    hash.Update(absl::string_view(buf.data(), got));
    at += got;
  }
  return hash.Finish();
}

// Diffs with `max_memory` through DiffBounded, applies, and checks the output.
std::string RoundTrip(const ByteSource& old, const ByteSource& new_file, uint64_t max_memory,
                      DiffStats* stats) {
  DiffOptions options;
  options.max_memory = max_memory;
  std::string patch;
  StringSink patch_sink(&patch);
  absl::Status status = DiffBounded(old, new_file, ScratchDir(), &patch_sink, options, stats);
  EXPECT_TRUE(status.ok()) << status;
  StringSource patch_source(patch);
  absl::StatusOr<PatchHeader> header = InspectPatch(patch_source);
  EXPECT_TRUE(header.ok()) << header.status();
  if (!header.ok()) return patch;
  EXPECT_EQ(header->new_digest, DigestOf(new_file));
  EXPECT_EQ(header->old_digest, DigestOf(old));
  HashingSink out;
  ApplyOptions apply;
  apply.max_output_bytes = uint64_t{1} << 40;
  status = Apply(old, patch_source, &out, apply);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(out.size(), new_file.size());
  EXPECT_EQ(out.Finish(), header->new_digest);
  return patch;
}

TEST(BoundedDiffTest, FindsMovesAnywhereInAPairLargerThanTheBudget) {
  std::mt19937_64 rng(7);
  const std::string old = RandomBytes(rng, 24 << 20);
  // New: old's tail first, then its head with scattered byte edits, 64 KiB of
  // fresh data, then its middle.
  std::string head = old.substr(0, 8 << 20);
  for (int i = 0; i < 100; ++i) head[rng() % head.size()] ^= 0x5a;
  const std::string fresh = RandomBytes(rng, 64 << 10);
  const std::string new_file =
      old.substr(20 << 20) + head + fresh + old.substr(8 << 20, 12 << 20);
  DiffStats stats;
  StringSource old_source(old), new_source(new_file);
  const std::string patch = RoundTrip(old_source, new_source, kMinBoundedMemory, &stats);
  EXPECT_LT(stats.extra_bytes, fresh.size() + (256 << 10));
  EXPECT_LT(patch.size(), fresh.size() + (256 << 10));
  // The budget made many segments, each against a window far smaller than old.
  BoundedDiffPlan plan = PlanBoundedDiff(old.size(), new_file.size(), DiffOptions());
  EXPECT_LT(plan.window_bytes, old.size() / 4);
  EXPECT_LT(plan.segment_bytes, new_file.size() / 4);
}

TEST(BoundedDiffTest, MatchesAroundTheFewChunksAnEditedSourceLeavesWhole) {
  std::mt19937_64 rng(5);
  const std::string old = RandomBytes(rng, 24 << 20);
  // New: 2 MiB of old edited every 40 bytes (no chunk of it is found in old:
  // chunks here are 64 bytes or more) but for 128 KiB in its middle, which
  // alone votes for a window.
  const uint64_t from = 9 << 20, size = 2 << 20;
  std::string new_file = old.substr(from, size);
  for (uint64_t at = 0; at < size; at += 40) {
    if (at < (size - (128 << 10)) / 2 || at >= (size + (128 << 10)) / 2) new_file[at] ^= 0x5a;
  }
  BoundedDiffPlan plan = PlanBoundedDiff(old.size(), new_file.size(), DiffOptions());
  ASSERT_GE(plan.segment_bytes, new_file.size());  // One range.
  DiffStats stats;
  StringSource old_source(old), new_source(new_file);
  const std::string patch = RoundTrip(old_source, new_source, kMinBoundedMemory, &stats);
  // Without the voted regions' neighbours in the window, 1.8 MiB of new were
  // extra bytes, which do not compress.
  EXPECT_LT(stats.extra_bytes, 64 << 10);
  EXPECT_LT(patch.size(), 64 << 10);
}

// Text-like bytes: words of a small vocabulary (zstd shrinks them).
std::string Words(std::mt19937_64& rng, size_t n) {
  std::vector<std::string> vocabulary;
  for (int i = 0; i < 300; ++i) vocabulary.push_back(std::to_string(rng()).substr(0, 3 + i % 7));
  std::string s;
  while (s.size() < n) s += vocabulary[rng() % vocabulary.size()] + " ";
  s.resize(n);
  return s;
}

TEST(BoundedDiffTest, IncompressibleRunsOfExtraGetFramesOfTheirOwn) {
  std::mt19937_64 rng(11);
  const std::string old = RandomBytes(rng, 1 << 20);
  const std::string text = Words(rng, 6 << 20), fresh = RandomBytes(rng, 8 << 20);
  const std::string new_file = text.substr(0, 3 << 20) + fresh + text.substr(3 << 20);
  StringSource old_source(old), new_source(new_file);
  DiffStats stats;
  const std::string patch = RoundTrip(old_source, new_source, kMinBoundedMemory, &stats);
  StringSource patch_source(patch);
  absl::StatusOr<PatchHeader> header = InspectPatch(patch_source);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->method, PatchMethod::kFramedStreams);
  ASSERT_EQ(header->ExtraFrames().size(), 3u);  // Text, fresh bytes, text.
  EXPECT_GE(header->ExtraFrames()[1].raw_size, fresh.size() - (1 << 20));
  // Stored as it is; the text still shrinks.
  EXPECT_LT(patch.size(), fresh.size() + text.size() / 2);
  // Short incompressible runs do not cut the stream.
  const std::string short_fresh = text.substr(0, 3 << 20) + RandomBytes(rng, 2 << 20);
  StringSource short_source(short_fresh);
  const std::string plain = RoundTrip(old_source, short_source, kMinBoundedMemory, &stats);
  StringSource plain_source(plain);
  header = InspectPatch(plain_source);
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->method, PatchMethod::kStreams);
}

TEST(BoundedDiffTest, FramesUseTheLargestWindowReadersTake) {
  std::mt19937_64 rng(13);
  const std::string old = RandomBytes(rng, 1 << 20), new_file = Words(rng, 20 << 20);
  DiffOptions options;
  options.max_memory = uint64_t{256} << 20;
  options.level = 3;
  std::string patch;
  StringSink sink(&patch);
  StringSource old_source(old), new_source(new_file);
  ASSERT_TRUE(DiffBounded(old_source, new_source, ScratchDir(), &sink, options, nullptr).ok());
  StringSource patch_source(patch);
  absl::StatusOr<PatchHeader> header = InspectPatch(patch_source);
  ASSERT_TRUE(header.ok()) << header.status();
  const StreamExtent extra = header->ExtraFrames()[0];
  ASSERT_GT(extra.raw_size, uint64_t{16} << 20);
  ZSTD_frameHeader frame;
  ASSERT_EQ(ZSTD_getFrameHeader(&frame, patch.data() + extra.offset, extra.compressed_size), 0u);
  EXPECT_EQ(frame.windowSize, uint64_t{1} << kMaxStreamWindowLog);
}

TEST(BoundedDiffTest, PlansWithinTheBudget) {
  for (uint64_t budget : {uint64_t{64} << 20, uint64_t{256} << 20, uint64_t{1} << 30,
                          uint64_t{16} << 30}) {
    DiffOptions options;
    options.max_memory = budget;
    for (uint64_t size : {uint64_t{1} << 20, uint64_t{1} << 30, uint64_t{64} << 30}) {
      BoundedDiffPlan plan = PlanBoundedDiff(size, size, options);
      EXPECT_LE(plan.index_bytes + plan.segment_bytes + 5 * plan.window_bytes +
                    (uint64_t{40} << 20),
                budget);
      EXPECT_GT(plan.window_bytes, 0u);
      EXPECT_GE(plan.level, 1);
    }
  }
}

TEST(BoundedDiffTest, EmptyAndUnrelatedFiles) {
  std::mt19937_64 rng(3);
  const std::string a = RandomBytes(rng, 3 << 20), b = RandomBytes(rng, 2 << 20);
  StringSource empty(""), sa(a), sb(b);
  DiffStats stats;
  RoundTrip(empty, sa, kMinBoundedMemory, &stats);
  EXPECT_EQ(stats.extra_bytes, a.size());
  RoundTrip(sa, empty, kMinBoundedMemory, &stats);
  RoundTrip(sa, sb, kMinBoundedMemory, &stats);
  RoundTrip(empty, empty, kMinBoundedMemory, &stats);
}

TEST(BoundedDiffTest, RoundTripsAbove4GiB) {
  // Old: 4.5 GiB, mostly zeros with random islands; new moves an island from
  // the start to past 4 GiB, edits and inserts past 4 GiB, and drops a range.
  SpanSource old;
  old.Random(8 << 20, 1);
  old.Zeros(uint64_t{2} << 30);
  old.Random(16 << 20, 2);
  old.Zeros((uint64_t{2} << 30) + (100 << 20));
  old.Random(32 << 20, 3);
  old.Zeros(200 << 20);
  const uint64_t island3 = (8 << 20) + (uint64_t{4} << 30) + (116 << 20);
  ASSERT_GT(old.size(), uint64_t{4} << 30);
  SpanSource new_file;
  new_file.Copy(&old, 8 << 20, (uint64_t{4} << 30) + (116 << 20));  // Zeros, island 2, zeros.
  new_file.Copy(&old, island3, 1 << 20);
  new_file.Random(1 << 20, 4);  // Fresh data past 4 GiB.
  new_file.Copy(&old, island3 + (2 << 20), 30 << 20);
  new_file.Copy(&old, 0, 8 << 20);  // Island 1 moved from the start to the end.
  new_file.Zeros(100 << 20);
  DiffStats stats;
  const std::string patch = RoundTrip(old, new_file, uint64_t{256} << 20, &stats);
  EXPECT_LT(stats.extra_bytes, (1 << 20) + (1 << 20));
  EXPECT_LT(patch.size(), uint64_t{3} << 20);
}

TEST(BoundedDiffTest, DiffFilesIsWholeFileDiffWhenItFits) {
  std::mt19937_64 rng(11);
  std::string old = RandomBytes(rng, 1 << 20);
  std::string new_file = old;
  for (int i = 0; i < 50; ++i) new_file[rng() % new_file.size()] ^= 1;
  const std::string dir = ScratchDir();
  const std::string old_path = dir + "/old.bin", new_path = dir + "/new.bin";
  ASSERT_TRUE(WriteFileAtomically(old_path, old).ok());
  ASSERT_TRUE(WriteFileAtomically(new_path, new_file).ok());
  DiffOptions options;
  options.max_memory = uint64_t{1} << 30;
  std::string via_files;
  StringSink sink(&via_files);
  ASSERT_TRUE(DiffFiles(old_path, new_path, dir, &sink, options).ok());
  EXPECT_EQ(via_files, *Diff(old, new_file, options));

  EXPECT_TRUE(FitsWholeFileDiff(1 << 20, 1 << 20, "", options));
  EXPECT_FALSE(FitsWholeFileDiff(uint64_t{1} << 30, uint64_t{1} << 30, "", options));
  options.max_memory = 0;  // No bound.
  EXPECT_TRUE(FitsWholeFileDiff(uint64_t{1} << 40, uint64_t{1} << 40, "", options));
}

// A big pair that differs in a few places is coded from bounded matching's
// diagonals without a suffix sort, exactly and about as small; a pair that
// differs throughout gets exactly Diff's patch.
TEST(BoundedDiffTest, NearIdenticalPairsSkipTheSuffixSort) {
  std::mt19937_64 rng(17);
  std::string old = RandomBytes(rng, 8 << 20);
  for (int i = 0; i < 3; ++i) old += old.substr(0, 4 << 20);  // 20 MiB, with repeats.
  std::string near = old;
  near.insert(4096, RandomBytes(rng, 3000));  // Shifts what follows.
  for (int i = 0; i < 20; ++i) near[rng() % near.size()] ^= 0x11;
  near.erase(12 << 20, 5000);
  std::string unrelated = RandomBytes(rng, 20 << 20);
  const std::string dir = ScratchDir();
  ASSERT_TRUE(WriteFileAtomically(dir + "/near-old.bin", old).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/near-new.bin", near).ok());
  ASSERT_TRUE(WriteFileAtomically(dir + "/far-new.bin", unrelated).ok());
  DiffOptions options;
  options.level = 3;
  options.max_memory = uint64_t{4} << 30;

  std::string patch;
  StringSink sink(&patch);
  DiffStats stats;
  ASSERT_TRUE(DiffFiles(dir + "/near-old.bin", dir + "/near-new.bin", dir, &sink, options, &stats).ok());
  EXPECT_TRUE(stats.near_identical);
  EXPECT_FALSE(stats.bounded);
  std::string rebuilt;
  StringSink out(&rebuilt);
  ASSERT_TRUE(Apply(old, StringSource(patch), &out).ok());
  EXPECT_TRUE(rebuilt == near);
  absl::StatusOr<std::string> whole = Diff(old, near, options);
  ASSERT_TRUE(whole.ok());
  EXPECT_LE(patch.size(), whole->size() + whole->size() / 10 + 256);

  std::string far_patch;
  StringSink far_sink(&far_patch);
  DiffStats far_stats;
  ASSERT_TRUE(
      DiffFiles(dir + "/near-old.bin", dir + "/far-new.bin", dir, &far_sink, options, &far_stats).ok());
  EXPECT_FALSE(far_stats.near_identical);
  EXPECT_EQ(far_patch, *Diff(old, unrelated, options));

  StringSource old_source(old), far_source(unrelated);
  absl::StatusOr<std::optional<std::vector<DeltaOp>>> none =
      MatchNearIdentical(old_source, far_source, unrelated.size() / 100, options);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

// CodeNearIdentical reads the files in pieces and gives DiffWithOps's bytes:
// with exact entries, and without prediction with diff bytes throughout
// (pieces of the model's coding cross 1 MiB boundaries). It declines a pair
// whose diff bytes Diff would try to predict, and refuses ops that do not
// cover new.
TEST(BoundedDiffTest, NearIdenticalCodingStreamedGivesDiffWithOpsBytes) {
  std::mt19937_64 rng(23);
  const std::string old = RandomBytes(rng, 3 << 20, 16);
  std::string edited = old.substr(0, 1 << 20) + "inserted" + old.substr(1 << 20);
  for (int i = 0; i < 7; ++i) edited[rng() % edited.size()] ^= 0x20;
  std::string shifted = old;
  for (size_t i = 0; i < shifted.size(); i += 64) shifted[i] = static_cast<char>(shifted[i] + 3);
  const std::vector<DeltaOp> edited_ops = {{0, 0, 1 << 20, 8},
                                           {(1 << 20) + 8, 1 << 20, 2 << 20, 0}};
  const std::vector<DeltaOp> shifted_ops = {{0, 0, 3 << 20, 0}};
  DiffOptions options;
  options.level = 3;
  struct Case {
    const std::string* new_data;
    const std::vector<DeltaOp>* ops;
    bool predict;
    bool streamed;
  };
  for (const Case& c : {Case{&edited, &edited_ops, true, true},
                        Case{&shifted, &shifted_ops, false, true},
                        Case{&shifted, &shifted_ops, true, false}}) {
    options.predict_references = c.predict;
    std::string patch;
    StringSink sink(&patch);
    DiffStats stats;
    absl::StatusOr<bool> coded = CodeNearIdentical(StringSource(old), StringSource(*c.new_data),
                                                   *c.ops, options, &sink, &stats);
    ASSERT_TRUE(coded.ok()) << coded.status();
    ASSERT_EQ(*coded, c.streamed);
    if (!c.streamed) {
      EXPECT_TRUE(patch.empty());
      continue;
    }
    absl::StatusOr<std::string> in_memory = DiffWithOps(old, *c.new_data, *c.ops, options);
    ASSERT_TRUE(in_memory.ok()) << in_memory.status();
    EXPECT_TRUE(patch == *in_memory);
    EXPECT_EQ(stats.method, PatchMethod::kSizedLzmaSparseModeledStreams);
    EXPECT_EQ(stats.exact_diff_bytes > 0, c.ops == &edited_ops);
    std::string out;
    StringSink out_sink(&out);
    ASSERT_TRUE(Apply(old, StringSource(patch), &out_sink).ok());
    EXPECT_TRUE(out == *c.new_data);
  }
  std::string patch;
  StringSink sink(&patch);
  DiffStats stats;
  const std::vector<DeltaOp> short_ops = {{0, 0, 1 << 20, 8}};
  EXPECT_EQ(CodeNearIdentical(StringSource(old), StringSource(edited), short_ops, options, &sink,
                              &stats)
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

// With old's digest known, the chunk index is cached: the second diff does not
// read old before matching, and gives the same patch. A corrupt entry is
// rebuilt; a digest that is not old's is refused when old is read.
TEST(BoundedDiffTest, CachedChunkIndexGivesTheSamePatch) {
  std::mt19937_64 rng(11);
  const std::string old = RandomBytes(rng, 6 << 20);
  std::string new_file = old.substr(2 << 20) + RandomBytes(rng, 4096) + old.substr(0, 2 << 20);
  new_file[12345] ^= 1;
  StringSource old_source(old), new_source(new_file);
  class CountingSource : public ByteSource {
   public:
    explicit CountingSource(const ByteSource* base) : base_(base) {}
    uint64_t size() const override { return base_->size(); }
    absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
      read += n;
      return base_->ReadAt(offset, buf, n);
    }
    mutable uint64_t read = 0;

   private:
    const ByteSource* base_;
  };
  MapIndexStore store;
  DiffOptions options;
  options.max_memory = kMinBoundedMemory;
  options.index_store = &store;
  options.old_digest = Sha256Of(old);
  auto diff = [&](const ByteSource& from, DiffStats* stats) {
    std::string patch;
    StringSink sink(&patch);
    absl::Status status = DiffBounded(from, new_source, ScratchDir(), &sink, options, stats);
    EXPECT_TRUE(status.ok()) << status;
    return patch;
  };
  DiffStats cold, warm, rebuilt;
  CountingSource cold_old(&old_source), warm_old(&old_source);
  const std::string first = diff(cold_old, &cold);
  const std::string second = diff(warm_old, &warm);
  EXPECT_FALSE(cold.index_cached);
  EXPECT_TRUE(warm.index_cached);
  EXPECT_EQ(first, second);
  EXPECT_LT(warm_old.read, cold_old.read - old.size() / 2);  // No indexing pass over old.
  ASSERT_EQ(store.saved.size(), 1u);
  EXPECT_EQ(store.saved.begin()->first.rfind("chunks/", 0), 0u);
  EXPECT_NE(store.saved.begin()->first.find(DigestToHex(Sha256Of(old))), std::string::npos);
  std::string& entry = store.saved.begin()->second;
  entry.resize(entry.size() - 3);  // Not a whole number of chunks.
  EXPECT_EQ(diff(old_source, &rebuilt), first);
  EXPECT_FALSE(rebuilt.index_cached);
  EXPECT_EQ(store.saved.begin()->second.size() % 16, 0u);  // Saved again, whole.

  store.saved.clear();
  options.old_digest = Sha256Of("another file");
  std::string patch;
  StringSink sink(&patch);
  EXPECT_EQ(DiffBounded(old_source, new_source, ScratchDir(), &sink, options).code(),
            absl::StatusCode::kFailedPrecondition);
  options.old_digest.reset();  // Without a digest nothing is cached.
  EXPECT_TRUE(DiffBounded(old_source, new_source, ScratchDir(), &sink, options).ok());
  EXPECT_TRUE(store.saved.empty());
}

// A kept chunk index (ChunkIndexCache) serves the next diff of the same old
// without the store; a diff of another old replaces it.
TEST(BoundedDiffTest, KeptChunkIndexServesTheNextDiffOfTheSameOld) {
  std::mt19937_64 rng(14);
  const std::string old = RandomBytes(rng, 6 << 20), other = RandomBytes(rng, 6 << 20);
  std::string new_file = old;
  new_file[12345] ^= 1;
  StringSource old_source(old), other_source(other), new_source(new_file);
  MapIndexStore store;
  ChunkIndexCache kept;
  DiffOptions options;
  options.max_memory = kMinBoundedMemory;
  options.index_store = &store;
  options.chunk_index_cache = &kept;
  auto diff = [&](const ByteSource& from, const std::string& bytes, DiffStats* stats) {
    options.old_digest = Sha256Of(bytes);
    std::string patch;
    StringSink sink(&patch);
    absl::Status status = DiffBounded(from, new_source, ScratchDir(), &sink, options, stats);
    EXPECT_TRUE(status.ok()) << status;
    return patch;
  };
  DiffStats cold, warm, another, again;
  const std::string first = diff(old_source, old, &cold);
  EXPECT_FALSE(cold.index_cached);
  store.saved.clear();  // Only the kept index can serve now.
  EXPECT_EQ(diff(old_source, old, &warm), first);
  EXPECT_TRUE(warm.index_cached);
  diff(other_source, other, &another);
  EXPECT_FALSE(another.index_cached);
  store.saved.clear();
  EXPECT_EQ(diff(old_source, old, &again), first);  // Replaced: made again.
  EXPECT_FALSE(again.index_cached);
}

TEST(BlockIndexTest, SerializedIndexRestoresAndBadBytesAreRefused) {
  std::mt19937_64 rng(12);
  const std::string old = RandomBytes(rng, 3 << 20);
  StringSource source(old);
  BlockIndex index(old.size(), 1 << 20, kPart);
  ASSERT_TRUE(index.AddAll(source, [](absl::string_view) {}).ok());
  const std::string bytes = index.Serialize();
  ASSERT_GT(bytes.size(), 0u);
  ASSERT_EQ(bytes.size() % 16, 0u);
  BlockIndex restored(old.size(), 1 << 20, kPart);
  EXPECT_EQ(restored.Parameters(), index.Parameters());
  EXPECT_EQ(BlockIndex::ParametersFor(old.size(), 1 << 20, kPart), index.Parameters());
  ASSERT_TRUE(restored.Restore(bytes).ok());
  EXPECT_EQ(restored.Serialize(), bytes);
  for (size_t at = 0; at < bytes.size(); at += 16) {
    uint64_t hash;
    std::memcpy(&hash, bytes.data() + at, 8);
    EXPECT_EQ(restored.Find(hash), index.Find(hash));
  }
  EXPECT_NE(BlockIndex(old.size(), 4 << 20, kPart).Parameters(), index.Parameters());

  auto refused = [&](std::string bad) {
    BlockIndex target(old.size(), 1 << 20, kPart);
    absl::Status status = target.Restore(bad);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
    EXPECT_EQ(target.Serialize(), "");  // Left empty.
  };
  refused(bytes.substr(0, bytes.size() - 1));
  std::string zero_hash = bytes;
  std::memset(zero_hash.data(), 0, 8);
  refused(zero_hash);
  std::string past_old = bytes;
  past_old[15] = '\x01';  // Offset far past old.
  refused(past_old);
  refused(bytes + bytes.substr(0, 16));  // A chunk twice.
  refused(std::string(16 * (1 << 20), '\x01'));  // More than the table takes.
}

TEST(ChunkerTest, CutsEqualContentAlikeWhereverItStarts) {
  std::mt19937_64 rng(5);
  const std::string data = RandomBytes(rng, 1 << 20);
  const std::string shifted = RandomBytes(rng, 777) + data;
  Chunker chunker(10);
  auto hashes = [&](const std::string& s) {
    std::vector<uint64_t> out;
    const auto* b = reinterpret_cast<const uint8_t*>(s.data());
    for (size_t at = 0; at < s.size();) {
      size_t len = chunker.Next(b + at, s.size() - at, true);
      EXPECT_GT(len, 0u);
      EXPECT_LE(len, chunker.max_length());
      out.push_back(Chunker::Hash(b + at, len));
      at += len;
    }
    return out;
  };
  std::vector<uint64_t> a = hashes(data), b = hashes(shifted);
  size_t common = 0;
  for (uint64_t h : a) common += std::find(b.begin(), b.end(), h) != b.end();
  EXPECT_GT(common, a.size() - 3);  // Only the first chunks may differ.
  EXPECT_GT(a.size(), 500u);        // About 1 KiB each.
  EXPECT_LT(a.size(), 2000u);
}

}  // namespace
}  // namespace patchfarm
