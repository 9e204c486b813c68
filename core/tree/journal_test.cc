#include "core/tree/journal.h"

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

Journal Sample() {
  Journal j;
  JournalOp op;
  op.kind = JournalOp::Kind::kReplace;
  op.path = "dir with space/naïve%file\n";
  op.id = 7;
  op.existed = true;
  j.ops.push_back(op);
  op = JournalOp();
  op.kind = JournalOp::Kind::kChmod;
  op.path = "bin";
  op.directory = true;
  op.old_mode = 0700;
  op.new_mode = 0755;
  j.ops.push_back(op);
  op = JournalOp();
  op.kind = JournalOp::Kind::kRemoveDirectory;
  op.path = "old";
  op.old_mode = 0750;
  j.ops.push_back(op);
  return j;
}

TEST(Journal, RoundTrips) {
  Journal j = Sample();
  j.committed = true;
  absl::StatusOr<Journal> back = DecodeJournal(EncodeJournal(j));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->committed);
  ASSERT_EQ(back->ops.size(), 3u);
  EXPECT_EQ(back->ops[0].path, j.ops[0].path);
  EXPECT_EQ(back->ops[0].id, 7u);
  EXPECT_TRUE(back->ops[0].existed);
  EXPECT_TRUE(back->ops[1].directory);
  EXPECT_EQ(back->ops[1].old_mode, 0700u);
  EXPECT_EQ(back->ops[1].new_mode, 0755u);
  EXPECT_EQ(back->ops[2].old_mode, 0750u);
}

TEST(Journal, EveryTruncationAndEditIsDetected) {
  std::string text = EncodeJournal(Sample());
  for (size_t n = 0; n < text.size(); ++n) {
    EXPECT_FALSE(DecodeJournal(text.substr(0, n)).ok()) << n;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] ^= 0x20;
    EXPECT_FALSE(DecodeJournal(bad).ok()) << i;
  }
}

TEST(Journal, RefusesHostilePaths) {
  Journal j;
  JournalOp op;
  op.kind = JournalOp::Kind::kRemove;
  op.path = "../outside";
  j.ops.push_back(op);
  EXPECT_FALSE(DecodeJournal(EncodeJournal(j)).ok());
}

}  // namespace
}  // namespace patchfarm
