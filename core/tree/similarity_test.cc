#include "core/tree/similarity.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

// A sketch built from pieces of any size is the sketch of the whole, even
// when the samples seen pass the builder's trimming point many times over.
TEST(SketchBuilder, PiecesGiveTheSketchOfTheWhole) {
  std::mt19937_64 rng(5);
  const std::string data = RandomBytes(rng, 3 << 20);  // ~49k samples.
  const Sketch whole = SketchOf(data);
  ASSERT_EQ(whole.size(), kSketchSize);
  for (size_t piece : {1, 63, 64, 4096, 1 << 20}) {
    SketchBuilder builder;
    for (size_t at = 0; at < data.size(); at += piece) {
      builder.Update(absl::string_view(data).substr(at, piece));
    }
    EXPECT_EQ(builder.Finish(), whole) << "pieces of " << piece;
  }
}

TEST(SketchBuilder, ShortInputs) {
  EXPECT_TRUE(SketchOf("").empty());
  EXPECT_TRUE(SketchOf(std::string(63, 'x')).empty());  // No full window yet.
  SimilarityIndex index;
  std::mt19937_64 rng(6);
  const std::string a = RandomBytes(rng, 100000);
  index.Add(1, SketchOf(a));
  index.Add(2, SketchOf(RandomBytes(rng, 100000)));
  auto best = index.BestMatch(SketchOf(a.substr(0, 60000) + "edit" + a.substr(60000)));
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(best->id, 1u);
}

// Without values common to more than kMaxFilesPerValue files, the best
// match is the file with the highest Score, ties to the smallest id.
TEST(SimilarityIndex, BestMatchIsTheHighestScore) {
  std::mt19937_64 rng(7);
  std::vector<std::string> pieces;
  for (int i = 0; i < 12; ++i) pieces.push_back(RandomBytes(rng, 4000));
  SimilarityIndex index;
  std::vector<Sketch> sketches;
  for (uint32_t id = 0; id < 20; ++id) {  // Each file: 3 of the 12 pieces.
    std::string file;
    for (int k = 0; k < 3; ++k) file += pieces[rng() % pieces.size()];
    sketches.push_back(SketchOf(file));
    index.Add(id, sketches.back());
  }
  for (int query = 0; query < 50; ++query) {
    std::string file;
    for (int k = 0; k < 4; ++k) file += pieces[rng() % pieces.size()];
    const Sketch sketch = SketchOf(file);
    uint32_t best_id = 0, best_score = 0;
    for (uint32_t id = 0; id < sketches.size(); ++id) {
      uint32_t score = index.Score(id, sketch);
      if (score > best_score) best_id = id, best_score = score;
    }
    auto best = index.BestMatch(sketch);
    ASSERT_EQ(best.has_value(), best_score > 0);
    if (best) {
      EXPECT_EQ(best->id, best_id) << "query " << query;
      EXPECT_EQ(best->score, best_score);
    }
  }
}

// Thousands of files sharing a boilerplate: an edited file still finds its
// old self, though its shared values are listed for the first files only.
TEST(SimilarityIndex, FindsTheFileAmongManySharingItsBoilerplate) {
  std::mt19937_64 rng(8);
  const std::string boilerplate = RandomBytes(rng, 8000);
  SimilarityIndex index;
  std::vector<std::string> files;
  for (uint32_t id = 0; id < 2000; ++id) {
    files.push_back(boilerplate + RandomBytes(rng, 1500));
    index.Add(id, SketchOf(files.back()));
  }
  for (uint32_t id : {0u, 31u, 32u, 999u, 1999u}) {
    std::string edited = files[id];
    edited[8700] ^= 1;
    auto best = index.BestMatch(SketchOf(edited));
    ASSERT_TRUE(best.has_value());
    EXPECT_EQ(best->id, id);
  }
  // Only the boilerplate: one of the files that have it.
  auto best = index.BestMatch(SketchOf(boilerplate));
  ASSERT_TRUE(best.has_value());
  EXPECT_EQ(best->id, 0u);
}

}  // namespace
}  // namespace patchfarm
