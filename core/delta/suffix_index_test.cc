#include "core/delta/suffix_index.h"

#include <random>
#include <string>

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
