#include "common/byte_size.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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

TEST(ByteSizeTest, KnowsTheMemoryItMayUse) { EXPECT_GT(MemoryLimitBytes(), uint64_t{1} << 20); }

// Writes `text` to `root`/`path`, making its directories.
void Put(const std::string& root, const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(root + "/" + path).parent_path());
  std::ofstream(root + "/" + path) << text << "\n";
}

TEST(ByteSizeTest, ReadsTheLowestLimitOfTheProcesssCgroups) {
  const std::string v2 = std::string(std::getenv("TEST_TMPDIR")) + "/v2";
  Put(v2, "memory.max", "max");
  Put(v2, "kubepods/memory.max", "8589934592");
  Put(v2, "kubepods/pod1/memory.max", "2147483648");
  Put(v2, "kubepods/pod1/app/memory.max", "max");
  EXPECT_EQ(CgroupMemoryLimit("0::/kubepods/pod1/app\n", v2), uint64_t{2} << 30);
  EXPECT_EQ(CgroupMemoryLimit("0::/\n", v2), std::nullopt);  // "max" only.
  EXPECT_EQ(CgroupMemoryLimit("0::/kubepods/../kubepods/pod1\n", v2), std::nullopt);
  EXPECT_EQ(CgroupMemoryLimit("garbage\n", v2), std::nullopt);
  Put(v2, "kubepods/pod2/memory.max", "0");  // Not a limit one can run under: ignored.
  EXPECT_EQ(CgroupMemoryLimit("0::/kubepods/pod2\n", v2), uint64_t{8} << 30);

  const std::string v1 = std::string(std::getenv("TEST_TMPDIR")) + "/v1";
  Put(v1, "memory/memory.limit_in_bytes", "9223372036854771712");  // No limit.
  Put(v1, "memory/docker/abc/memory.limit_in_bytes", "1073741824");
  Put(v1, "cpu/docker/abc/memory.limit_in_bytes", "1");  // Not the memory controller's.
  EXPECT_EQ(CgroupMemoryLimit("12:cpu,cpuacct:/docker/abc\n4:blkio,memory:/docker/abc\n", v1),
            uint64_t{1} << 30);
  EXPECT_EQ(CgroupMemoryLimit("4:memory:/\n", v1), uint64_t{9223372036854771712u});
}

}  // namespace
}  // namespace patchfarm
