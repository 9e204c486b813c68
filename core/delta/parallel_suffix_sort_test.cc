// ParallelSuffixSort against libdivsufsort's divsufsort: the same array on
// every kind of text (a suffix array is unique), with 1 to 4 threads.
#include "core/delta/parallel_suffix_sort.h"

#include <divsufsort.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "core/delta/test_bytes.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

void ExpectSameAsDivsufsort(const std::string& text, int threads) {
  std::vector<int32_t> want(text.size() + 1);
  ASSERT_EQ(divsufsort(reinterpret_cast<const uint8_t*>(text.data()), want.data(),
                       static_cast<int32_t>(text.size())),
            0);
  want.resize(text.size());
  // A marker on each side of the array: nothing is written outside it.
  constexpr int32_t kMarker = -7;
  std::vector<int32_t> got(text.size() + 2, kMarker);
  ASSERT_TRUE(ParallelSuffixSort(text, got.data() + 1, threads).ok());
  EXPECT_EQ(got.front(), kMarker);
  EXPECT_EQ(got.back(), kMarker);
  ASSERT_TRUE(std::equal(want.begin(), want.end(), got.begin() + 1))
      << text.size() << " bytes, " << threads << " threads";
}

TEST(ParallelSuffixSortTest, SmallTextsOfEveryShape) {
  std::mt19937_64 rng(1);
  for (int n = 0; n < 300; ++n) {
    for (int alphabet : {1, 2, 4, 256}) {
      ExpectSameAsDivsufsort(RandomBytes(rng, n, alphabet), 1 + n % 4);
    }
  }
}

TEST(ParallelSuffixSortTest, LargeTexts) {
  std::mt19937_64 rng(2);
  std::vector<std::string> texts;
  texts.push_back(RandomBytes(rng, 3 << 20));
  texts.push_back(RandomBytes(rng, 1 << 20, 3));
  texts.push_back(std::string(1 << 20, 'a'));  // One bucket, sorted by trsort.
  std::string periodic;
  while (periodic.size() < (1 << 20)) periodic += "abcab";
  texts.push_back(periodic);
  // Text-like: words from a small vocabulary, and long repeats with edits.
  std::string words;
  const char* vocabulary[] = {"function ", "return ", "const ", "x", "(a, b) ", "{\n", "}\n"};
  while (words.size() < (2 << 20)) words += vocabulary[rng() % 7];
  std::string repeats = words.substr(0, 1 << 20);
  for (int k = 0; k < 3; ++k) {
    std::string copy = words.substr(0, 1 << 20);
    for (int e = 0; e < 50; ++e) copy[rng() % copy.size()] = static_cast<char>(rng());
    repeats += copy;
  }
  texts.push_back(words);
  texts.push_back(repeats);
  for (const std::string& text : texts) {
    for (int threads : {1, 2, 3}) ExpectSameAsDivsufsort(text, threads);
  }
  // Far more threads than buckets (a two-letter text has three).
  ExpectSameAsDivsufsort(RandomBytes(rng, 1 << 20, 2), 64);
}

}  // namespace
}  // namespace patchfarm
