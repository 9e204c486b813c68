// The worker's index cache: entries found again after a restart, the least
// recently used evicted first once the total passes its bound, entries above
// the per-entry bound not kept, and keys of the first layout removed.
#include "worker/index_store.h"

#include <string>

#include "gtest/gtest.h"
#include "storage/memory_store.h"

namespace patchfarm {
namespace {

std::unique_ptr<StoreIndexStore> OpenOrDie(Store* store, uint64_t max_entry, uint64_t max_total) {
  auto opened = StoreIndexStore::Open(store, max_entry, max_total);
  EXPECT_TRUE(opened.ok()) << opened.status();
  return opened.ok() ? std::move(*opened) : nullptr;
}

TEST(StoreIndexStore, EvictsTheLeastRecentlyUsedAndRemembersAcrossRestarts) {
  MemoryStore db;
  auto cache = OpenOrDie(&db, 1000, 300);
  cache->Save("sa/a", std::string(100, 'a'));
  cache->Save("sa/b", std::string(100, 'b'));
  cache->Save("chunks/1-8/c", std::string(100, 'c'));
  EXPECT_EQ(cache->bytes(), 300u);
  ASSERT_TRUE(cache->Load("sa/a").has_value());  // a is now the most recent.
  cache->Save("sa/d", std::string(100, 'd'));    // b goes.
  EXPECT_EQ(cache->evicted(), 1u);
  EXPECT_FALSE(cache->Load("sa/b").has_value());
  EXPECT_EQ(*cache->Load("sa/a"), std::string(100, 'a'));
  EXPECT_EQ(cache->hits(), 2u);
  EXPECT_EQ(cache->misses(), 1u);

  // After a restart the recency is the same: c is the oldest.
  cache = OpenOrDie(&db, 1000, 300);
  EXPECT_EQ(cache->bytes(), 300u);
  cache->Save("sa/e", std::string(100, 'e'));
  EXPECT_FALSE(cache->Load("chunks/1-8/c").has_value());
  EXPECT_TRUE(cache->Load("sa/a").has_value());
  EXPECT_TRUE(cache->Load("sa/d").has_value());
  EXPECT_TRUE(cache->Load("sa/e").has_value());

  // A smaller bound at the next start evicts down to it.
  cache = OpenOrDie(&db, 1000, 150);
  EXPECT_EQ(cache->bytes(), 100u);
  EXPECT_TRUE(cache->Load("sa/e").has_value());
}

TEST(StoreIndexStore, ReplacesEntriesAndSkipsOversizedOnes) {
  MemoryStore db;
  auto cache = OpenOrDie(&db, 200, 1000);
  cache->Save("k", std::string(150, 'x'));
  cache->Save("k", std::string(50, 'y'));  // A rebuilt entry replaces the old one.
  EXPECT_EQ(cache->bytes(), 50u);
  EXPECT_EQ(*cache->Load("k"), std::string(50, 'y'));
  cache->Save("big", std::string(201, 'z'));
  cache->Save("empty", "");
  EXPECT_FALSE(cache->Load("big").has_value());
  EXPECT_FALSE(cache->Load("empty").has_value());
  EXPECT_EQ(cache->bytes(), 50u);
}

TEST(StoreIndexStore, RemovesTheFirstLayoutsKeysAndIgnoresForeignRecords) {
  MemoryStore db;
  ASSERT_TRUE(db.Write({{"sa/0011", "an old suffix array"}, {"lru/odd", "short"}}, true).ok());
  auto cache = OpenOrDie(&db, 1000, 1000);
  EXPECT_FALSE(db.Get("sa/0011")->has_value());
  EXPECT_EQ(cache->bytes(), 0u);
}

}  // namespace
}  // namespace patchfarm
