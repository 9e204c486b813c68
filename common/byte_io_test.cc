#include "common/byte_io.h"

#include <string>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string ReadAll(const ByteSource& source, uint64_t offset, size_t n) {
  std::string out(n, '\0');
  absl::StatusOr<size_t> got = source.ReadAt(offset, out.data(), n);
  EXPECT_TRUE(got.ok()) << got.status();
  out.resize(got.ok() ? *got : 0);
  return out;
}

TEST(ConcatSource, ReadsAcrossPartsAndEmptyParts) {
  StringSource a("hello"), empty(""), b(" big"), c(" world");
  ConcatSource whole({&a, &empty, &b, &empty, &c});
  const std::string expected = "hello big world";
  ASSERT_EQ(whole.size(), expected.size());
  for (size_t offset = 0; offset <= expected.size() + 1; ++offset) {
    for (size_t n = 0; n <= expected.size() + 2; ++n) {
      std::string want = offset < expected.size() ? expected.substr(offset, n) : "";
      EXPECT_EQ(ReadAll(whole, offset, n), want) << offset << "+" << n;
    }
  }
  ConcatSource none({});
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(ReadAll(none, 0, 4), "");
}

// A part that comes back short (it shrank after the sizes were taken) is an
// error, not a short read in the middle of the whole.
TEST(ConcatSource, APartThatShrankIsAnError) {
  std::string first = "abcdef";
  StringSource second("ghi");
  class Shrinking : public ByteSource {
   public:
    explicit Shrinking(std::string* data) : data_(data) {}
    uint64_t size() const override { return data_->size(); }
    absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override {
      return StringSource(*data_).ReadAt(offset, buf, n);
    }

   private:
    std::string* data_;
  } shrinking(&first);
  ConcatSource whole({&shrinking, &second});
  first.resize(3);
  char buf[9];
  EXPECT_EQ(whole.ReadAt(0, buf, sizeof(buf)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CountingSink, CountsWhatPassesThrough) {
  std::string out;
  StringSink sink(&out);
  CountingSink counting(&sink);
  ASSERT_TRUE(counting.Append("abc").ok());
  ASSERT_TRUE(counting.Append("").ok());
  ASSERT_TRUE(counting.Append("de").ok());
  EXPECT_EQ(counting.bytes(), 5u);
  EXPECT_EQ(out, "abcde");
}

}  // namespace
}  // namespace patchfarm
