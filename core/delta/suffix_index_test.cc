#include "core/delta/suffix_index.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

int64_t BruteForceLongest(const std::string& text, const std::string& needle) {
  int64_t best = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    best = std::max(best, CommonPrefix(text.data() + i, needle.data(),
                                       std::min(text.size() - i, needle.size())));
  }
  return best;
}

// LongestMatch as it was before it skipped the bytes known to match: a whole
// memcmp at every step of the binary search, over the same suffix array and
// buckets. Its answers, the position among equally long matches included, are
// what the patches depend on, so the index must give exactly these.
class PlainSearch {
 public:
  PlainSearch(const std::string& old, const SuffixIndex& index) : old_(old) {
    const absl::string_view bytes = index.Serialize();
    sa_.resize(bytes.size() / sizeof(int32_t));
    std::memcpy(sa_.data(), bytes.data(), bytes.size());
    const int64_t n = static_cast<int64_t>(old.size());
    if (n == 0) return;
    std::vector<int64_t> count(1 << 16, 0);
    for (int64_t i = 0; i + 1 < n; ++i) ++count[Bucket(old.data() + i)];
    bucket_.assign((1 << 16) + 1, 0);
    const int last_byte = static_cast<uint8_t>(old[n - 1]);
    int64_t at = 0;
    for (int p = 0; p < (1 << 16); ++p) {
      if ((p & 0xff) == 0 && (p >> 8) == last_byte) ++at;
      bucket_[p] = at;
      at += count[p];
    }
    bucket_[1 << 16] = at;
  }

  int64_t LongestMatch(absl::string_view needle, int64_t* pos) const {
    *pos = 0;
    if (old_.empty() || needle.empty()) return 0;
    const int64_t n = static_cast<int64_t>(old_.size());
    const int64_t m = static_cast<int64_t>(needle.size());
    int64_t lo = 0, hi = n - 1;
    if (m >= 2) {
      int b = Bucket(needle.data());
      if (bucket_[b] < bucket_[b + 1]) {
        lo = bucket_[b];
        hi = bucket_[b + 1] - 1;
      }
    }
    auto match_len = [&](int64_t k) {
      int64_t start = sa_[k];
      return CommonPrefix(old_.data() + start, needle.data(), std::min(n - start, m));
    };
    while (hi - lo >= 2) {
      int64_t mid = lo + (hi - lo) / 2;
      int64_t start = sa_[mid];
      int64_t len = std::min(n - start, m);
      int cmp = std::memcmp(old_.data() + start, needle.data(), len);
      if (cmp < 0 || (cmp == 0 && len < m)) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    int64_t x = match_len(lo), y = match_len(hi);
    if (x >= y) {
      *pos = sa_[lo];
      return x;
    }
    *pos = sa_[hi];
    return y;
  }

 private:
  static int Bucket(const char* p) {
    return (static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]);
  }

  const std::string& old_;
  std::vector<int32_t> sa_;
  std::vector<int64_t> bucket_;
};

// Checks LongestMatch against the plain search (length and position), on the
// built index and on one read back from Serialize(), and that the match is
// real; against brute force too when `old` is small.
void ExpectSameAsPlainSearch(const std::string& old,
                             const std::vector<absl::string_view>& needles) {
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(old);
  ASSERT_TRUE(index.ok()) << index.status();
  PlainSearch plain(old, *index);
  absl::StatusOr<SuffixIndex> cached =
      SuffixIndex::Deserialize(old, std::string(index->Serialize()));
  ASSERT_EQ(cached.ok(), !old.empty()) << cached.status();
  for (size_t q = 0; q < needles.size(); ++q) {
    absl::string_view needle = needles[q];
    SCOPED_TRACE(testing::Message() << "old size " << old.size() << ", needle " << q
                                    << " of size " << needle.size());
    int64_t want_pos = -1;
    const int64_t want = plain.LongestMatch(needle, &want_pos);
    int64_t pos = -1;
    ASSERT_EQ(index->LongestMatch(needle, &pos), want);
    ASSERT_EQ(pos, want_pos);
    ASSERT_LE(pos + want, static_cast<int64_t>(old.size()));
    ASSERT_EQ(CommonPrefix(old.data() + pos, needle.data(), want), want);
    if (cached.ok()) {
      pos = -1;
      ASSERT_EQ(cached->LongestMatch(needle, &pos), want);
      ASSERT_EQ(pos, want_pos);
    }
    if (old.size() <= 4096 && needle.size() <= 4096) {
      ASSERT_EQ(want, BruteForceLongest(old, std::string(needle)));
    }
  }
}

void ExpectSameAsPlainSearch(const std::string& old, const std::vector<std::string>& needles) {
  ExpectSameAsPlainSearch(old, std::vector<absl::string_view>(needles.begin(), needles.end()));
}

// Needles cut from `text` at `count` random places, some changed after a
// random prefix so the match ends there, some running past its end.
std::vector<std::string> NeedlesFrom(std::mt19937_64& rng, const std::string& text, int count,
                                     size_t max_len) {
  std::vector<std::string> needles;
  if (text.empty()) return needles;
  for (int i = 0; i < count; ++i) {
    size_t at = rng() % text.size();
    std::string needle = text.substr(at, 1 + rng() % max_len);
    switch (rng() % 4) {
      case 0:
        break;
      case 1:
        needle[rng() % needle.size()] ^= static_cast<char>(1 + rng() % 255);
        break;
      case 2:
        needle += RandomBytes(rng, 1 + rng() % 16);
        break;
      case 3:
        needle = needle.substr(0, rng() % needle.size() + 1) + RandomBytes(rng, rng() % 8);
        break;
    }
    needles.push_back(needle);
  }
  return needles;
}

TEST(SuffixIndexTest, FindsTheLongestMatchLikeBruteForce) {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 30; ++round) {
    std::string text(1 + rng() % 3000, '\0');
    int alphabet = 1 + rng() % 4;
    for (char& c : text) c = static_cast<char>('a' + rng() % alphabet);
    absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(text);
    ASSERT_TRUE(index.ok());
    for (int q = 0; q < 50; ++q) {
      std::string needle(1 + rng() % 40, '\0');
      for (char& c : needle) c = static_cast<char>('a' + rng() % (alphabet + 1));
      int64_t pos = -1;
      int64_t len = index->LongestMatch(needle, &pos);
      ASSERT_EQ(len, BruteForceLongest(text, needle)) << text << " / " << needle;
      ASSERT_EQ(text.compare(pos, len, needle, 0, len), 0);
    }
  }
}

TEST(SuffixIndexTest, RandomInputsMatchThePlainSearch) {
  const uint64_t seed = 20240611;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 60; ++round) {
    const int alphabets[] = {1, 2, 3, 4, 16, 256};
    int alphabet = alphabets[rng() % 6];
    std::string old = RandomBytes(rng, 1 + rng() % 5000, alphabet);
    std::vector<std::string> needles = NeedlesFrom(rng, old, 100, 300);
    for (int i = 0; i < 50; ++i) needles.push_back(RandomBytes(rng, 1 + rng() % 40, alphabet + 1));
    ExpectSameAsPlainSearch(old, needles);
  }
}

TEST(SuffixIndexTest, LongRunsMatchThePlainSearch) {
  std::mt19937_64 rng(3);
  for (int round = 0; round < 6; ++round) {
    // Runs of one byte, of lengths up to 20000, between single other bytes.
    const char run = static_cast<char>(rng() % 2 == 0 ? 0 : 'a');
    std::string old;
    while (old.size() < 150000) {
      old.append(1 + rng() % 20000, run);
      old.push_back(static_cast<char>(rng() % 256));
    }
    std::vector<std::string> needles = NeedlesFrom(rng, old, 100, 30000);
    for (int i = 0; i < 100; ++i) {
      std::string needle(1 + rng() % 25000, run);
      if (rng() % 4 != 0) needle.push_back(static_cast<char>(rng() % 256));
      needles.push_back(needle);
    }
    ExpectSameAsPlainSearch(old, needles);
  }
  ExpectSameAsPlainSearch(std::string(100000, 'z'), std::vector<std::string>
                          {std::string(99999, 'z'), std::string(100000, 'z'),
                           std::string(100001, 'z'), std::string(5000, 'z') + "a",
                           std::string(5000, 'z') + "\xff", "z", "a", "\xff"});
}

TEST(SuffixIndexTest, PeriodicDataMatchesThePlainSearch) {
  std::mt19937_64 rng(5);
  for (int period : {1, 2, 3, 7, 64, 1000}) {
    std::string unit = RandomBytes(rng, period, 1 + rng() % 256);
    std::string old;
    while (old.size() < 120000) old += unit;
    for (int i = 0; i < 3; ++i) old[rng() % old.size()] ^= 0x5a;  // A few flaws.
    std::vector<std::string> needles = NeedlesFrom(rng, old, 150, 50000);
    std::string long_periodic;
    while (long_periodic.size() < 130000) long_periodic += unit;
    needles.push_back(long_periodic);
    ExpectSameAsPlainSearch(old, needles);
  }
}

TEST(SuffixIndexTest, EditedCopyMatchesThePlainSearch) {
  // What the matcher sees for a release whose next build barely changed: old,
  // and every suffix of an edited copy of it near the edits, where matches run
  // for tens of kilobytes.
  std::mt19937_64 rng(11);
  for (int round = 0; round < 3; ++round) {
    std::string old = RandomBytes(rng, 200000, round == 0 ? 256 : 4);
    std::string block = old.substr(1000, 30000);
    old.replace(120000, block.size(), block);  // One duplicated region.
    std::string copy = old;
    std::vector<size_t> edits;
    for (int i = 0; i < 6; ++i) {
      size_t at = rng() % (copy.size() - 100);
      switch (i % 3) {
        case 0:
          copy.replace(at, 20, RandomBytes(rng, 20));
          break;
        case 1:
          copy.insert(at, RandomBytes(rng, 1 + rng() % 50));
          break;
        case 2:
          copy.erase(at, 1 + rng() % 50);
          break;
      }
      edits.push_back(at);
    }
    edits.push_back(copy.size() - 40);
    std::vector<absl::string_view> needles;
    const absl::string_view suffixes = copy;
    for (size_t at : edits) {
      for (size_t p = at > 64 ? at - 64 : 0; p < std::min(copy.size(), at + 64); p += 3) {
        needles.push_back(suffixes.substr(p));
      }
    }
    for (int i = 0; i < 40; ++i) needles.push_back(suffixes.substr(rng() % copy.size()));
    ExpectSameAsPlainSearch(old, needles);
  }
}

TEST(SuffixIndexTest, RepeatedBlocksMatchThePlainSearch) {
  // k copies of a block, each followed by a different byte: the needle's
  // suffix sorts before, between and after all of them, so one search bound
  // stays outside the copies while the other is inside.
  std::mt19937_64 rng(13);
  std::string block = RandomBytes(rng, 20000);
  std::string old;
  for (int k = 0; k < 9; ++k) {
    old += block;
    old.push_back(static_cast<char>(0x10 + 0x20 * k));
  }
  std::vector<std::string> needles;
  for (int next : {0x00, 0x10, 0x20, 0x70, 0x71, 0xff}) {
    for (size_t cut : {size_t{0}, size_t{1}, size_t{5000}, size_t{19999}}) {
      needles.push_back(block.substr(cut) + static_cast<char>(next) + "tail");
    }
  }
  needles.push_back(block);
  needles.push_back(old);
  needles.push_back(old + "more");
  ExpectSameAsPlainSearch(old, needles);
}

TEST(SuffixIndexTest, EdgeCasesMatchThePlainSearch) {
  const std::vector<std::string> needles = {
      "a", "b", "\xff", std::string(1, '\0'), "ab", "ba", "aa", "abc", "abcd", "abcde",
      "bcd", "cde", "de", "e", "ex", "e\xff", std::string("e\0", 2), "zz", "az",
      "abcdeabcde", std::string(3, '\0'), "\xff\xff"};
  for (const std::string& old : std::vector<std::string>{
           "a", "b", "\xff", std::string(1, '\0'), "ab", "ba", "aa", "abcde", "abcdeabcd",
        std::string("\0\xff\0\xff", 4), "\xff\xff\xff", "edcba", "abcdeabcde"}) {
    ExpectSameAsPlainSearch(old, needles);
  }
}

TEST(SuffixIndexTest, MatchAtTheVeryEnd) {
  std::mt19937_64 rng(17);
  const std::string old = RandomBytes(rng, 10000);
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build(old);
  ASSERT_TRUE(index.ok());
  for (size_t tail : {1, 2, 3, 100, 9999, 10000}) {
    const std::string end = old.substr(old.size() - tail);
    const std::vector<std::string> needles = {end, end + "x", end + RandomBytes(rng, 1000)};
    ExpectSameAsPlainSearch(old, needles);
    if (tail < 100) continue;
    // A tail this long occurs nowhere else in random bytes: the match is the
    // end of old, cut by the end of old.
    for (const std::string& needle : needles) {
      int64_t pos = -1;
      EXPECT_EQ(index->LongestMatch(needle, &pos), static_cast<int64_t>(tail));
      EXPECT_EQ(pos, static_cast<int64_t>(old.size() - tail));
    }
  }
}

TEST(SuffixIndexTest, WrongOrderCachedArrayStaysInOld) {
  // Deserialize checks range, not order. A wrong order breaks what the search
  // assumes of the bytes between its bounds; its answers must still lie in
  // old and in the needle (the matcher reads old through them).
  std::mt19937_64 rng(19);
  const std::string old = std::string(3000, 'a') + RandomBytes(rng, 3000, 3) + "abc";
  const int32_t n = static_cast<int32_t>(old.size());
  std::vector<int32_t> reversed(n), shuffled(n), constant(n, n - 1);
  for (int32_t i = 0; i < n; ++i) reversed[i] = shuffled[i] = i;
  std::reverse(reversed.begin(), reversed.end());
  std::shuffle(shuffled.begin(), shuffled.end(), rng);
  for (const std::vector<int32_t>* sa : {&reversed, &shuffled, &constant}) {
    absl::StatusOr<SuffixIndex> index = SuffixIndex::Deserialize(
        old, std::string(reinterpret_cast<const char*>(sa->data()), n * sizeof(int32_t)));
    ASSERT_TRUE(index.ok()) << index.status();
    for (const std::string& needle : NeedlesFrom(rng, old, 300, 5000)) {
      int64_t pos = -1;
      int64_t len = index->LongestMatch(needle, &pos);
      ASSERT_GE(pos, 0);
      ASSERT_GE(len, 0);
      ASSERT_LE(len, static_cast<int64_t>(needle.size()));
      ASSERT_LE(pos + len, n);
    }
  }
}

TEST(SuffixIndexTest, EmptyInputs) {
  absl::StatusOr<SuffixIndex> index = SuffixIndex::Build("");
  ASSERT_TRUE(index.ok());
  int64_t pos = 5;
  EXPECT_EQ(index->LongestMatch("abc", &pos), 0);
  EXPECT_EQ(pos, 0);
  index = SuffixIndex::Build("x");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->LongestMatch("", &pos), 0);
  EXPECT_EQ(index->LongestMatch("xy", &pos), 1);
}

}  // namespace
}  // namespace patchfarm
