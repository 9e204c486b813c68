// Index parts (index_parts.h): a chunk index built part by part and joined is
// the index BlockIndex::AddAll builds whole, and a segment made with it is the
// segment made without; parts that do not fit together, of another file or
// budget, or corrupt are refused.
#include "core/delta/index_parts.h"

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/block_index.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/index_store_testing.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

constexpr uint64_t kPart = 1 << 20;

std::string ScratchDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// 3.5 MiB of old whose parts share content (chunks equal across parts: the
// first is kept) and a new that draws on every part.
struct Pair {
  std::string old_data, new_data;
};

Pair MakePair() {
  std::mt19937_64 rng(21);
  const std::string a = RandomBytes(rng, 600 << 10), b = RandomBytes(rng, 700 << 10);
  Pair pair;
  pair.old_data = a + b + a + RandomBytes(rng, 900 << 10) + b + RandomBytes(rng, 300 << 10);
  pair.new_data = pair.old_data.substr(2 << 20) + RandomBytes(rng, 4000) +
                  pair.old_data.substr(0, 2 << 20);
  pair.new_data[100000] ^= 0x5a;
  return pair;
}

DiffOptions Options(MapIndexStore* store, const std::string& old_data) {
  DiffOptions options;
  options.max_memory = kMinBoundedMemory;
  options.index_part_bytes = kPart;
  options.index_store = store;
  options.old_digest = Sha256Of(old_data);
  return options;
}

std::vector<std::string> MakeParts(const std::string& old_data, const DiffOptions& options) {
  StringSource old(old_data);
  std::vector<std::string> parts;
  for (const auto& [begin, end] : IndexPartRanges(old_data.size(), kPart)) {
    std::string part;
    StringSink sink(&part);
    absl::Status status = MakeIndexPart(old, *options.old_digest, begin, options, &sink);
    EXPECT_TRUE(status.ok()) << status;
    parts.push_back(part);
  }
  return parts;
}

absl::Status Join(const std::vector<std::string>& parts, const DiffOptions& options) {
  std::vector<StringSource> sources(parts.begin(), parts.end());
  std::vector<const ByteSource*> pointers;
  for (const StringSource& s : sources) pointers.push_back(&s);
  return SaveJoinedIndex(pointers, options);
}

TEST(IndexPartsTest, PartsRestoredInOrderMakeTheWholeIndex) {
  const Pair pair = MakePair();
  StringSource old(pair.old_data);
  BlockIndex whole(old.size(), 1 << 20, kPart);
  ASSERT_TRUE(whole.AddAll(old, [](absl::string_view) {}).ok());
  BlockIndex joined(old.size(), 1 << 20, kPart);
  size_t listed = 0;
  for (uint64_t begin = 0; begin < old.size(); begin += kPart) {
    BlockIndex part(old.size(), 1 << 20, kPart);
    ASSERT_TRUE(part.AddPart(old, begin, [](absl::string_view) {}).ok());
    const std::string bytes = part.Serialize();
    listed += bytes.size() / 16;
    ASSERT_TRUE(joined.Restore(bytes).ok());
  }
  EXPECT_EQ(joined.Serialize(), whole.Serialize());
  EXPECT_LT(whole.Serialize().size() / 16, listed);  // Parts shared chunks.
  // Chunking starts afresh at a part: another part size is another index.
  BlockIndex unparted(old.size(), 1 << 20, old.size());
  ASSERT_TRUE(unparted.AddAll(old, [](absl::string_view) {}).ok());
  EXPECT_NE(unparted.Serialize(), whole.Serialize());
  EXPECT_NE(unparted.Parameters(), whole.Parameters());
  BlockIndex misplaced(old.size(), 1 << 20, kPart);
  EXPECT_EQ(misplaced.AddPart(old, kPart / 2, [](absl::string_view) {}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IndexPartsTest, JoinedIndexGivesTheSegmentsAndPatchOfTheWholeOne) {
  const Pair pair = MakePair();
  MapIndexStore joined_store;
  const DiffOptions joined = Options(&joined_store, pair.old_data);
  const std::vector<std::string> parts = MakeParts(pair.old_data, joined);
  ASSERT_EQ(parts.size(), 4u);
  ASSERT_TRUE(Join(parts, joined).ok());
  ASSERT_EQ(joined_store.saved.size(), 1u);

  MapIndexStore built_store;
  const DiffOptions built = Options(&built_store, pair.old_data);
  StringSource old(pair.old_data), new_file(pair.new_data);
  SegmentSpec spec{*built.old_digest, Sha256Of(pair.new_data), 0, pair.new_data.size()};
  std::string from_joined, from_built;
  StringSink joined_sink(&from_joined), built_sink(&from_built);
  ASSERT_TRUE(DiffSegment(old, new_file, spec, ScratchDir(), &joined_sink, joined).ok());
  ASSERT_TRUE(DiffSegment(old, new_file, spec, ScratchDir(), &built_sink, built).ok());
  EXPECT_EQ(from_joined, from_built);
  EXPECT_EQ(built_store.saved, joined_store.saved);  // The index it built is the one joined.

  std::string patch;
  StringSink patch_sink(&patch);
  DiffStats stats;
  ASSERT_TRUE(DiffBounded(old, new_file, ScratchDir(), &patch_sink, joined, &stats).ok());
  EXPECT_TRUE(stats.index_cached);
}

// An index store that keeps nothing (the worker's keeps no entry over its
// bound): the joined index is kept in the chunk index cache all the same.
TEST(IndexPartsTest, AJoinedIndexTheStoreDoesNotKeepIsKeptInTheCache) {
  class KeepsNothing : public IndexStore {
   public:
    std::optional<std::string> Load(const std::string&) override { return std::nullopt; }
    void Save(const std::string&, absl::string_view) override {}
  } store;
  const Pair pair = MakePair();
  MapIndexStore part_store;
  DiffOptions options = Options(&part_store, pair.old_data);
  const std::vector<std::string> parts = MakeParts(pair.old_data, options);
  ChunkIndexCache cache;
  options.index_store = &store;
  options.chunk_index_cache = &cache;
  ASSERT_TRUE(Join(parts, options).ok());
  StringSource old(pair.old_data), new_file(pair.new_data);
  std::string patch;
  StringSink sink(&patch);
  DiffStats stats;
  ASSERT_TRUE(DiffBounded(old, new_file, ScratchDir(), &sink, options, &stats).ok());
  EXPECT_TRUE(stats.index_cached);
  EXPECT_EQ(cache.hits(), 1u);
}

TEST(IndexPartsTest, PartsThatDoNotMakeOldAreRefused) {
  const Pair pair = MakePair();
  MapIndexStore store;
  const DiffOptions options = Options(&store, pair.old_data);
  const std::vector<std::string> parts = MakeParts(pair.old_data, options);
  auto code = [&](const std::vector<std::string>& these, DiffOptions with = DiffOptions()) {
    if (with.index_store == nullptr) with = options;
    return Join(these, with).code();
  };
  EXPECT_EQ(code({parts[0], parts[1], parts[2]}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({parts[0], parts[2], parts[1], parts[3]}), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code({parts[1], parts[2], parts[3]}), absl::StatusCode::kInvalidArgument);
  DiffOptions other_file = options;
  other_file.old_digest = Sha256Of("another old");
  EXPECT_EQ(code(parts, other_file), absl::StatusCode::kInvalidArgument);
  DiffOptions other_budget = options;
  other_budget.max_memory = 4 * kMinBoundedMemory;
  EXPECT_EQ(code(parts, other_budget), absl::StatusCode::kFailedPrecondition);
  DiffOptions other_parts = options;
  other_parts.index_part_bytes = 2 * kPart;
  EXPECT_EQ(code(parts, other_parts), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(store.saved.empty());
  EXPECT_EQ(code(parts), absl::StatusCode::kOk);
}

TEST(IndexPartsTest, CorruptPartsAreRefused) {
  const Pair pair = MakePair();
  MapIndexStore store;
  const DiffOptions options = Options(&store, pair.old_data);
  const std::vector<std::string> parts = MakeParts(pair.old_data, options);
  auto refused = [&](const std::string& bad_part) {
    std::vector<std::string> these = parts;
    these[1] = bad_part;
    EXPECT_FALSE(Join(these, options).ok());
  };
  const std::string& part = parts[1];
  ASSERT_GT(part.size(), kIndexPartHeaderBytes + 32);
  for (size_t n : {size_t{0}, size_t{7}, size_t{kIndexPartHeaderBytes - 1},
                   size_t{kIndexPartHeaderBytes + 16}, part.size() - 1}) {
    refused(part.substr(0, n));
  }
  // Every header field (a changed table or chunk size reads as parts made
  // under another budget: FailedPrecondition, and the caller builds its own).
  for (size_t at = 8; at < kIndexPartHeaderBytes; at += 8) {
    std::string bad = part;
    bad[at] ^= 0x01;
    refused(bad);
  }
  std::string outside = part;  // The first chunk moved into the part before.
  std::memset(&outside[kIndexPartHeaderBytes + 8], 0, 8);
  refused(outside);
  std::string swapped = part;  // Two chunks out of order.
  std::swap_ranges(&swapped[kIndexPartHeaderBytes], &swapped[kIndexPartHeaderBytes + 16],
                   &swapped[kIndexPartHeaderBytes + 16]);
  refused(swapped);
  std::string repeated = part;  // A chunk's hash twice in one part.
  std::memcpy(&repeated[kIndexPartHeaderBytes + 16], &repeated[kIndexPartHeaderBytes], 8);
  refused(repeated);
  EXPECT_TRUE(store.saved.empty());
  StringSource not_a_part(std::string(200, 'x'));
  EXPECT_EQ(ReadIndexPartHeader(not_a_part).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace patchfarm
