#include "core/delta/lzma_codec.h"

#include <random>
#include <string>
#include <vector>

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
    if (out.ok()) {
      EXPECT_EQ(out->size(), data.size());
    }
  }
}

// Marks, one per kLzmaStoredPiece, for the pieces inside [from, to).
void Mark(std::vector<bool>* marks, size_t from, size_t to) {
  for (size_t i = from / kLzmaStoredPiece; i * kLzmaStoredPiece < to; ++i) (*marks)[i] = true;
}

TEST(LzmaCodecTest, StoredRunsGoInUncompressedChunksOfOneStream) {
  std::mt19937_64 rng(4);
  // Random bytes first (the stream's first chunk), between text, and last
  // (a short last piece).
  const std::string a = RandomBytes(rng, 2 << 20), b = Repetitive(rng, 700000),
                    c = RandomBytes(rng, 3 << 20), d = Repetitive(rng, 300000),
                    e = RandomBytes(rng, (1 << 20) + 12345);
  const std::string data = a + b + c + d + e;
  std::vector<bool> marks((data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece, false);
  const size_t c_at = a.size() + b.size(), e_at = data.size() - e.size();
  Mark(&marks, 0, a.size());
  Mark(&marks, c_at + kLzmaStoredPiece, c_at + c.size() - kLzmaStoredPiece);
  Mark(&marks, e_at + kLzmaStoredPiece, data.size());
  absl::StatusOr<std::string> stream = LzmaCompressStoring(data, 6, marks, 1);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_TRUE(*LzmaCompressStoring(data, 6, marks, 3) == *stream);
  absl::StatusOr<std::string> whole = LzmaCompress(data, 6);
  ASSERT_TRUE(whole.ok());
  EXPECT_LT(stream->size(), whole->size() + 4096);
  // The stored runs are there verbatim (a chunk holds at most 64 KiB).
  EXPECT_EQ(stream->compare(3, kLzmaStoredPiece, a, 0, kLzmaStoredPiece), 0);
  EXPECT_EQ((*stream)[0], 1);  // Uncompressed, with the dictionary reset.
  const size_t in_c = (c_at / kLzmaStoredPiece + 3) * kLzmaStoredPiece;  // A chunk's start.
  EXPECT_NE(stream->find(data.substr(in_c, kLzmaStoredPiece)), std::string::npos);
  EXPECT_NE(stream->find(e.substr(e.size() - 12345)), std::string::npos);
  for (size_t piece : {size_t{1000}, size_t{1} << 20}) {
    absl::StatusOr<std::string> out = ReadAll(*stream, data.size(), piece);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == data);
  }
  // It is one stream: cut short or given a wrong size, it is refused.
  EXPECT_FALSE(ReadAll(stream->substr(0, stream->size() - 1), data.size(), 4096).ok());
  EXPECT_FALSE(ReadAll(stream->substr(0, a.size()), data.size(), 4096).ok());
  EXPECT_FALSE(ReadAll(*stream, data.size() - 1, 4096).ok());
}

TEST(LzmaCodecTest, LongCodedRunsAreCutAndCodedApartAfterReadingWhatCameBefore) {
  std::mt19937_64 rng(6);
  const std::string data = Repetitive(rng, kLzmaMaxCodedRun + 12345);
  const std::vector<bool> marks((data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece, false);
  absl::StatusOr<std::string> cut = LzmaCompressStoring(data, 1, marks, 2);
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE(*LzmaCompressStoring(data, 1, marks, 1) == *cut);
  absl::StatusOr<std::string> whole = LzmaCompress(data, 1);
  ASSERT_TRUE(whole.ok());
  EXPECT_FALSE(*cut == *whole);
  EXPECT_LT(cut->size(), whole->size() + whole->size() / 100);
  absl::StatusOr<std::string> out = ReadAll(*cut, data.size(), 1 << 20);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == data);
}

// Cuts fall where the reader's position agrees with the primed encoder's
// (LZMA's contexts take the position's low bits): a run of odd length at
// the end, cut in two, and one of 40 MiB between stored runs, cut in three.
TEST(LzmaCodecTest, CutsOfAnyRunDecode) {
  std::mt19937_64 rng(7);
  const std::string fresh = RandomBytes(rng, kLzmaMinStoredRun);
  for (bool stored_after : {false, true}) {
    const size_t run = stored_after ? 40 << 20 : kLzmaMaxCodedRun + 2;
    const std::string data = fresh + Repetitive(rng, run) + (stored_after ? fresh : "");
    std::vector<bool> marks((data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece, false);
    Mark(&marks, 0, fresh.size());
    if (stored_after) Mark(&marks, fresh.size() + run, data.size());
    absl::StatusOr<std::string> stream = LzmaCompressStoring(data, 0, marks, 2);
    ASSERT_TRUE(stream.ok()) << stream.status();
    absl::StatusOr<std::string> out = ReadAll(*stream, data.size(), 1 << 20);
    ASSERT_TRUE(out.ok()) << run << ": " << out.status();
    EXPECT_TRUE(*out == data) << run;
  }
}

TEST(LzmaCodecTest, WithoutALongEnoughStoredRunStoringIsLzmaCompress) {
  std::mt19937_64 rng(5);
  const std::string data = Repetitive(rng, 500000) + RandomBytes(rng, (1 << 20) - 1) +
                           Repetitive(rng, 100000);
  std::vector<bool> marks((data.size() + kLzmaStoredPiece - 1) / kLzmaStoredPiece, false);
  absl::StatusOr<std::string> whole = LzmaCompress(data, 6);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(*LzmaCompressStoring(data, 6, marks, 2) == *whole);
  // 15 pieces: shorter than kLzmaMinStoredRun.
  for (size_t i = 8; i < 8 + 15; ++i) marks[i] = true;
  EXPECT_TRUE(*LzmaCompressStoring(data, 6, marks, 2) == *whole);
  EXPECT_TRUE(*LzmaCompressStoring("", 6, {}, 2) == *LzmaCompress("", 6));
  marks.pop_back();
  EXPECT_EQ(LzmaCompressStoring(data, 6, marks, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace patchfarm
