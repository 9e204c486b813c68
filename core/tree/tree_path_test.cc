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

}  // namespace
}  // namespace patchfarm
