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

// Bytes of `size` that differ from piece to piece.
std::string Bytes(uint64_t size) {
  std::string bytes(size, '\0');
  for (uint64_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 7 + i / 4096);
  return bytes;
}

TEST(StoreIndexStore, KeepsLargeEntriesInPiecesAndRefusesAMissingOne) {
  MemoryStore db;
  const std::string big = Bytes(2 * kIndexPieceBytes + 12345);  // Three pieces.
  auto cache = OpenOrDie(&db, 1 << 30, 1 << 30);
  cache->Save("sa/big", big);
  EXPECT_EQ(cache->bytes(), big.size());
  EXPECT_EQ(*cache->Load("sa/big"), big);
  EXPECT_TRUE(db.Get("part/sa/big/00000002")->has_value());
  EXPECT_FALSE(db.Get("part/sa/big/00000003")->has_value());

  cache = OpenOrDie(&db, 1 << 30, 1 << 30);  // After a restart, the same bytes.
  EXPECT_EQ(*cache->Load("sa/big"), big);
  cache->Save("sa/big", std::string(100, 's'));  // Replaced: the pieces past the first go.
  EXPECT_FALSE(db.Get("part/sa/big/00000001")->has_value());
  EXPECT_EQ(*cache->Load("sa/big"), std::string(100, 's'));

  cache->Save("sa/two", Bytes(kIndexPieceBytes + 1));
  ASSERT_TRUE(db.Write({{"part/sa/two/00000001", std::nullopt}}, true).ok());  // Lost.
  EXPECT_FALSE(cache->Load("sa/two").has_value());
  EXPECT_EQ(cache->bytes(), 100 + kIndexPieceBytes + 1);  // Still counted, and evictable.
  ASSERT_TRUE(db.Write({{"part/sa/two/00000001", "xy"}}, true).ok());  // Cut short or long.
  EXPECT_FALSE(cache->Load("sa/two").has_value());
  cache->Save("sa/two", Bytes(kIndexPieceBytes + 1));  // Rebuilt and saved again.
  EXPECT_EQ(*cache->Load("sa/two"), Bytes(kIndexPieceBytes + 1));
}

TEST(StoreIndexStore, EvictionRemovesPiecesThenTheRecord) {
  MemoryStore db;
  auto cache = OpenOrDie(&db, 1 << 30, kIndexPieceBytes + 10);
  cache->Save("a", Bytes(kIndexPieceBytes + 1));  // Two pieces.
  cache->Save("b", std::string(10, 'b'));  // a no longer fits beside it.
  EXPECT_EQ(cache->evicted(), 1u);
  EXPECT_FALSE(db.Get("part/a/00000000")->has_value());
  EXPECT_FALSE(db.Get("part/a/00000001")->has_value());
  EXPECT_FALSE(db.Get("lru/a")->has_value());
  EXPECT_EQ(*cache->Load("b"), std::string(10, 'b'));
}

TEST(StoreIndexStore, RemovesTheWholeEntriesLayoutWithItsRecords) {
  MemoryStore db;
  ASSERT_TRUE(db.Write({{"v/sa/00", "a whole suffix array"},
                        {"lru/sa/00", std::string(16, '\1')}},
                       true)
                  .ok());
  auto cache = OpenOrDie(&db, 1000, 1000);
  EXPECT_FALSE(db.Get("v/sa/00")->has_value());
  EXPECT_FALSE(db.Get("lru/sa/00")->has_value());
  EXPECT_EQ(cache->bytes(), 0u);
  EXPECT_FALSE(cache->Load("sa/00").has_value());
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
