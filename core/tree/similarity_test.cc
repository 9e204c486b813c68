#include "core/tree/similarity.h"

#include <random>
#include <string>

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

}  // namespace
}  // namespace patchfarm
