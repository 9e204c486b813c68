#include "core/tree/tree_path.h"

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(TreePath, AcceptsOrdinaryPaths) {
  for (const char* path : {"a", "a/b", "bin/x.so.1", "naïve/日本語", "a b/c", ".hidden", "..x", "x.."}) {
    EXPECT_TRUE(ValidateTreePath(path).ok()) << path;
  }
}

TEST(TreePath, RefusesHostilePaths) {
  for (const char* path : {"", "/a", "a/", "a//b", ".", "..", "a/..", "../a", "a/./b",
                           ".patchfarm", ".patchfarm/journal"}) {
    EXPECT_FALSE(ValidateTreePath(path).ok()) << path;
  }
  EXPECT_FALSE(ValidateTreePath(std::string("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateTreePath(std::string(300, 'x')).ok());
  EXPECT_TRUE(ValidateTreePath("x/.patchfarm").ok());  // Reserved at the top only.
}

TEST(TreePath, SymlinkTargetsMustStayInside) {
  EXPECT_TRUE(ValidateSymlinkTarget("lib.so", "lib.so.1").ok());
  EXPECT_TRUE(ValidateSymlinkTarget("bin/tool", "../lib/tool").ok());
  EXPECT_TRUE(ValidateSymlinkTarget("a/b/c", "../../x").ok());
  EXPECT_FALSE(ValidateSymlinkTarget("a/b/c", "../../../x").ok());
  EXPECT_FALSE(ValidateSymlinkTarget("lib.so", "/etc/passwd").ok());
  EXPECT_FALSE(ValidateSymlinkTarget("x", "..").ok());
  EXPECT_FALSE(ValidateSymlinkTarget("x", "").ok());
  // x/y -> .. and q -> x/y/.. would together reach the tree's parent.
  EXPECT_TRUE(ValidateSymlinkTarget("x/y", "..").ok());
  EXPECT_FALSE(ValidateSymlinkTarget("q", "x/y/..").ok());
}

TEST(TreePath, Helpers) {
  EXPECT_EQ(ParentPath("a/b/c"), "a/b");
  EXPECT_EQ(ParentPath("a"), "");
  EXPECT_EQ(PathDepth("a/b/c"), 3);
  EXPECT_EQ(QuotePath("a\nb'"), "'a\\x0ab\\x27'");
}

TEST(TreePath, NewHotfixesMayNotBeNamedAsTemporaryFiles) {
  EXPECT_TRUE(IsTemporaryFileName("fix.txt.tmp-x1Y2z3"));
  EXPECT_FALSE(IsTemporaryFileName("fix.txt.tmp-x1Y2z"));
  EXPECT_FALSE(IsTemporaryFileName(".tmp-x1Y2z3"));
  EXPECT_FALSE(IsTemporaryFileName("mine.tmp-notours"));
  EXPECT_TRUE(ValidateHotfixName("fix.txt.tmp-x1Y2z3").ok());  // Indexes that name one still read.
  absl::Status refused = ValidateNewHotfixName("fix.txt.tmp-x1Y2z3");
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(refused.message().find("temporary"), absl::string_view::npos) << refused;
  EXPECT_TRUE(ValidateNewHotfixName("fix.txt").ok());
}

TEST(TreePath, EscapeControlsLeavesTextButNotWhatATerminalObeys) {
  EXPECT_EQ(EscapeControls("plain, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93"), "plain, \xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(EscapeControls("a\x1b[2Jb\r\n\x7f"), "a\\x1b[2Jb\\x0d\\x0a\\x7f");
  EXPECT_EQ(EscapeControls("\xc2\x9b" "31m \xc2\xa0"), "\\xc2\\x9b31m \xc2\xa0");  // CSI; NBSP stays.
  EXPECT_EQ(EscapeControls("\xc2"), "\xc2");
}

TEST(TreePath, Utf8PrefixCutsBeforeACharacterOrAnInvalidByte) {
  EXPECT_EQ(Utf8Prefix("abc", 10), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 2), "ab");
  EXPECT_EQ(Utf8Prefix("a\xc3\xa9", 2), "a");          // é would end past 2.
  EXPECT_EQ(Utf8Prefix("a\xc3\xa9", 3), "a\xc3\xa9");
  EXPECT_EQ(Utf8Prefix("a\xe2\x82\xac!", 3), "a");    // € is 3 bytes.
  EXPECT_EQ(Utf8Prefix("a\xf0\x9f\x98\x80", 5), "a\xf0\x9f\x98\x80");
  EXPECT_EQ(Utf8Prefix("ok\xff rest", 100), "ok");      // Never valid.
  EXPECT_EQ(Utf8Prefix("ok\xc3(", 100), "ok");          // A bad continuation.
  EXPECT_EQ(Utf8Prefix("ok\xc0\x80", 100), "ok");      // Overlong.
  EXPECT_EQ(Utf8Prefix("ok\xed\xa0\x80", 100), "ok");  // A surrogate.
  EXPECT_EQ(Utf8Prefix("ok\xe2\x82", 100), "ok");      // Cut short.
  // A tree's names are bytes (a local diff takes Latin-1 names); a hotfix
  // name only ever travels as a protobuf string, so it must be UTF-8.
  EXPECT_TRUE(ValidateTreePath("caf\xe9.txt").ok());
  EXPECT_FALSE(ValidateHotfixName("caf\xe9.ini").ok());
  EXPECT_TRUE(ValidateHotfixName("caf\xc3\xa9.ini").ok());
  // ShortPath cuts its 64 bytes before a character, not inside it.
  const std::string path = std::string(63, 'a') + "\xc3\xa9" + std::string(10, 'b');
  EXPECT_EQ(ShortPath(path), "'" + std::string(63, 'a') + "'... (75 bytes)");
}

}  // namespace
}  // namespace patchfarm
