#include "core/delta/zeroed_bytes.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(ZeroedBytesTest, StartsZeroAndKeepsWhatIsWritten) {
  ZeroedBytes bytes(3 << 20);
  ASSERT_EQ(bytes.size(), size_t{3} << 20);
  for (size_t i = 0; i < bytes.size(); i += 4093) EXPECT_EQ(bytes.data()[i], 0) << i;
  bytes.data()[12345] = 'x';
  bytes.data()[bytes.size() - 1] = 'y';
  EXPECT_EQ(bytes.view()[12345], 'x');
  EXPECT_EQ(bytes.view().back(), 'y');
  EXPECT_EQ(bytes.data()[12346], 0);
}

// What makes it worth having: pages never written take no memory.
TEST(ZeroedBytesTest, OnlyWrittenPagesAreResident) {
  const size_t page = sysconf(_SC_PAGESIZE);
  ZeroedBytes bytes(1024 * page);
  bytes.data()[3 * page] = 1;
  std::vector<unsigned char> resident(1024);
  ASSERT_EQ(mincore(bytes.data(), bytes.size(), resident.data()), 0);
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  EXPECT_EQ(resident[3] & 1, 1);
  EXPECT_LE(count, 16u);  // The written page (and a few, should the kernel map some ahead).
}

// Huge pages need the bytes on a 2 MiB boundary: the mapping is made larger
// and the bytes start inside it.
TEST(ZeroedBytesTest, HugePagesStartOnTheirBoundary) {
  for (size_t n : {size_t{2} << 20, (size_t{6} << 20) + 4096}) {
    ZeroedBytes bytes(n, ZeroedBytes::Pages::kHuge);
    ASSERT_EQ(bytes.size(), n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % (size_t{2} << 20), 0u);
    bytes.data()[0] = 1;
    bytes.data()[n - 1] = 2;  // The last byte lies inside the mapping.
    EXPECT_EQ(bytes.data()[n / 2], 0);
    ZeroedBytes moved(std::move(bytes));
    EXPECT_EQ(moved.data()[n - 1], 2);
  }
}

TEST(ZeroedBytesTest, MovesOwnership) {
  ZeroedBytes a(100);
  a.data()[7] = 'z';
  ZeroedBytes b(std::move(a));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty.
  EXPECT_EQ(a.data(), nullptr);
  ASSERT_EQ(b.size(), 100u);
  EXPECT_EQ(b.data()[7], 'z');
  ZeroedBytes c(5);
  c = std::move(b);
  EXPECT_EQ(c.size(), 100u);
  EXPECT_EQ(c.data()[7], 'z');
  c = ZeroedBytes();
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(c.view().empty());
}

}  // namespace
}  // namespace patchfarm
