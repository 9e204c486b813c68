// The reference predictor: its map, the same bases whatever the pieces they
// are computed in, and references of moved x86-64 and arm64 code predicted.
#include "core/delta/reference_predictor.h"

#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(ReferenceMapTest, MapsCoveredPositionsOnly) {
  std::vector<DeltaOp> ops = {{0, 100, 50, 0}, {50, 0, 0, 10}, {60, 500, 20, 0}};
  ReferenceMap map(ops);
  int64_t to = 0;
  ASSERT_TRUE(map.MapOld(100, &to));
  EXPECT_EQ(to, 0);
  ASSERT_TRUE(map.MapOld(149, &to));
  EXPECT_EQ(to, 49);
  EXPECT_FALSE(map.MapOld(150, &to));
  EXPECT_FALSE(map.MapOld(99, &to));
  ASSERT_TRUE(map.MapOld(519, &to));
  EXPECT_EQ(to, 79);
  EXPECT_FALSE(map.MapOld(-1, &to));
}

TEST(ReferenceMapTest, OverlappingRegionsPreferTheLaterStart) {
  std::vector<DeltaOp> ops = {{0, 0, 1000, 0}, {1000, 400, 10, 0}};
  ReferenceMap map(ops);
  int64_t to = 0;
  ASSERT_TRUE(map.MapOld(405, &to));
  EXPECT_EQ(to, 1005);
  ASSERT_TRUE(map.MapOld(300, &to));
  EXPECT_EQ(to, 300);
}

// Regions past 4 GiB move the whole map to 64-bit positions; it maps the
// same. DeltaOp is {new_pos, old_pos, diff_len, extra_len}.
TEST(ReferenceMapTest, PositionsPast4GiBMapToo) {
  const int64_t big = int64_t{5} << 30;
  std::vector<DeltaOp> ops = {{0, 100, 50, 0}, {50, big, 1000, 0}, {big, 200, 10, 0}};
  ReferenceMap map(ops);
  int64_t to = 0;
  ASSERT_TRUE(map.MapOld(120, &to));
  EXPECT_EQ(to, 20);
  ASSERT_TRUE(map.MapOld(big + 999, &to));
  EXPECT_EQ(to, 1049);
  ASSERT_TRUE(map.MapOld(205, &to));  // Into new past 4 GiB.
  EXPECT_EQ(to, big + 5);
  EXPECT_FALSE(map.MapOld(big + 1000, &to));
  ReferenceMap empty;
  empty.Finish();
  EXPECT_FALSE(empty.MapOld(0, &to));
}

// x86-64-like code: calls (E8), jumps (E9), conditional jumps (0F 8x) and
// RIP-relative loads (48 8B 05) to functions and data, with random filler.
std::string X86Code(std::mt19937_64& rng, size_t size) {
  std::string code;
  while (code.size() + 8 < size) {
    const int kind = rng() % 6;
    const int32_t rel = static_cast<int32_t>(rng() % (size / 2)) - static_cast<int32_t>(size / 4);
    auto put32 = [&](int32_t v) {
      for (int k = 0; k < 4; ++k) code.push_back(static_cast<char>(static_cast<uint32_t>(v) >> (8 * k)));
    };
    if (kind == 0) {
      code.push_back('\xE8');
      put32(rel);
    } else if (kind == 1) {
      code += "\x48\x8B\x05";
      put32(rel);
    } else if (kind == 2) {
      code += "\x0F\x84";
      put32(rel);
    } else {
      for (int k = rng() % 6; k >= 0; --k) code.push_back(static_cast<char>("\x90\x48\x89\xC3\x31\xC0"[rng() % 6]));
    }
  }
  code.resize(size, '\x90');
  return code;
}

TEST(ReferencePredictorTest, PiecesGiveTheSameBasesAsOneCall) {
  std::mt19937_64 rng(7);
  for (InstructionSet set : {InstructionSet::kX86_64, InstructionSet::kArm64}) {
    const std::string old = X86Code(rng, 20000);
    std::vector<DeltaOp> ops = {{0, 0, 7000, 0}, {7000, 9000, 11000, 0}, {18000, 100, 2000, 0}};
    ReferenceMap map(ops);
    for (const DeltaOp& op : ops) {
      const auto* old_bytes = reinterpret_cast<const uint8_t*>(old.data()) + op.old_pos;
      std::string whole(op.diff_len, '\0');
      ReferencePredictor one(&map, old.size(), set);
      one.StartRegion(op.old_pos, op.new_pos, op.diff_len);
      one.Fill(0, old_bytes, op.diff_len, reinterpret_cast<uint8_t*>(&whole[0]));
      for (int trial = 0; trial < 20; ++trial) {
        std::string pieces(op.diff_len, '\0');
        ReferencePredictor many(&map, old.size(), set);
        many.StartRegion(op.old_pos, op.new_pos, op.diff_len);
        for (int64_t at = 0; at < op.diff_len;) {
          int64_t n = std::min<int64_t>(op.diff_len - at, 1 + rng() % 9);
          many.Fill(at, old_bytes + at, n, reinterpret_cast<uint8_t*>(&pieces[at]));
          at += n;
        }
        ASSERT_EQ(pieces, whole) << "op at " << op.new_pos << " trial " << trial;
      }
    }
  }
}

TEST(ReferencePredictorTest, PredictsX86ReferencesOfMovedCode) {
  // Old: [A: a call to C][B][C]. New: [A][inserted][B][C]: the call in A to C
  // must grow by the inserted size.
  std::string a = std::string("\x55\x48\x89\xE5\xE8", 5) + std::string(4, '\0') + "\x5D\xC3";
  std::string b(64, '\x90'), c(32, '\xCC');
  const int32_t old_rel = static_cast<int32_t>(a.size() + b.size()) - 9;
  for (int k = 0; k < 4; ++k) a[5 + k] = static_cast<char>(static_cast<uint32_t>(old_rel) >> (8 * k));
  const std::string old = a + b + c;
  const int64_t inserted = 100;
  // Ops: A at 0, then 100 inserted bytes as extra, then B and C moved by 100.
  std::vector<DeltaOp> ops = {{0, 0, static_cast<int64_t>(a.size()), inserted},
                              {static_cast<int64_t>(a.size()) + inserted, static_cast<int64_t>(a.size()),
                               static_cast<int64_t>(b.size() + c.size()), 0}};
  ReferenceMap map(ops);
  ReferencePredictor predictor(&map, old.size(), InstructionSet::kX86_64);
  std::string base(a.size(), '\0');
  predictor.StartRegion(0, 0, a.size());
  predictor.Fill(0, reinterpret_cast<const uint8_t*>(old.data()), a.size(),
                 reinterpret_cast<uint8_t*>(&base[0]));
  int32_t predicted = 0;
  for (int k = 0; k < 4; ++k) predicted |= static_cast<int32_t>(static_cast<uint8_t>(base[5 + k])) << (8 * k);
  EXPECT_EQ(predicted, old_rel + inserted);
  EXPECT_EQ(predictor.predictions(), 1u);
  EXPECT_EQ(base.substr(0, 5), a.substr(0, 5));
}

TEST(ReferencePredictorTest, PredictsArm64BranchesOfMovedCode) {
  // Old: a BL at 0 to offset 64; new: 16 bytes inserted before the target.
  std::string old(128, '\0');
  const uint32_t bl = 0x94000000u | (64 / 4);
  for (int k = 0; k < 4; ++k) old[k] = static_cast<char>(bl >> (8 * k));
  std::vector<DeltaOp> ops = {{0, 0, 32, 16}, {48, 32, 96, 0}};
  ReferenceMap map(ops);
  ReferencePredictor predictor(&map, old.size(), InstructionSet::kArm64);
  std::string base(32, '\0');
  predictor.StartRegion(0, 0, 32);
  predictor.Fill(0, reinterpret_cast<const uint8_t*>(old.data()), 32,
                 reinterpret_cast<uint8_t*>(&base[0]));
  uint32_t word = 0;
  for (int k = 0; k < 4; ++k) word |= uint32_t{static_cast<uint8_t>(base[k])} << (8 * k);
  EXPECT_EQ(word, 0x94000000u | (80 / 4));
}

TEST(ReferencePredictorTest, PredictsArm64AdrpPairsOfMovedData) {
  // Old: ADRP x1 + LDR x2, [x1, #lo] at 0 loading old offset 0x2008; new: the
  // data moved 0x1010 further, the code did not move.
  std::string old(0x3000, '\0');
  auto put = [&](size_t at, uint32_t v) {
    for (int k = 0; k < 4; ++k) old[at + k] = static_cast<char>(v >> (8 * k));
  };
  put(0, 0x90000001u | (2u >> 2) << 5 | (2u & 3) << 29);  // ADRP x1, +2 pages
  put(4, 0xF9400022u | (0x008u / 8) << 10);                // LDR x2, [x1, #8]
  std::vector<DeltaOp> ops = {{0, 0, 0x1000, 0x1010}, {0x2010, 0x1000, 0x2000, 0}};
  ReferenceMap map(ops);
  ReferencePredictor predictor(&map, old.size(), InstructionSet::kArm64);
  std::string base(16, '\0');
  predictor.StartRegion(0, 0, 0x1000);
  predictor.Fill(0, reinterpret_cast<const uint8_t*>(old.data()), 16,
                 reinterpret_cast<uint8_t*>(&base[0]));
  auto get = [&](size_t at) {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= uint32_t{static_cast<uint8_t>(base[at + k])} << (8 * k);
    return v;
  };
  // New target 0x3018: page 3, low 0x018.
  EXPECT_EQ(get(0), 0x90000001u | (3u >> 2) << 5 | (3u & 3) << 29);
  EXPECT_EQ(get(4), 0xF9400022u | (0x018u / 8) << 10);
  EXPECT_EQ(predictor.predictions(), 1u);
}

TEST(ReferencePredictorTest, UnmappedTargetsKeepTheOldBytes) {
  std::mt19937_64 rng(3);
  const std::string old = X86Code(rng, 4096);
  std::vector<DeltaOp> ops = {{0, 0, 1024, 0}};  // Only [0, 1024) is mapped, to itself.
  ReferenceMap map(ops);
  ReferencePredictor predictor(&map, old.size(), InstructionSet::kX86_64);
  std::string base(1024, '\0');
  predictor.StartRegion(0, 0, 1024);
  predictor.Fill(0, reinterpret_cast<const uint8_t*>(old.data()), 1024,
                 reinterpret_cast<uint8_t*>(&base[0]));
  // Identity map: every prediction gives back the old operand.
  EXPECT_EQ(base, old.substr(0, 1024));
}

TEST(DetectInstructionSetTest, ReadsElfPeAndMachOHeaders) {
  std::string elf = std::string("\x7f" "ELF\x02\x01\x01", 7) + std::string(57, '\0');
  elf[18] = '\x3e';
  EXPECT_EQ(DetectInstructionSet(elf), InstructionSet::kX86_64);
  elf[18] = '\xb7';
  EXPECT_EQ(DetectInstructionSet(elf), InstructionSet::kArm64);
  elf[18] = '\x28';  // 32-bit ARM: not predicted.
  EXPECT_EQ(DetectInstructionSet(elf), std::nullopt);
  std::string pe = "MZ" + std::string(62, '\0') + std::string("PE\0\0\x64\x86", 6);
  pe[60] = 64;
  EXPECT_EQ(DetectInstructionSet(pe), InstructionSet::kX86_64);
  pe[60] = 120;  // Points past the end.
  EXPECT_EQ(DetectInstructionSet(pe), std::nullopt);
  const std::string macho("\xcf\xfa\xed\xfe\x0c\0\0\x01", 8);
  EXPECT_EQ(DetectInstructionSet(macho), InstructionSet::kArm64);
  EXPECT_EQ(DetectInstructionSet(""), std::nullopt);
  EXPECT_EQ(DetectInstructionSet("just text"), std::nullopt);
}

TEST(LooksLikeTextTest, TextAndTarsAreTextCodeAndOtherScriptsAreNot) {
  std::string js;
  while (js.size() < (1 << 20)) {
    js += "function f" + std::to_string(js.size()) + "(a) {\r\n\treturn a + \"\xc3\xa9\";\n}\n";
    if (js.size() % 7 == 0) js += std::string(512, '\0');  // Tar headers.
  }
  EXPECT_TRUE(LooksLikeText(js));
  EXPECT_TRUE(LooksLikeText("short text\n"));
  EXPECT_FALSE(LooksLikeText(""));  // Nothing to tell by.

  std::mt19937 rng(5);
  std::string code(1 << 20, '\0');
  for (char& c : code) c = static_cast<char>(rng());  // Half the bytes from 0x80.
  EXPECT_FALSE(LooksLikeText(code));
  // One unlike byte in 7 is too many; one in 9 is not.
  std::string mixed(1 << 20, 'a');
  for (size_t i = 0; i < mixed.size(); i += 7) mixed[i] = '\x01';
  EXPECT_FALSE(LooksLikeText(mixed));
  for (size_t i = 0; i < mixed.size(); ++i) mixed[i] = i % 9 == 0 ? '\x90' : 'a';
  EXPECT_TRUE(LooksLikeText(mixed));
  // Mostly NUL padding: judged by the bytes that are not NUL.
  std::string padded(1 << 20, '\0');
  for (size_t i = 0; i < padded.size(); i += 64) padded[i] = static_cast<char>(0x80 + i % 100);
  EXPECT_FALSE(LooksLikeText(padded));
  EXPECT_FALSE(LooksLikeText(std::string(1 << 16, '\0')));
  std::string cjk;  // U+4E2D, three bytes from 0x80 each.
  while (cjk.size() < 4096) cjk += "\xe4\xb8\xad ";
  EXPECT_FALSE(LooksLikeText(cjk));
}

TEST(MaskReferencesTest, ZeroesOperandsOnly) {
  const std::string code = std::string("\x90\xe8\x11\x22\x33\x44\x48\x8b\x05\x55\x66\x77\x88\xc3", 14);
  const std::string masked = MaskReferences(code, InstructionSet::kX86_64);
  EXPECT_EQ(masked, std::string("\x90\xe8\0\0\0\0\x48\x8b\x05\0\0\0\0\xc3", 14));
  std::string arm(8, '\0');
  arm[0] = '\x10';
  arm[3] = '\x94';  // BL +16
  arm[4] = '\x1f';
  arm[5] = '\x20';
  arm[6] = '\x03';
  arm[7] = '\xd5';  // NOP
  const std::string arm_masked = MaskReferences(arm, InstructionSet::kArm64);
  EXPECT_EQ(arm_masked.substr(0, 4), std::string("\0\0\0\x94", 4));
  EXPECT_EQ(arm_masked.substr(4), arm.substr(4));
}

}  // namespace
}  // namespace patchfarm
