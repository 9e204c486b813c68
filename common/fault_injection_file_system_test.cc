// The power-loss model the crash tests rely on: what survives and what does not.
#include "common/fault_injection_file_system.h"

#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "common/file.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

class FaultInjectionFileSystemTest : public testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" + info->name();
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }

  // Written outside the fault file system: durable.
  void WriteDurable(const std::string& name, const std::string& data) {
    ASSERT_TRUE(WriteFileAtomically(dir_ + "/" + name, data).ok());
  }
  // The content of dir_/name, or "<missing>".
  std::string Read(const std::string& name) {
    absl::StatusOr<std::string> data = ReadFileToString(dir_ + "/" + name);
    return data.ok() ? *data : "<missing>";
  }
  bool Exists(const std::string& name) {
    struct stat st;
    return lstat((dir_ + "/" + name).c_str(), &st) == 0;
  }
  void Write(const std::string& name, const std::string& data, bool sync) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        fs_.OpenWritable(dir_ + "/" + name, OpenMode::kAppend, 0644);
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE((*file)->Append(data).ok());
    if (sync) {
      ASSERT_TRUE((*file)->Sync().ok());
    }
    ASSERT_TRUE((*file)->Close().ok());
  }

  std::string dir_;
  FaultInjectionFileSystem fs_{std::getenv("TEST_TMPDIR")};
};

TEST_F(FaultInjectionFileSystemTest, UnsyncedBytesAreDropped) {
  WriteDurable("f", "old ");
  Write("f", "synced ", /*sync=*/true);
  Write("f", "lost", /*sync=*/false);
  EXPECT_EQ(Read("f"), "old synced lost");
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("f"), "old synced ");
}

TEST_F(FaultInjectionFileSystemTest, NewFileNeedsItsDirectorySynced) {
  Write("a", "data", /*sync=*/true);
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_FALSE(Exists("a"));

  Write("b", "data", /*sync=*/false);
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("b"), "");  // The name survives, the bytes do not.

  Write("c", "data", /*sync=*/true);
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("c"), "data");
}

TEST_F(FaultInjectionFileSystemTest, NewDirectoryNeedsItsParentSynced) {
  ASSERT_TRUE(fs_.MakeDirectory(dir_ + "/d", 0755).ok());
  Write("d/f", "data", /*sync=*/true);
  ASSERT_TRUE(fs_.SyncDirectory(dir_ + "/d").ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_FALSE(Exists("d"));

  ASSERT_TRUE(fs_.MakeDirectory(dir_ + "/d", 0755).ok());
  Write("d/f", "data", /*sync=*/true);
  ASSERT_TRUE(fs_.SyncDirectory(dir_ + "/d").ok());
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("d/f"), "data");
}

TEST_F(FaultInjectionFileSystemTest, UnlinkComesBackUnlessSynced) {
  WriteDurable("f", "content");
  ASSERT_TRUE(fs_.Unlink(dir_ + "/f").ok());
  EXPECT_FALSE(Exists("f"));
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("f"), "content");

  ASSERT_TRUE(fs_.Unlink(dir_ + "/f").ok());
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_FALSE(Exists("f"));
}

TEST_F(FaultInjectionFileSystemTest, RenameOverIsUndoneWithWhatItReplaced) {
  WriteDurable("target", "old");
  WriteDurable("source", "new");
  ASSERT_TRUE(fs_.Rename(dir_ + "/source", dir_ + "/target").ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("target"), "old");
  EXPECT_EQ(Read("source"), "new");

  ASSERT_TRUE(fs_.Rename(dir_ + "/source", dir_ + "/target").ok());
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("target"), "new");
  EXPECT_FALSE(Exists("source"));
}

TEST_F(FaultInjectionFileSystemTest, CrossDirectoryRenameIsDurableWhenEitherSideIsSynced) {
  for (const char* synced : {"from", "to"}) {
    SCOPED_TRACE(synced);
    ASSERT_TRUE(DefaultFileSystem()->RemoveTree(dir_ + "/from").ok());
    ASSERT_TRUE(DefaultFileSystem()->RemoveTree(dir_ + "/to").ok());
    ASSERT_EQ(mkdir((dir_ + "/from").c_str(), 0755), 0);
    ASSERT_EQ(mkdir((dir_ + "/to").c_str(), 0755), 0);
    WriteDurable("from/f", "moved");
    ASSERT_TRUE(fs_.Rename(dir_ + "/from/f", dir_ + "/to/g").ok());
    ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
    EXPECT_EQ(Read("from/f"), "moved");
    EXPECT_FALSE(Exists("to/g"));
    ASSERT_TRUE(fs_.Rename(dir_ + "/from/f", dir_ + "/to/g").ok());
    ASSERT_TRUE(fs_.SyncDirectory(dir_ + "/" + synced).ok());
    ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
    EXPECT_FALSE(Exists("from/f"));
    EXPECT_EQ(Read("to/g"), "moved");
  }
}

TEST_F(FaultInjectionFileSystemTest, RemovedTreeComesBack) {
  ASSERT_EQ(mkdir((dir_ + "/t").c_str(), 0750), 0);
  ASSERT_EQ(mkdir((dir_ + "/t/sub").c_str(), 0700), 0);
  WriteDurable("t/a", "A");
  WriteDurable("t/sub/b", "B");
  ASSERT_EQ(symlink("a", (dir_ + "/t/link").c_str()), 0);
  ASSERT_TRUE(fs_.RemoveTree(dir_ + "/t").ok());
  EXPECT_FALSE(Exists("t"));
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("t/a"), "A");
  EXPECT_EQ(Read("t/sub/b"), "B");
  EXPECT_EQ(Read("t/link"), "A");
  struct stat st;
  ASSERT_EQ(lstat((dir_ + "/t").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(FaultInjectionFileSystemTest, CreatedThenRenamedIsUndoneInOrder) {
  // mkdir d, write d/x, rename d -> e, nothing synced: all gone.
  ASSERT_TRUE(fs_.MakeDirectory(dir_ + "/d", 0755).ok());
  Write("d/x", "x", /*sync=*/true);
  ASSERT_TRUE(fs_.Rename(dir_ + "/d", dir_ + "/e").ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_FALSE(Exists("d"));
  EXPECT_FALSE(Exists("e"));
}

TEST_F(FaultInjectionFileSystemTest, SyncFileSystemMakesEverythingDurable) {
  WriteDurable("gone", "g");
  ASSERT_TRUE(fs_.MakeDirectory(dir_ + "/d", 0755).ok());
  Write("d/f", "unsynced bytes", /*sync=*/false);
  ASSERT_TRUE(fs_.Unlink(dir_ + "/gone").ok());
  ASSERT_TRUE(fs_.SyncFileSystem(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("d/f"), "unsynced bytes");
  EXPECT_FALSE(Exists("gone"));
}

TEST_F(FaultInjectionFileSystemTest, ReadOnlyFileIsTruncatedToo) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs_.OpenWritable(dir_ + "/ro", OpenMode::kCreateNew, 0444);
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE((*file)->Append("kept").ok());
  ASSERT_TRUE((*file)->Sync().ok());
  ASSERT_TRUE((*file)->Append(" dropped").ok());
  ASSERT_TRUE((*file)->Close().ok());
  ASSERT_TRUE(fs_.SyncDirectory(dir_).ok());
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_EQ(Read("ro"), "kept");
  struct stat st;
  ASSERT_EQ(lstat((dir_ + "/ro").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
}

TEST_F(FaultInjectionFileSystemTest, CrashStopsEveryLaterCallAndChangesNothing) {
  fs_.CrashAfter(1);
  ASSERT_TRUE(fs_.MakeDirectory(dir_ + "/first", 0755).ok());
  EXPECT_FALSE(fs_.crashed());
  EXPECT_EQ(fs_.MakeDirectory(dir_ + "/second", 0755).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(fs_.crashed());
  EXPECT_FALSE(Exists("second"));
  EXPECT_EQ(fs_.LStat(dir_ + "/first").status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(fs_.SyncDirectory(dir_).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(fs_.SimulatePowerLoss().ok());
  EXPECT_FALSE(fs_.crashed());
  EXPECT_FALSE(Exists("first"));  // Never synced.
  EXPECT_TRUE(fs_.MakeDirectory(dir_ + "/third", 0755).ok());
}

TEST_F(FaultInjectionFileSystemTest, CountsMutatingOperationsOnly) {
  const int64_t before = fs_.operations();
  Write("f", "x", /*sync=*/true);  // Open, append, sync.
  ASSERT_TRUE(fs_.LStat(dir_ + "/f").ok());
  ASSERT_TRUE(fs_.ReadFile(dir_ + "/f").ok());
  EXPECT_EQ(fs_.operations() - before, 3);
}

}  // namespace
}  // namespace patchfarm
