#include "coordinator/manifest_cache.h"

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::shared_ptr<const v1::StoredManifest> Manifest(int entries) {
  auto m = std::make_shared<v1::StoredManifest>();
  for (int i = 0; i < entries; ++i) m->add_entries()->set_path("f" + std::to_string(i));
  return m;
}

TEST(ManifestCache, DropsTheLeastRecentlyUsedPastItsEntries) {
  ManifestCache cache(10);
  cache.Insert("a", Manifest(4));
  cache.Insert("b", Manifest(4));
  EXPECT_EQ(cache.entries(), 8u);
  ASSERT_NE(cache.Peek("b"), nullptr);  // Still the least recently used,
  ASSERT_NE(cache.Find("a"), nullptr);  // with a found.
  cache.Insert("c", Manifest(4));
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  EXPECT_EQ(cache.entries(), 8u);
  cache.Insert("c", Manifest(2));  // Replaced, counted once.
  EXPECT_EQ(cache.entries(), 6u);
  EXPECT_EQ(cache.size(), 2u);
}

TEST(ManifestCache, KeepsAManifestLargerThanTheBoundAlone) {
  ManifestCache cache(10);
  cache.Insert("a", Manifest(3));
  const auto big = Manifest(25);
  cache.Insert("big", big);
  EXPECT_EQ(cache.Find("a"), nullptr);
  EXPECT_EQ(cache.Find("big"), big);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.entries(), 25u);
  cache.Insert("a", Manifest(3));
  EXPECT_EQ(cache.Find("big"), nullptr);
  EXPECT_EQ(cache.entries(), 3u);
}

}  // namespace
}  // namespace patchfarm
