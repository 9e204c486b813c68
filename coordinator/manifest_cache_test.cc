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
  ASSERT_NE(cache.Peek("a"), nullptr);  // Peeked at, a stays the least recently used.
  cache.Insert("c", Manifest(4));
  EXPECT_EQ(cache.Peek("a"), nullptr);
  ASSERT_NE(cache.Find("b"), nullptr);  // Found, b is used after c.
  cache.Insert("d", Manifest(2));
  EXPECT_EQ(cache.entries(), 10u);  // At the bound: none dropped.
  cache.Insert("e", Manifest(4));
  EXPECT_EQ(cache.Peek("c"), nullptr);
  EXPECT_NE(cache.Peek("b"), nullptr);
  EXPECT_NE(cache.Peek("d"), nullptr);
  EXPECT_NE(cache.Peek("e"), nullptr);
  EXPECT_EQ(cache.entries(), 10u);
  cache.Insert("e", Manifest(1));  // Replaced, counted once.
  EXPECT_EQ(cache.entries(), 7u);
  EXPECT_EQ(cache.size(), 3u);
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
