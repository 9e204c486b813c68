#include "common/byte_size.h"

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(ByteSizeTest, ParsesCountsAndUnits) {
  uint64_t n = 0;
  EXPECT_TRUE(ParseByteSize("1048576", &n));
  EXPECT_EQ(n, 1048576u);
  EXPECT_TRUE(ParseByteSize("512K", &n));
  EXPECT_EQ(n, 512u << 10);
  EXPECT_TRUE(ParseByteSize("256m", &n));
  EXPECT_EQ(n, 256u << 20);
  EXPECT_TRUE(ParseByteSize("1G", &n));
  EXPECT_EQ(n, uint64_t{1} << 30);
  EXPECT_TRUE(ParseByteSize("8GiB", &n));
  EXPECT_EQ(n, uint64_t{8} << 30);
  EXPECT_TRUE(ParseByteSize("2TB", &n));
  EXPECT_EQ(n, uint64_t{2} << 40);
}

TEST(ByteSizeTest, RefusesWhatIsNotASize) {
  uint64_t n = 7;
  for (const char* bad : {"", "G", "0", "0M", "-1", "-1G", "+5M", "1.5G", "nan", "1X", "1 G",
                          "99999999999999999999", "4194305T", "5GG", " 1G"}) {
    EXPECT_FALSE(ParseByteSize(bad, &n)) << bad;
  }
  EXPECT_EQ(n, 7u);
}

TEST(ByteSizeTest, KnowsTheMachinesMemory) { EXPECT_GT(PhysicalMemoryBytes(), uint64_t{1} << 20); }

}  // namespace
}  // namespace patchfarm
