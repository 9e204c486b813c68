// Segments: a pair diffed in parts (DiffSegment) and joined (JoinSegments)
// applies bit-exact, whatever the split; joining refuses segments that do not
// fit together or are corrupt; Apply refuses every truncation and header
// change of a joined patch.
#include "core/delta/segments.h"

#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/apply.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/format.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string ScratchDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Old: random assets; new: the same with a move across the file, edits, an
// insertion and a removal.
struct Pair {
  std::string old_data, new_data;
};

Pair MakePair(size_t asset_bytes, int assets, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> parts;
  for (int i = 0; i < assets; ++i) parts.push_back(RandomBytes(rng, asset_bytes));
  Pair pair;
  for (const std::string& p : parts) pair.old_data += p;
  std::vector<std::string> next = parts;
  std::swap(next.front(), next.back());                 // A move across the file.
  next[1].replace(100, 64, RandomBytes(rng, 64));       // An edit.
  next.insert(next.begin() + 2, RandomBytes(rng, 5000));  // An insertion.
  next.erase(next.begin() + 4);                          // A removal.
  for (const std::string& p : next) pair.new_data += p;
  return pair;
}

DiffOptions Bounded() {
  DiffOptions options;
  options.max_memory = kMinBoundedMemory;
  return options;
}

std::string Segment(const Pair& pair, uint64_t begin, uint64_t end) {
  StringSource old(pair.old_data), new_file(pair.new_data);
  SegmentSpec spec{Sha256Of(pair.old_data), Sha256Of(pair.new_data), begin, end};
  std::string out;
  StringSink sink(&out);
  absl::Status status = DiffSegment(old, new_file, spec, ScratchDir(), &sink, Bounded());
  EXPECT_TRUE(status.ok()) << status;
  return out;
}

absl::StatusOr<std::string> Join(const std::vector<std::string>& segments) {
  std::vector<StringSource> sources;
  sources.reserve(segments.size());
  for (const std::string& s : segments) sources.emplace_back(s);
  std::vector<const ByteSource*> parts;
  for (const StringSource& s : sources) parts.push_back(&s);
  std::string patch;
  StringSink sink(&patch);
  absl::Status status = JoinSegments(parts, ScratchDir(), &sink);
  if (!status.ok()) return status;
  return patch;
}

absl::StatusOr<std::string> ApplyTo(const std::string& old_data, const std::string& patch) {
  std::string out;
  StringSink sink(&out);
  StringSource source(patch);
  absl::Status status = Apply(absl::string_view(old_data), source, &sink);
  if (!status.ok()) return status;
  return out;
}

// Splits new at `cuts` and joins the segments.
std::string SplitAndJoin(const Pair& pair, const std::vector<uint64_t>& cuts) {
  std::vector<std::string> segments;
  uint64_t begin = 0;
  for (uint64_t end : cuts) {
    segments.push_back(Segment(pair, begin, end));
    begin = end;
  }
  segments.push_back(Segment(pair, begin, pair.new_data.size()));
  absl::StatusOr<std::string> patch = Join(segments);
  EXPECT_TRUE(patch.ok()) << patch.status();
  return patch.ok() ? *patch : "";
}

TEST(SegmentsTest, JoinedPatchAppliesWhateverTheSplit) {
  const Pair pair = MakePair(3 << 20, 8, 1);  // 24 MiB: the move spans the file.
  for (const std::vector<uint64_t>& cuts :
       std::vector<std::vector<uint64_t>>{{}, {pair.new_data.size() / 2},
                                          {1, 5 << 20, 11 << 20, 11 << 20 | 1}}) {
    const std::string patch = SplitAndJoin(pair, cuts);
    StringSource source(patch);
    absl::StatusOr<PatchHeader> header = InspectPatch(source);
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->method, PatchMethod::kFramedStreams);
    EXPECT_EQ(header->streams.size(), 1 + 2 * (cuts.size() + 1));
    absl::StatusOr<std::string> out = ApplyTo(pair.old_data, patch);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == pair.new_data) << cuts.size() << " cuts";
    // The moved asset is found across the file: far below the new size.
    EXPECT_LT(patch.size(), (3u << 20) / 2) << cuts.size() << " cuts";
  }
}

TEST(SegmentsTest, IncompressibleRunsGetFramesOfTheirOwn) {
  // New: old's first half, 6 MiB of fresh random bytes, text, old's second half.
  Pair pair = MakePair(1 << 20, 8, 8);
  std::mt19937_64 rng(9);
  std::string text;
  while (text.size() < (3u << 20)) text += "level " + std::to_string(rng() % 1000) + " loaded; ";
  const std::string fresh = RandomBytes(rng, 6 << 20);
  pair.new_data = pair.old_data.substr(0, 4 << 20) + fresh + text + pair.old_data.substr(4 << 20);
  const uint64_t cut = (4 << 20) + fresh.size() + text.size();
  const std::string first = Segment(pair, 0, cut);
  absl::StatusOr<SegmentHeader> header = ReadSegmentHeader(StringSource(first));
  ASSERT_TRUE(header.ok()) << header.status();
  ASSERT_EQ(header->extra.size(), 2u);  // The fresh bytes, stored; the text, compressed.
  EXPECT_GE(header->extra[0].compressed_size, fresh.size());
  EXPECT_LT(header->extra[1].compressed_size, text.size() / 4);
  absl::StatusOr<std::string> patch =
      Join({first, Segment(pair, cut, pair.new_data.size())});
  ASSERT_TRUE(patch.ok()) << patch.status();
  absl::StatusOr<std::string> out = ApplyTo(pair.old_data, *patch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == pair.new_data);
}

TEST(SegmentsTest, SegmentsAreDeterministic) {
  const Pair pair = MakePair(1 << 20, 6, 2);
  EXPECT_EQ(Segment(pair, 1000, 3 << 20), Segment(pair, 1000, 3 << 20));
}

TEST(SegmentsTest, DiffSegmentRefusesARangeOutsideNew) {
  const Pair pair = MakePair(1 << 20, 6, 3);
  StringSource old(pair.old_data), new_file(pair.new_data);
  std::string out;
  StringSink sink(&out);
  for (auto [begin, end] : std::vector<std::pair<uint64_t, uint64_t>>{
           {5, 5}, {6, 5}, {0, pair.new_data.size() + 1}}) {
    SegmentSpec spec{Sha256Of(pair.old_data), Sha256Of(pair.new_data), begin, end};
    EXPECT_EQ(DiffSegment(old, new_file, spec, ScratchDir(), &sink, Bounded()).code(),
              absl::StatusCode::kInvalidArgument);
  }
}

TEST(SegmentsTest, JoinRefusesSegmentsThatDoNotFit) {
  const Pair pair = MakePair(1 << 20, 6, 4);
  const uint64_t size = pair.new_data.size();
  const std::string a = Segment(pair, 0, size / 3), b = Segment(pair, size / 3, size / 2),
                    c = Segment(pair, size / 2, size);
  ASSERT_TRUE(Join({a, b, c}).ok());
  EXPECT_EQ(Join({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Join({a, c}).status().code(), absl::StatusCode::kInvalidArgument);     // A gap.
  EXPECT_EQ(Join({b, a, c}).status().code(), absl::StatusCode::kInvalidArgument);  // Order.
  EXPECT_EQ(Join({a, b}).status().code(), absl::StatusCode::kInvalidArgument);     // Short.
  const Pair other = MakePair(1 << 20, 6, 5);
  EXPECT_EQ(Join({a, b, Segment(other, size / 2, other.new_data.size())}).status().code(),
            absl::StatusCode::kInvalidArgument);  // Another pair.
  EXPECT_EQ(Join({a, b, "PFDL not a segment"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SegmentsTest, JoinRefusesCorruptSegments) {
  const Pair pair = MakePair(1 << 20, 6, 6);
  const uint64_t size = pair.new_data.size();
  const std::string a = Segment(pair, 0, size / 2), b = Segment(pair, size / 2, size);
  absl::StatusOr<SegmentHeader> header = ReadSegmentHeader(StringSource(b));
  ASSERT_TRUE(header.ok()) << header.status();
  // Every byte of the header and of the control entries, and the first bytes
  // of both frames, flipped: refused.
  std::vector<uint64_t> offsets;
  for (uint64_t i = 0; i < kSegmentHeaderBytes + header->control_bytes; ++i) offsets.push_back(i);
  for (uint64_t i = 0; i < 64; ++i) {
    offsets.push_back(header->diff.offset + i);
    offsets.push_back(header->extra[0].offset + i);
  }
  for (uint64_t at : offsets) {
    if (at >= b.size()) continue;
    std::string bad = b;
    bad[at] ^= 0x01;
    EXPECT_FALSE(Join({a, bad}).ok()) << "flip at " << at;
  }
  for (uint64_t cut : {uint64_t{0}, uint64_t{7}, kSegmentHeaderBytes - 1, kSegmentHeaderBytes,
                       static_cast<uint64_t>(b.size() - 1)}) {
    EXPECT_FALSE(Join({a, b.substr(0, cut)}).ok()) << "cut at " << cut;
  }
}

TEST(SegmentsTest, ApplyRefusesEveryTruncationAndHeaderChange) {
  const Pair pair = MakePair(256 << 10, 6, 7);
  const std::string patch = SplitAndJoin(pair, {pair.new_data.size() / 3});
  ASSERT_TRUE(ApplyTo(pair.old_data, patch).ok());
  for (size_t cut = 0; cut < patch.size(); cut += std::max<size_t>(1, patch.size() / 997)) {
    EXPECT_FALSE(ApplyTo(pair.old_data, patch.substr(0, cut)).ok()) << "cut at " << cut;
  }
  for (size_t at = 0; at < PatchHeaderSize(5); ++at) {
    std::string bad = patch;
    bad[at] ^= 0x10;
    EXPECT_FALSE(ApplyTo(pair.old_data, bad).ok()) << "flip at " << at;
  }
  for (size_t at = PatchHeaderSize(5); at < patch.size(); at += 97) {
    std::string bad = patch;
    bad[at] ^= 0x10;
    EXPECT_FALSE(ApplyTo(pair.old_data, bad).ok()) << "flip at " << at;
  }
}

}  // namespace
}  // namespace patchfarm
