#include "core/delta/lzma_codec.h"

#include <random>
#include <string>

#include "core/delta/test_bytes.h"
#include "core/delta/varint.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Reads all of `stream` as `content_size` bytes, in pieces of `piece` bytes,
// and checks it finished.
absl::StatusOr<std::string> ReadAll(const std::string& stream, uint64_t content_size,
                                    size_t piece) {
  StringSource source(stream);
  auto reader = LzmaStreamReader::Open(&source, 0, stream.size(), content_size);
  if (!reader.ok()) return reader.status();
  std::string out;
  while (!(*reader)->AtEnd()) {
    std::string buf(std::min<uint64_t>(piece, content_size - out.size()), '\0');
    absl::Status status = (*reader)->Read(buf.data(), buf.size());
    if (!status.ok()) return status;
    out += buf;
  }
  absl::Status status = (*reader)->CheckFinished();
  if (!status.ok()) return status;
  return out;
}

// Text-like bytes with long repeats, which decode to far more than the
// reader's output buffer from little input.
std::string Repetitive(std::mt19937_64& rng, size_t n) {
  const std::string phrase = RandomBytes(rng, 300, 16);
  std::string s;
  while (s.size() < n) s += rng() % 4 == 0 ? RandomBytes(rng, 50) : phrase;
  s.resize(n);
  return s;
}

TEST(LzmaCodecTest, DictionaryFollowsTheSizeWithinBounds) {
  EXPECT_EQ(LzmaDictionaryBytes(0), 4096u);
  EXPECT_EQ(LzmaDictionaryBytes(4097), 8192u);
  EXPECT_EQ(LzmaDictionaryBytes(3 << 20), 4u << 20);
  EXPECT_EQ(LzmaDictionaryBytes(uint64_t{1} << 40), 8u << 20);
}

TEST(LzmaCodecTest, RoundTripsInAnyPieces) {
  std::mt19937_64 rng(1);
  for (size_t size : {0, 1, 5000, 3 << 20}) {
    for (const std::string& data : {RandomBytes(rng, size), Repetitive(rng, size)}) {
      for (int preset : {1, 6}) {
        absl::StatusOr<std::string> stream = LzmaCompress(data, preset);
        ASSERT_TRUE(stream.ok()) << stream.status();
        for (size_t piece : {size_t{1} << 20, size_t{7777}}) {
          absl::StatusOr<std::string> out = ReadAll(*stream, data.size(), piece);
          ASSERT_TRUE(out.ok()) << size << ": " << out.status();
          EXPECT_TRUE(*out == data) << size;
        }
      }
    }
  }
}

TEST(LzmaCodecTest, ReadsVarints) {
  std::string data;
  for (uint64_t v : {uint64_t{0}, uint64_t{300}, ~uint64_t{0}}) PutVarint(v, &data);
  absl::StatusOr<std::string> stream = LzmaCompress(data, 6);
  ASSERT_TRUE(stream.ok());
  StringSource source(*stream);
  auto reader = LzmaStreamReader::Open(&source, 0, stream->size(), data.size());
  ASSERT_TRUE(reader.ok());
  for (uint64_t v : {uint64_t{0}, uint64_t{300}, ~uint64_t{0}}) {
    absl::StatusOr<uint64_t> got = (*reader)->ReadVarint();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, v);
  }
  EXPECT_TRUE((*reader)->AtEnd());
  EXPECT_TRUE((*reader)->CheckFinished().ok());
  EXPECT_FALSE((*reader)->ReadVarint().ok());
}

// Whatever is wrong with a stream gives an error, never wrong content
// reported as complete.
TEST(LzmaCodecTest, RefusesTruncationsWrongSizesAndTrailingBytes) {
  std::mt19937_64 rng(2);
  const std::string data = Repetitive(rng, 200000);
  absl::StatusOr<std::string> stream = LzmaCompress(data, 6);
  ASSERT_TRUE(stream.ok());
  for (size_t keep = 0; keep < stream->size(); keep += 1 + keep / 8) {
    EXPECT_FALSE(ReadAll(stream->substr(0, keep), data.size(), 4096).ok()) << keep;
  }
  EXPECT_FALSE(ReadAll(*stream, data.size() - 1, 4096).ok());
  EXPECT_FALSE(ReadAll(*stream, data.size() + 1, 4096).ok());
  EXPECT_FALSE(ReadAll(*stream + "x", data.size(), 4096).ok());
}

TEST(LzmaCodecTest, CorruptStreamsNeverOverrunTheirSize) {
  std::mt19937_64 rng(3);
  const std::string data = Repetitive(rng, 100000);
  absl::StatusOr<std::string> stream = LzmaCompress(data, 6);
  ASSERT_TRUE(stream.ok());
  for (int trial = 0; trial < 300; ++trial) {
    std::string bad = *stream;
    bad[rng() % bad.size()] ^= static_cast<char>(1 << (rng() % 8));
    absl::StatusOr<std::string> out = ReadAll(bad, data.size(), 4096);
    // LZMA2 has no checksum (the patch's stream table does): a flip may
    // decode, but only to exactly the declared size.
    if (out.ok()) EXPECT_EQ(out->size(), data.size());
  }
}

}  // namespace
}  // namespace patchfarm
