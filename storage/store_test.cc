// The same contract for both stores; RocksDbStore also across a reopen.
#include <cstdlib>
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "storage/memory_store.h"
#include "storage/rocksdb_store.h"

namespace patchfarm {
namespace {

void ExerciseStore(Store* store) {
  ASSERT_TRUE(store->Write({{"a/1", "one"}, {"a/2", "two"}, {"b/1", "other"}}, true).ok());
  auto got = store->Get("a/1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value_or(""), "one");
  EXPECT_FALSE(store->Get("a/3")->has_value());
  std::string seen;
  ASSERT_TRUE(store->Scan("a/", [&](absl::string_view k, absl::string_view v) {
    seen += std::string(k) + "=" + std::string(v) + ";";
    return true;
  }).ok());
  EXPECT_EQ(seen, "a/1=one;a/2=two;");
  ASSERT_TRUE(store->Write({{"a/1", std::nullopt}}, false).ok());
  EXPECT_FALSE(store->Get("a/1")->has_value());
}

TEST(Store, Memory) {
  MemoryStore store;
  ExerciseStore(&store);
}

TEST(Store, RocksDbSurvivesReopenAndIsExclusive) {
  std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/db";
  {
    auto store = RocksDbStore::Open(path);
    ASSERT_TRUE(store.ok()) << store.status();
    ExerciseStore(store->get());
    auto second = RocksDbStore::Open(path);
    EXPECT_FALSE(second.ok());
  }
  auto reopened = RocksDbStore::Open(path);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->Get("a/2")->value_or(""), "two");
  EXPECT_FALSE((*reopened)->Get("a/1")->has_value());
}

}  // namespace
}  // namespace patchfarm
