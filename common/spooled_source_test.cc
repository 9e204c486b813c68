// SpooledSource: what it has read once comes back from its scratch file, the
// same bytes, and only reads it has not seen reach the source.
#include "common/spooled_source.h"

#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// A StringSource that counts the bytes read from it.
class CountingSource : public ByteSource {
 public:
  explicit CountingSource(const std::string& data) : inner_(data) {}
  uint64_t size() const override { return inner_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
    absl::StatusOr<size_t> got = inner_.ReadAt(offset, buf, n);
    if (got.ok()) read_ += *got;
    return got;
  }
  uint64_t read() const { return read_; }

 private:
  StringSource inner_;
  mutable std::atomic<uint64_t> read_{0};
};

std::string Bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class SpooledSourceTest : public testing::Test {
 protected:
  std::string dir_ = std::getenv("TEST_TMPDIR");
  std::string data_ = Bytes(4 << 20, 1);
  CountingSource source_{data_};

  std::string Read(const SpooledSource& spooled, uint64_t offset, size_t n) {
    std::string out(n, '\0');
    absl::StatusOr<size_t> got = spooled.ReadAt(offset, out.data(), n);
    EXPECT_TRUE(got.ok()) << got.status();
    out.resize(got.ok() ? *got : 0);
    return out;
  }
};

TEST_F(SpooledSourceTest, SecondReadsComeFromTheSpool) {
  absl::StatusOr<std::unique_ptr<SpooledSource>> spooled =
      SpooledSource::Create(&source_, dir_, uint64_t{1} << 30);
  ASSERT_TRUE(spooled.ok()) << spooled.status();
  const SpooledSource& s = **spooled;
  EXPECT_EQ(Read(s, 0, 1 << 20), data_.substr(0, 1 << 20));
  EXPECT_EQ(source_.read(), 1u << 20);
  EXPECT_EQ(Read(s, 100, 500000), data_.substr(100, 500000));  // Inside: kept.
  EXPECT_EQ(source_.read(), 1u << 20);
  EXPECT_EQ(s.bytes_reread(), 500000u);
  // Half kept, half new: only the new half reaches the source, and is kept.
  EXPECT_EQ(Read(s, 512 << 10, 1 << 20), data_.substr(512 << 10, 1 << 20));
  EXPECT_EQ(source_.read(), (1u << 20) + (512u << 10));
  EXPECT_EQ(Read(s, 0, 1536 << 10), data_.substr(0, 1536 << 10));  // Across two kept ranges.
  EXPECT_EQ(source_.read(), (1u << 20) + (512u << 10));
  // Small reads are not kept: they reach the source each time.
  EXPECT_EQ(Read(s, 3 << 20, 1000), data_.substr(3 << 20, 1000));
  EXPECT_EQ(Read(s, 3 << 20, 1000), data_.substr(3 << 20, 1000));
  EXPECT_EQ(source_.read(), (1u << 20) + (512u << 10) + 2000);
  // At and past the end.
  EXPECT_EQ(Read(s, data_.size() - 10, 100), data_.substr(data_.size() - 10));
  EXPECT_EQ(Read(s, data_.size(), 100), "");
}

TEST_F(SpooledSourceTest, KeepsNoMoreThanItsBound) {
  absl::StatusOr<std::unique_ptr<SpooledSource>> spooled =
      SpooledSource::Create(&source_, dir_, uint64_t{1} << 20);
  ASSERT_TRUE(spooled.ok());
  const SpooledSource& s = **spooled;
  EXPECT_EQ(Read(s, 0, 1 << 20), data_.substr(0, 1 << 20));
  EXPECT_EQ(Read(s, 1 << 20, 1 << 20), data_.substr(1 << 20, 1 << 20));  // Not kept: full.
  EXPECT_EQ(Read(s, 1 << 20, 1 << 20), data_.substr(1 << 20, 1 << 20));
  EXPECT_EQ(source_.read(), 3u << 20);
  EXPECT_EQ(Read(s, 0, 1 << 20), data_.substr(0, 1 << 20));  // Still kept.
  EXPECT_EQ(source_.read(), 3u << 20);
}

// A scratch file that cannot grow (here: a file size limit, as a full disk
// would) costs reads from the source, never a read's result.
TEST_F(SpooledSourceTest, AFailingScratchFileFallsBackToTheSource) {
  absl::StatusOr<std::unique_ptr<SpooledSource>> spooled =
      SpooledSource::Create(&source_, dir_, uint64_t{1} << 30);
  ASSERT_TRUE(spooled.ok());
  const SpooledSource& s = **spooled;
  EXPECT_EQ(Read(s, 0, 1 << 20), data_.substr(0, 1 << 20));  // Kept.
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit limited = saved;
  limited.rlim_cur = (1 << 20) + 4096;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  EXPECT_EQ(Read(s, 1 << 20, 2 << 20), data_.substr(1 << 20, 2 << 20));  // Not kept: fails.
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  const uint64_t before = source_.read();
  EXPECT_EQ(Read(s, 0, 1 << 20), data_.substr(0, 1 << 20));  // From the source now.
  EXPECT_EQ(source_.read(), before + (1 << 20));
  EXPECT_EQ(Read(s, 1 << 20, 2 << 20), data_.substr(1 << 20, 2 << 20));
}

TEST_F(SpooledSourceTest, ConcurrentReadsGetTheSourceBytes) {
  absl::StatusOr<std::unique_ptr<SpooledSource>> spooled =
      SpooledSource::Create(&source_, dir_, uint64_t{1} << 30);
  ASSERT_TRUE(spooled.ok());
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      std::string buf;
      for (int k = 0; k < 200; ++k) {
        const uint64_t offset = rng() % data_.size();
        buf.resize(rng() % (300 << 10));
        absl::StatusOr<size_t> got = (*spooled)->ReadAt(offset, buf.data(), buf.size());
        if (!got.ok() || data_.compare(offset, *got, buf.data(), *got) != 0 ||
            *got != std::min<uint64_t>(buf.size(), data_.size() - offset)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT((*spooled)->bytes_reread(), 0u);
}

}  // namespace
}  // namespace patchfarm
