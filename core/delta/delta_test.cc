// Round-trip property tests for Diff and Apply.
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "common/byte_io.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"
#include "core/delta/index_store_testing.h"
#include "core/delta/lzma_codec.h"
#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Bytes with the statistics of code: a small alphabet, repeated fragments.
std::string CodeLike(std::mt19937_64& rng, size_t n) {
  std::string s;
  std::string fragments[16];
  for (auto& f : fragments) f = RandomBytes(rng, 4 + rng() % 28);
  while (s.size() < n) {
    if (rng() % 4 == 0) {
      s.push_back(static_cast<char>(rng() % 16));
    } else {
      s += fragments[rng() % 16];
    }
  }
  s.resize(n);
  return s;
}

// Moves, inserts, deletes and overwrites blocks of `old`.
std::string Edit(std::mt19937_64& rng, const std::string& old, int edits) {
  std::string s = old;
  for (int e = 0; e < edits; ++e) {
    size_t at = s.empty() ? 0 : rng() % s.size();
    size_t len = 1 + rng() % 512;
    switch (rng() % 4) {
      case 0:
        s.insert(at, RandomBytes(rng, len));
        break;
      case 1:
        s.erase(at, len);
        break;
      case 2:
        for (size_t i = at; i < std::min(s.size(), at + len); ++i) s[i] ^= 1 + rng() % 255;
        break;
      case 3: {
        std::string block = s.substr(at, len);
        s.erase(at, len);
        s.insert(s.empty() ? 0 : rng() % s.size(), block);
        break;
      }
    }
  }
  return s;
}

// Adds `delta` to the 32-bit little-endian value at every 16th position, as
// relinking does to pointers and call displacements.
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

std::string DiffOrDie(const std::string& old_data, const std::string& new_data,
                      const DiffOptions& options = DiffOptions()) {
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, options);
  EXPECT_TRUE(patch.ok()) << patch.status();
  return patch.ok() ? *patch : std::string();
}

void ExpectRoundTrip(const std::string& old_data, const std::string& new_data,
                     const DiffOptions& options = DiffOptions()) {
  std::string patch = DiffOrDie(old_data, new_data, options);
  std::string out;
  StringSink sink(&out);
  StringSource source(patch);
  absl::Status status = Apply(old_data, source, &sink);
  ASSERT_TRUE(status.ok()) << status;
  ASSERT_EQ(out.size(), new_data.size());
  EXPECT_TRUE(out == new_data) << "output differs";
}

DiffOptions StreamsOnly() {
  DiffOptions options;
  options.try_zstd_prefix = false;
  options.level = 3;
  return options;
}

TEST(DeltaTest, EmptyAndTinyInputs) {
  const std::string cases[] = {"", "a", "ab", "abc", std::string(1, '\0')};
  for (const std::string& old_data : cases) {
    for (const std::string& new_data : cases) {
      SCOPED_TRACE("old='" + old_data + "' new='" + new_data + "'");
      ExpectRoundTrip(old_data, new_data);
      ExpectRoundTrip(old_data, new_data, StreamsOnly());
    }
  }
}

TEST(DeltaTest, IdenticalFilesMakeATinyPatch) {
  std::mt19937_64 rng(1);
  std::string data = CodeLike(rng, 1 << 20);
  std::string patch = DiffOrDie(data, data, StreamsOnly());
  EXPECT_LT(patch.size(), 1000u);
  ExpectRoundTrip(data, data, StreamsOnly());
}

TEST(DeltaTest, UnrelatedFilesRoundTrip) {
  std::mt19937_64 rng(2);
  ExpectRoundTrip(RandomBytes(rng, 100000), RandomBytes(rng, 120000));
  ExpectRoundTrip(CodeLike(rng, 50000), RandomBytes(rng, 3000), StreamsOnly());
}

TEST(DeltaTest, ShiftedBlocksCostLittle) {
  std::mt19937_64 rng(3);
  std::string old_data = RandomBytes(rng, 200000);
  std::string new_data = old_data.substr(100000) + RandomBytes(rng, 100) +
                         old_data.substr(0, 100000);
  std::string patch = DiffOrDie(old_data, new_data, StreamsOnly());
  EXPECT_LT(patch.size(), 1000u);
  ExpectRoundTrip(old_data, new_data, StreamsOnly());
}

TEST(DeltaTest, PointerRewritesBecomeSmallDiffs) {
  std::mt19937_64 rng(4);
  std::string old_data = RandomBytes(rng, 1 << 18);
  std::string new_data = RewritePointers(old_data, 0x40);
  std::string patch = DiffOrDie(old_data, new_data, StreamsOnly());
  // The diff bytes repeat with period 16 except for random carries (about 1.6 KB
  // of entropy); literal coding would need the whole 256 KiB.
  EXPECT_LT(patch.size(), 8000u);
  ExpectRoundTrip(old_data, new_data, StreamsOnly());
}

// Exact copies of 48 bytes of new elsewhere in old (coincidences) do not
// split an alignment that goes on matching two bytes in three around them.
TEST(DeltaTest, CoincidentalShortMatchesDoNotSplitAnAlignment) {
  std::mt19937_64 rng(6);
  const std::string kept = RandomBytes(rng, 100000);
  std::string new_data = kept;
  for (size_t i = 20000; i < 60000; i += 3) new_data[i] = static_cast<char>(new_data[i] ^ 0x5a);
  const std::string junk = RandomBytes(rng, 50000);
  std::string planted = junk;
  for (size_t k = 0; k < 50; ++k) {
    planted.replace(k * 1000, 48, new_data.substr(20000 + k * 800, 48));
  }
  DiffStats baseline, with_copies;
  ASSERT_TRUE(Diff(kept + junk, new_data, StreamsOnly(), &baseline).ok());
  ASSERT_TRUE(Diff(kept + planted, new_data, StreamsOnly(), &with_copies).ok());
  EXPECT_LE(with_copies.ops, baseline.ops + 10);
  ExpectRoundTrip(kept + planted, new_data, StreamsOnly());
}

TEST(DeltaTest, RandomEditsRoundTrip) {
  std::random_device seeder;
  const uint64_t base_seed = (uint64_t{seeder()} << 32) | seeder();
  for (int round = 0; round < 40; ++round) {
    uint64_t seed = base_seed + round;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    size_t size = rng() % 4 == 0 ? rng() % 64 : rng() % 300000;
    std::string old_data = rng() % 2 ? CodeLike(rng, size) : RandomBytes(rng, size);
    std::string new_data = Edit(rng, old_data, 1 + rng() % 20);
    if (rng() % 3 == 0) new_data = RewritePointers(new_data, rng() % 1000);
    DiffOptions options = StreamsOnly();
    options.threads = 1 + rng() % 3;
    options.try_zstd_prefix = rng() % 2;
    options.fast_apply = rng() % 2;
    ExpectRoundTrip(old_data, new_data, options);
    if (HasFatalFailure()) return;
  }
}

TEST(DeltaTest, ParallelSegmentsRoundTrip) {
  std::mt19937_64 rng(5);
  std::string old_data = CodeLike(rng, 3 << 20);
  std::string new_data = RewritePointers(Edit(rng, old_data, 200), 7);
  DiffOptions options = StreamsOnly();
  options.threads = 3;
  ExpectRoundTrip(old_data, new_data, options);
}

TEST(DeltaTest, KeepsTheSmallerMethod) {
  std::mt19937_64 rng(6);
  std::string old_data = CodeLike(rng, 100000);
  std::string new_data = Edit(rng, old_data, 30);
  DiffStats stats;
  DiffOptions options;
  options.level = 3;
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, options, &stats);
  ASSERT_TRUE(patch.ok()) << patch.status();
  ASSERT_GT(stats.prefix_patch_bytes, 0u);
  EXPECT_EQ(patch->size(), std::min(stats.streams_patch_bytes, stats.prefix_patch_bytes));
  ExpectRoundTrip(old_data, new_data, options);
}

// Apply of a prefix patch holds old and a window of new: diff tries the
// method only where both together are at most 48 MiB, whatever the gain.
TEST(DeltaTest, TriesThePrefixMethodOnlyForPairsUpTo48MiB) {
  const DiffOptions options;
  const uint64_t mib = uint64_t{1} << 20;
  EXPECT_TRUE(TriesPrefixMethod(47 * mib, mib, mib, options));
  EXPECT_TRUE(TriesPrefixMethod(16 * mib, 32 * mib, 32 * mib, options));
  EXPECT_FALSE(TriesPrefixMethod(47 * mib, mib + 1, mib, options));
  EXPECT_FALSE(TriesPrefixMethod(300 * mib, 7 * mib, 3 * mib, options));
  EXPECT_FALSE(TriesPrefixMethod(mib, 48 * mib, 48 * mib, options));
  EXPECT_FALSE(TriesPrefixMethod(0, 1000, 1000, options));
}

// A caller that drops old's pages periodically (DiffMapped) is told when
// old is sorted whole, so as to hold them; not when the sort reads a copy.
TEST(DeltaTest, SaysWhenItReadsOldAllOver) {
  std::mt19937_64 rng(12);
  const std::string old_data = RandomBytes(rng, 200000);
  std::vector<bool> calls;
  DiffOptions options;
  options.level = 3;
  options.reading_old_all_over = [&calls](bool all_over) { calls.push_back(all_over); };
  DiffStats stats;
  // New draws on a tenth of old: its anchors leave old to be sorted whole.
  const std::string drawing = old_data.substr(0, 10000) + RandomBytes(rng, 30000) +
                              old_data.substr(190000);
  absl::StatusOr<std::string> patch = Diff(old_data, drawing, options, &stats);
  ASSERT_TRUE(patch.ok()) << patch.status();
  ASSERT_FALSE(stats.anchored);
  EXPECT_EQ(calls, (std::vector<bool>{true, false}));
  // An edited copy: anchors cover most of old, and only the rest is sorted.
  calls.clear();
  patch = Diff(old_data, Edit(rng, old_data, 30), options, &stats);
  ASSERT_TRUE(patch.ok()) << patch.status();
  ASSERT_TRUE(stats.anchored);
  EXPECT_TRUE(calls.empty());
}

TEST(DeltaTest, FastApplyUsesZstdForTheDiffStream) {
  std::mt19937_64 rng(8);
  std::string old_data = CodeLike(rng, 200000);
  std::string new_data = RewritePointers(Edit(rng, old_data, 20), 3);
  DiffOptions options = StreamsOnly();
  DiffStats modeled, fast;
  ASSERT_TRUE(Diff(old_data, new_data, options, &modeled).ok());
  options.fast_apply = true;
  ASSERT_TRUE(Diff(old_data, new_data, options, &fast).ok());
  EXPECT_EQ(modeled.method, PatchMethod::kSizedLzmaSparseModeledStreams);
  EXPECT_EQ(fast.method, PatchMethod::kStreams);
  EXPECT_LT(modeled.streams_patch_bytes, fast.streams_patch_bytes);
  ExpectRoundTrip(old_data, new_data, options);
}

// Short side streams whose literals zstd codes better than LZMA (few
// distinct bytes, nothing repeated) keep zstd: the patch is then exactly
// the method 7 patch.
TEST(DeltaTest, ShortSideStreamsKeepZstdWhereSmaller) {
  std::mt19937_64 rng(13);
  const std::string old_data = RandomBytes(rng, 100000);
  std::string letters = RandomBytes(rng, 3000, 10);
  for (char& c : letters) c = static_cast<char>('a' + c);
  const std::string new_data = old_data.substr(0, 50000) + letters + old_data.substr(50000);
  DiffOptions options = StreamsOnly();
  DiffStats stats;
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, options, &stats);
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(stats.method, PatchMethod::kSparseModeledStreams);
  options.lzma_streams = false;
  absl::StatusOr<std::string> zstd_patch = Diff(old_data, new_data, options);
  ASSERT_TRUE(zstd_patch.ok());
  EXPECT_TRUE(*patch == *zstd_patch);
  ExpectRoundTrip(old_data, new_data, StreamsOnly());
}

// Fresh random bytes in the extra stream are stored in LZMA2's uncompressed
// chunks, between runs of text coded afresh; the stream applies as one.
TEST(DeltaTest, IncompressibleExtraRunsAreStoredInTheLzmaStream) {
  std::mt19937_64 rng(17);
  const std::string old_data = CodeLike(rng, 1 << 20);
  const std::string fresh = RandomBytes(rng, 3 << 20);
  std::string text = RandomBytes(rng, 200000, 10);
  for (char& c : text) c = static_cast<char>('a' + c);
  const std::string new_data = text + old_data.substr(0, 600000) + fresh + text.substr(1000) +
                               old_data.substr(600000);
  DiffStats stats;
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, StreamsOnly(), &stats);
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_TRUE(IsLzma(stats.method));
  // Stored verbatim, in chunks of 64 KiB.
  const size_t in_fresh = kLzmaStoredPiece - (text.size() % kLzmaStoredPiece);
  EXPECT_NE(patch->find(fresh.substr(in_fresh + kLzmaStoredPiece, kLzmaStoredPiece)),
            std::string::npos);
  EXPECT_LT(patch->size(), fresh.size() + 250000);
  ExpectRoundTrip(old_data, new_data, StreamsOnly());
}

// A diff stream with 1 MiB or more to code is coded in two parts by two
// models at once (methods 9 to 12); one thread codes it whole.
TEST(DeltaTest, BigDiffStreamsAreCodedInTwoParts) {
  std::mt19937_64 rng(12);
  const std::string old_data = RandomBytes(rng, 3 << 20);
  std::string new_data;
  for (size_t at = 0; at < old_data.size(); at += 64 << 10) {
    std::string block = old_data.substr(at, 64 << 10);
    for (size_t i = 0; i < block.size(); i += 512) ++block[i];  // No zero run to cut.
    new_data += block + RandomBytes(rng, 100);
  }
  for (int threads : {2, 1}) {
    DiffOptions options = StreamsOnly();
    options.threads = threads;
    DiffStats stats;
    absl::StatusOr<std::string> patch = Diff(old_data, new_data, options, &stats);
    ASSERT_TRUE(patch.ok()) << patch.status();
    ASSERT_EQ(stats.method, PatchMethod::kSizedLzmaSparseModeledStreams);
    StringSource source(*patch);
    absl::StatusOr<PatchHeader> header = ReadPatchHeader(source);
    ASSERT_TRUE(header.ok());
    absl::StatusOr<DiffParts> parts =
        ReadDiffParts(source, header->streams[kDiffStream], header->method);
    ASSERT_TRUE(parts.ok()) << parts.status();
    const uint64_t second =
        header->streams[kDiffStream].compressed_size - parts->head_bytes - parts->first_bytes;
    if (threads == 2) {
      EXPECT_GT(parts->first_entries, stats.ops / 3);
      EXPECT_LT(parts->first_entries, stats.ops * 2 / 3);
      EXPECT_GT(second, 0u);
      EXPECT_EQ(parts->model_bits, 17);  // 1.5 MiB a part: the smallest tables writers pick.
    } else {
      EXPECT_EQ(parts->first_entries, stats.ops);
      EXPECT_EQ(second, 0u);
      EXPECT_EQ(parts->model_bits, 19);  // One part, short side streams: the zstd twin's.
    }
    ExpectRoundTrip(old_data, new_data, options);
    // A head naming a table size out of bounds is refused.
    for (uint8_t bits : {kMinModelBits - 1, kMaxModelBits + 1}) {
      std::string bad = *patch;
      bad[header->streams[kDiffStream].offset + parts->head_bytes - 1] = static_cast<char>(bits);
      StringSource bad_source(bad);
      EXPECT_EQ(ReadDiffParts(bad_source, header->streams[kDiffStream], header->method)
                    .status()
                    .code(),
                absl::StatusCode::kDataLoss);
    }
  }
}

// Long unchanged stretches become exact entries, which are not coded; the
// methods before them stay available (sized_model = false, lzma_streams =
// false, sparse = false) and apply as ever.
TEST(DeltaTest, SparseMethodsSkipLongZeroRuns) {
  std::mt19937_64 rng(9);
  const std::string old_data = CodeLike(rng, 1 << 20);
  const std::string new_data = Edit(rng, old_data, 6);
  DiffOptions options = StreamsOnly();
  DiffStats sparse, dense;
  ASSERT_TRUE(Diff(old_data, new_data, options, &sparse).ok());
  EXPECT_EQ(sparse.method, PatchMethod::kSizedLzmaSparseModeledStreams);
  EXPECT_GT(sparse.exact_diff_bytes, sparse.diff_bytes * 9 / 10);
  ExpectRoundTrip(old_data, new_data, options);
  options.sized_model = false;
  DiffStats fixed_model;
  ASSERT_TRUE(Diff(old_data, new_data, options, &fixed_model).ok());
  EXPECT_EQ(fixed_model.method, PatchMethod::kLzmaSparseModeledStreams);
  ExpectRoundTrip(old_data, new_data, options);
  options.lzma_streams = false;
  DiffStats zstd_streams;
  ASSERT_TRUE(Diff(old_data, new_data, options, &zstd_streams).ok());
  EXPECT_EQ(zstd_streams.method, PatchMethod::kSparseModeledStreams);
  EXPECT_EQ(zstd_streams.exact_diff_bytes, sparse.exact_diff_bytes);
  ExpectRoundTrip(old_data, new_data, options);
  options.sparse = false;
  ASSERT_TRUE(Diff(old_data, new_data, options, &dense).ok());
  EXPECT_EQ(dense.method, PatchMethod::kModeledStreams);
  EXPECT_EQ(dense.exact_diff_bytes, 0u);
  EXPECT_LT(dense.ops, sparse.ops);
  ExpectRoundTrip(old_data, new_data, options);
}

TEST(DeltaTest, RefusesOversizedInput) {
  DiffOptions options;
  options.max_input_bytes = 10;
  EXPECT_EQ(Diff("0123456789a", "x", options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace patchfarm

namespace patchfarm {
namespace {

TEST(IndexStore, CachedIndexGivesTheSamePatchAndBadEntriesAreRebuilt) {
  std::mt19937_64 rng(17);
  std::string old_data(300000, '\0');
  for (char& c : old_data) c = static_cast<char>(rng() % 7);
  std::string new_data = old_data.substr(1000) + "tail" + old_data.substr(0, 5000);
  // No run of 4 KiB left unchanged: no anchors, so old is sorted whole.
  for (size_t i = 0; i < new_data.size(); i += 2000) new_data[i] ^= 1;
  MapIndexStore store;
  DiffOptions options;
  options.index_store = &store;
  DiffStats cold, warm, rebuilt;
  auto first = Diff(old_data, new_data, options, &cold);
  auto second = Diff(old_data, new_data, options, &warm);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_FALSE(cold.index_cached || cold.anchored);
  EXPECT_TRUE(warm.index_cached);
  EXPECT_EQ(*first, *second);
  ASSERT_EQ(store.saved.size(), 1u);
  EXPECT_EQ(store.saved.begin()->first, "sa/" + DigestToHex(Sha256Of(old_data)));
  std::string& bytes = store.saved.begin()->second;
  bytes[bytes.size() - 2] = '\x7f';  // An index entry far out of range.
  auto third = Diff(old_data, new_data, options, &rebuilt);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(rebuilt.index_cached);
  EXPECT_EQ(*third, *first);
}

// A pair whose long unchanged runs cover most of old sorts only the rest of
// old, which depends on new: the index store is neither read nor written.
TEST(IndexStore, AnchoredPairsGoWithoutTheIndexStore) {
  std::mt19937_64 rng(19);
  const std::string old_data = CodeLike(rng, 1 << 20);
  const std::string new_data = Edit(rng, old_data, 12);
  MapIndexStore store;
  DiffOptions options;
  options.index_store = &store;
  DiffStats stats;
  absl::StatusOr<std::string> with_store = Diff(old_data, new_data, options, &stats);
  ASSERT_TRUE(with_store.ok()) << with_store.status();
  EXPECT_TRUE(stats.anchored);
  EXPECT_FALSE(stats.index_cached);
  EXPECT_TRUE(store.saved.empty());
  EXPECT_EQ(*with_store, DiffOrDie(old_data, new_data));
  ExpectRoundTrip(old_data, new_data);
}

}  // namespace
}  // namespace patchfarm
