// Methods 4 and 5 (predicted streams) on executable-shaped files made here:
// ELF, PE and Mach-O headers in front of x86-64 or arm64 code whose functions
// call each other and load data, built twice with a function grown in the
// middle so that everything after it moves and every reference across it is
// rewritten by the "linker". Round trips, the size won over methods 1 and 3,
// version 1 patches still applied, and hostile bytes refused.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "common/byte_io.h"
#include "core/delta/apply.h"
#include "core/delta/diff.h"
#include "core/delta/format.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

enum class Shape { kElfX86, kPeX86, kMachOArm64 };

void Put32(std::string* s, size_t at, uint32_t v) {
  for (int k = 0; k < 4; ++k) (*s)[at + k] = static_cast<char>(v >> (8 * k));
}

// A program of `functions` functions and a data area, laid out after a header
// of `shape`; function `grown` is `growth` bytes longer (0: the old build).
std::string Build(Shape shape, uint64_t seed, int functions, int grown, int growth) {
  std::mt19937_64 rng(seed);  // Same seed: same program, whatever the growth.
  std::string out;
  switch (shape) {
    case Shape::kElfX86:
      out = std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(57, '\0');
      break;
    case Shape::kPeX86:
      out = "MZ" + std::string(58, '\0') + std::string("\x80\0\0\0", 4) + std::string(64, '\0') +
            std::string("PE\0\0\x64\x86", 6);
      break;
    case Shape::kMachOArm64:
      out = std::string("\xcf\xfa\xed\xfe\x0c\0\0\x01", 8) + std::string(56, '\0');
      break;
  }
  out.resize(4096, '\0');
  const bool arm = shape == Shape::kMachOArm64;
  struct Fn {
    std::vector<std::pair<int, int>> calls;  // (offset in body, callee or -1 for data)
    std::string body;
    size_t at = 0;
  };
  std::vector<Fn> fns(functions);
  for (int f = 0; f < functions; ++f) {
    Fn& fn = fns[f];
    const size_t size = 64 + rng() % 192 + (f == grown ? growth : 0);
    std::mt19937_64 body_rng(seed * 1000 + f);
    while (fn.body.size() + 8 < size) {
      if (arm) {
        uint32_t word = 0xD503201Fu ^ static_cast<uint32_t>(body_rng() % 4096) << 5;  // Not B/BL.
        if ((word >> 26 & 0x1F) == 0x05) word ^= 1u << 26;
        if (body_rng() % 5 == 0) {
          fn.calls.push_back({static_cast<int>(fn.body.size()), static_cast<int>(body_rng() % functions)});
          word = 0;
        }
        std::string w(4, '\0');
        Put32(&w, 0, word);
        fn.body += w;
      } else if (body_rng() % 4 == 0) {
        const bool data = body_rng() % 3 == 0;
        fn.body += data ? std::string("\x48\x8b\x05", 3) : std::string("\xe8", 1);
        fn.calls.push_back({static_cast<int>(fn.body.size()), data ? -1 : static_cast<int>(body_rng() % functions)});
        fn.body += std::string(4, '\0');
      } else {
        static const char* kPlain[] = {"\x48\x89\xc3", "\x31\xc0", "\x55", "\x5d", "\x48\x83\xc4\x08"};
        fn.body += kPlain[body_rng() % 5];
      }
    }
    fn.body.resize(size, arm ? '\0' : '\x90');
    fn.body.resize((fn.body.size() + 3) / 4 * 4, '\0');
  }
  for (Fn& fn : fns) {
    fn.at = out.size();
    out += fn.body;
  }
  const size_t data_at = out.size();
  for (int i = 0; i < 4096; ++i) out.push_back(static_cast<char>(rng() % 4));
  for (Fn& fn : fns) {  // The linker: every reference to where its target is now.
    for (auto [offset, callee] : fn.calls) {
      const size_t site = fn.at + offset;
      const size_t target = callee < 0 ? data_at + 64 * (offset % 32) : fns[callee].at;
      if (arm) {
        Put32(&out, site, 0x94000000u | (static_cast<uint32_t>((target - site) / 4) & 0x03FFFFFFu));
      } else {
        Put32(&out, site, static_cast<uint32_t>(target - (site + 4)));
      }
    }
  }
  return out;
}

absl::StatusOr<std::string> ApplyBytes(const std::string& old_data, const std::string& patch) {
  std::string out;
  StringSink sink(&out);
  StringSource source(patch);
  absl::Status status = Apply(old_data, source, &sink);
  if (!status.ok()) return status;
  return out;
}

DiffOptions Options(bool predict, bool fast) {
  DiffOptions options;
  options.level = 3;
  options.try_zstd_prefix = false;
  options.predict_references = predict;
  options.fast_apply = fast;
  return options;
}

class PredictedTest : public testing::TestWithParam<Shape> {};

TEST_P(PredictedTest, MovedCodeRoundTripsSmallerThanWithoutPrediction) {
  const std::string old_data = Build(GetParam(), 11, 400, 150, 0);
  const std::string new_data = Build(GetParam(), 11, 400, 150, 96);
  ASSERT_NE(old_data.size(), new_data.size());
  for (bool fast : {false, true}) {
    DiffStats with, without;
    absl::StatusOr<std::string> predicted = Diff(old_data, new_data, Options(true, fast), &with);
    DiffOptions version1 = Options(false, fast);
    version1.sparse = false;
    absl::StatusOr<std::string> plain = Diff(old_data, new_data, version1, &without);
    ASSERT_TRUE(predicted.ok() && plain.ok());
    EXPECT_EQ(with.method, fast ? PatchMethod::kPredictedStreams
                                : PatchMethod::kSizedLzmaSparsePredictedModeledStreams);
    EXPECT_EQ(without.method, fast ? PatchMethod::kStreams : PatchMethod::kModeledStreams);
    if (!fast) {  // Method 8 (zstd streams) is still written on request, and applied.
      DiffOptions zstd_streams = Options(true, false);
      zstd_streams.lzma_streams = false;
      DiffStats stats;
      absl::StatusOr<std::string> patch = Diff(old_data, new_data, zstd_streams, &stats);
      ASSERT_TRUE(patch.ok());
      EXPECT_EQ(stats.method, PatchMethod::kSparsePredictedModeledStreams);
      absl::StatusOr<std::string> out = ApplyBytes(old_data, *patch);
      ASSERT_TRUE(out.ok()) << out.status();
      EXPECT_TRUE(*out == new_data);
    }
    EXPECT_LT(with.nonzero_diff_bytes * 4, without.nonzero_diff_bytes) << "fast " << fast;
    EXPECT_LT(predicted->size(), plain->size()) << "fast " << fast;
    absl::StatusOr<std::string> out = ApplyBytes(old_data, *predicted);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == new_data);
    // Version 1 patches are still applied.
    EXPECT_EQ((*plain)[4], 1);
    out = ApplyBytes(old_data, *plain);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == new_data);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PredictedTest,
                         testing::Values(Shape::kElfX86, Shape::kPeX86, Shape::kMachOArm64));

// Without a header to name the instruction set, each is tried where a sample
// of the ops gains from it: code still gets its references predicted, text
// is left as it is.
TEST(PredictedUnknownFormatTest, CodeWithoutHeaderIsPredictedAndTextIsNot) {
  std::string old_code = Build(Shape::kElfX86, 11, 400, 150, 0);
  std::string new_code = Build(Shape::kElfX86, 11, 400, 150, 96);
  old_code[0] = new_code[0] = 'X';  // No ELF magic.
  DiffStats code;
  ASSERT_TRUE(Diff(old_code, new_code, Options(true, false), &code).ok());
  EXPECT_EQ(code.method, PatchMethod::kSizedLzmaSparsePredictedModeledStreams);

  std::string old_text, new_text;
  for (int i = 0; i < 20000; ++i) {
    old_text += "line " + std::to_string(i * 7919 % 100003) + " of the old text\n";
    new_text += "line " + std::to_string(i * 7919 % 100003 + (i % 50 == 0)) + " of the old text\n";
  }
  DiffStats text;
  absl::StatusOr<std::string> patch = Diff(old_text, new_text, Options(true, false), &text);
  ASSERT_TRUE(patch.ok());
  EXPECT_EQ(text.method, PatchMethod::kSizedLzmaSparseModeledStreams);
  absl::StatusOr<std::string> out = ApplyBytes(old_text, *patch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == new_text);
}

// Executables are matched on masked copies: Diff lets its caller release old
// and new meanwhile (once), and the patch is the same. Text is matched on old
// and new themselves: no release.
TEST(PredictedReleaseTest, InputsReleasedOnceWhileExecutablesAreMatched) {
  // The PE header names its machine (x86-64); the ELF shape's does not.
  const std::string old_data = Build(Shape::kPeX86, 11, 400, 150, 0);
  const std::string new_data = Build(Shape::kPeX86, 11, 400, 150, 96);
  absl::StatusOr<std::string> plain = Diff(old_data, new_data, Options(true, false));
  DiffOptions releasing = Options(true, false);
  int released = 0;
  releasing.release_inputs = [&released] { ++released; };
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, releasing);
  ASSERT_TRUE(plain.ok() && patch.ok());
  EXPECT_EQ(released, 1);
  EXPECT_TRUE(*patch == *plain);

  std::string old_text, new_text;
  for (int i = 0; i < 2000; ++i) {
    old_text += "line " + std::to_string(i) + " of the text\n";
    new_text += "line " + std::to_string(i + (i % 50 == 0)) + " of the text\n";
  }
  released = 0;
  ASSERT_TRUE(Diff(old_text, new_text, releasing).ok());
  EXPECT_EQ(released, 0);
}

// Predicted bases of 1 MiB or more are made in two halves at once: the same
// bases as on one thread (so the same non-zero diff bytes), and the patch
// applies.
TEST(PredictedLargeTest, BasesMadeInTwoHalvesMatchOneThread) {
  const std::string old_data = Build(Shape::kElfX86, 3, 12000, 6000, 0);
  const std::string new_data = Build(Shape::kElfX86, 3, 12000, 6000, 96);
  DiffOptions options = Options(true, false);
  options.threads = 1;
  DiffStats one, two;
  absl::StatusOr<std::string> one_thread = Diff(old_data, new_data, options, &one);
  options.threads = 2;
  absl::StatusOr<std::string> two_threads = Diff(old_data, new_data, options, &two);
  ASSERT_TRUE(one_thread.ok() && two_threads.ok());
  // Past diff.cc's kMinThreadedBasesBytes (1 MiB): the bases are made in halves.
  ASSERT_GT(two.diff_bytes, uint64_t{1} << 20);
  EXPECT_EQ(two.method, PatchMethod::kSizedLzmaSparsePredictedModeledStreams);
  EXPECT_EQ(one.method, two.method);
  EXPECT_EQ(one.diff_bytes, two.diff_bytes);
  EXPECT_EQ(one.nonzero_diff_bytes, two.nonzero_diff_bytes);
  EXPECT_LT(two.nonzero_diff_bytes * 100, two.diff_bytes);
  for (const std::string* patch : {&*one_thread, &*two_threads}) {
    absl::StatusOr<std::string> out = ApplyBytes(old_data, *patch);
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_TRUE(*out == new_data);
  }
}

// The model codes predicted diff bytes from bases remade 64 KiB at a time
// (new less diff): ops far longer than that, not cut at zero runs, round-trip.
TEST(PredictedLargeTest, LongPredictedOpsRoundTrip) {
  const std::string old_data = Build(Shape::kPeX86, 3, 12000, 6000, 0);
  std::string new_data = Build(Shape::kPeX86, 3, 12000, 6000, 96);
  // Single-byte edits everywhere, some at the pieces' edges: non-zero diff
  // bytes inside the long ops.
  for (size_t at = 8192; at < new_data.size(); at += (64 << 10) / 3) new_data[at] ^= 0x21;
  DiffOptions options = Options(true, false);
  options.sparse = false;
  DiffStats stats;
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, options, &stats);
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_EQ(stats.method, PatchMethod::kPredictedModeledStreams);
  ASSERT_GT(stats.diff_bytes / stats.ops, uint64_t{2} << 16);  // Ops of several pieces.
  ASSERT_GT(stats.nonzero_diff_bytes, 0u);
  absl::StatusOr<std::string> out = ApplyBytes(old_data, *patch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_TRUE(*out == new_data);
}

TEST(PredictedHostileTest, EveryTruncationAndBitFlipIsRefused) {
  const std::string old_data = Build(Shape::kElfX86, 5, 60, 20, 0);
  const std::string new_data = Build(Shape::kElfX86, 5, 60, 20, 40);
  for (bool fast : {false, true}) {
    DiffStats stats;
    absl::StatusOr<std::string> patch = Diff(old_data, new_data, Options(true, fast), &stats);
    ASSERT_TRUE(patch.ok());
    ASSERT_TRUE(IsPredicted(stats.method));
    for (size_t len = 0; len < patch->size(); ++len) {
      EXPECT_FALSE(ApplyBytes(old_data, patch->substr(0, len)).ok()) << "truncated to " << len;
    }
    std::mt19937_64 rng(fast ? 2 : 1);
    for (size_t at = 0; at < patch->size(); ++at) {
      std::string bad = *patch;
      bad[at] ^= static_cast<char>(1 << (rng() % 8));
      EXPECT_FALSE(ApplyBytes(old_data, bad).ok()) << "bit flipped at " << at;
    }
  }
}

TEST(PredictedHostileTest, VersionAndMethodMustAgree) {
  const std::string old_data = Build(Shape::kElfX86, 5, 60, 20, 0);
  const std::string new_data = Build(Shape::kElfX86, 5, 60, 20, 40);
  absl::StatusOr<std::string> patch = Diff(old_data, new_data, Options(true, false));
  ASSERT_TRUE(patch.ok());
  std::string bad = *patch;
  bad[4] = 1;  // A version 1 reader's view of a method 4 patch: refused as corrupt.
  EXPECT_EQ(ApplyBytes(old_data, bad).status().code(), absl::StatusCode::kDataLoss);
  bad[4] = 3;
  EXPECT_EQ(ApplyBytes(old_data, bad).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace patchfarm
