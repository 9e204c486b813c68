#include "core/delta/diff_model.h"

#include <random>
#include <utility>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

struct Region {
  size_t offset, size;  // In the old/diff buffers.
};

// Old bytes, sparse diff bytes and op regions covering them.
struct Case {
  std::string old_bytes, diff;
  std::vector<Region> regions;
};

Case MakeCase(std::mt19937_64& rng, size_t size) {
  Case c;
  c.old_bytes.resize(size);
  c.diff.resize(size);
  for (size_t i = 0; i < size; ++i) {
    c.old_bytes[i] = static_cast<char>(rng() % 16);
    c.diff[i] = rng() % 20 == 0 ? static_cast<char>(1 + rng() % 3) : 0;
  }
  for (size_t at = 0; at < size;) {
    size_t len = std::min(size - at, size_t{1} + rng() % 5000);
    c.regions.push_back({at, len});
    at += len;
  }
  return c;
}

// Both table sizes (methods 3 and 4, 7 and 8); encoding in pieces with the
// look-ahead (Encode's second form) codes the same bits as per op.
TEST(DiffModelTest, DecodesInAnyChunkingWhatWasEncodedPerOp) {
  for (PatchMethod method : {PatchMethod::kModeledStreams, PatchMethod::kSparseModeledStreams}) {
    std::mt19937_64 rng(11);
    Case c = MakeCase(rng, 300000);
    const int bits = FixedModelBits(method);
    // Eager tables or not, the coded bits are the same.
    DiffModelEncoder encoder(bits, kEagerTablesFromBytes), pieces(bits, 0);
    for (const Region& r : c.regions) {
      const auto* old_at = reinterpret_cast<const uint8_t*>(c.old_bytes.data()) + r.offset;
      const auto* diff_at = reinterpret_cast<const uint8_t*>(c.diff.data()) + r.offset;
      encoder.Encode(old_at, diff_at, r.size);
      for (size_t done = 0; done < r.size;) {
        size_t n = std::min(r.size - done, size_t{1} + rng() % 700);
        pieces.Encode(old_at + done, std::min(r.size - done, n + 64), diff_at + done, n);
        done += n;
      }
    }
    std::string coded = encoder.Finish();
    EXPECT_LT(coded.size(), c.diff.size() / 4);
    EXPECT_TRUE(pieces.Finish() == coded);

    StringSource source(coded);
    DiffModelDecoder decoder(&source, 0, coded.size(), bits);
    std::string decoded(c.diff.size(), '\x55');
    for (const Region& r : c.regions) {
      for (size_t done = 0; done < r.size;) {
        size_t n = std::min(r.size - done, size_t{1} + rng() % 700);
        const auto* old_at =
            reinterpret_cast<const uint8_t*>(c.old_bytes.data()) + r.offset + done;
        ASSERT_TRUE(decoder
                        .Decode(old_at, r.size - done,
                                reinterpret_cast<uint8_t*>(&decoded[r.offset + done]), n)
                        .ok());
        done += n;
      }
    }
    EXPECT_TRUE(decoded == c.diff);
    EXPECT_TRUE(decoder.CheckFinished().ok());
  }
}

// FNV-1a of the coded bytes.
uint64_t Fingerprint(const std::string& bytes) {
  uint64_t h = 14695981039346656037u;
  for (char c : bytes) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211u;
  return h;
}

// The coded bits are the format (FORMAT.md, method 3): a fixed input codes to
// the bytes it coded to when the format was made (these fingerprints were
// taken from the model as it was before its tables became mapped zero pages),
// however the tables are laid out in memory.
TEST(DiffModelTest, CodesTheBitsTheFormatDefines) {
  std::mt19937_64 rng(13);
  Case c = MakeCase(rng, 200000);
  const std::pair<int, uint64_t> kFingerprints[] = {{17, 10676242447455103537u},
                                                    {19, 13927796496050815976u}};
  for (auto [bits, want] : kFingerprints) {
    for (uint64_t coded_bytes : {uint64_t{0}, kEagerTablesFromBytes}) {
      DiffModelEncoder encoder(bits, coded_bytes);
      for (const Region& r : c.regions) {
        encoder.Encode(reinterpret_cast<const uint8_t*>(c.old_bytes.data()) + r.offset,
                       reinterpret_cast<const uint8_t*>(c.diff.data()) + r.offset, r.size);
      }
      const std::string coded = encoder.Finish();
      EXPECT_EQ(Fingerprint(coded), want) << "2^" << bits << " slots, " << coded.size()
                                          << " bytes";
    }
  }
}

TEST(DiffModelTest, TruncatedStreamIsReported) {
  std::mt19937_64 rng(12);
  Case c = MakeCase(rng, 20000);
  DiffModelEncoder encoder(FixedModelBits(PatchMethod::kModeledStreams), c.diff.size());
  encoder.Encode(reinterpret_cast<const uint8_t*>(c.old_bytes.data()),
                 reinterpret_cast<const uint8_t*>(c.diff.data()), c.diff.size());
  std::string coded = encoder.Finish();
  std::string decoded(c.diff.size(), '\0');
  auto decode = [&](const std::string& stream) {
    StringSource source(stream);
    DiffModelDecoder decoder(&source, 0, stream.size(),
                             FixedModelBits(PatchMethod::kModeledStreams));
    absl::Status status =
        decoder.Decode(reinterpret_cast<const uint8_t*>(c.old_bytes.data()), c.diff.size(),
                       reinterpret_cast<uint8_t*>(decoded.data()), c.diff.size());
    return status.ok() ? decoder.CheckFinished() : status;
  };
  EXPECT_TRUE(decode(coded).ok());
  EXPECT_TRUE(decoded == c.diff);
  EXPECT_FALSE(decode(coded.substr(0, coded.size() / 2)).ok());
  EXPECT_FALSE(decode(coded + "x").ok());
}

}  // namespace
}  // namespace patchfarm
