// Tests of common/file.h and of the POSIX FileSystem (common/file_system.h),
// and the atomic writer's crash contract under simulated power loss.
#include "common/file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/fault_injection_file_system.h"
#include "common/file_system.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

class FileTest : public testing::Test {
 protected:
  void SetUp() override {
    const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/" + info->test_suite_name() + "." +
           info->name();
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  uint32_t ModeOf(const std::string& name) const {
    struct stat st;
    EXPECT_EQ(lstat(Path(name).c_str(), &st), 0) << name;
    return st.st_mode & 07777;
  }
  std::vector<std::string> Names() const {
    absl::StatusOr<std::vector<std::string>> names = DefaultFileSystem()->ListDirectory(dir_);
    EXPECT_TRUE(names.ok());
    std::vector<std::string> sorted = names.ok() ? *names : std::vector<std::string>();
    std::sort(sorted.begin(), sorted.end());
    return sorted;
  }

  std::string dir_;
};

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 9)) & 0xff);
  return s;
}

// --- AtomicFileWriter and WriteFileAtomically ---

TEST_F(FileTest, AtomicWriterCommitReplacesTheFileWithItsMode) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "old").ok());
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer = AtomicFileWriter::Create(Path("f"), 0600);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)->Append("new ").ok());
  ASSERT_TRUE((*writer)->Append("content").ok());
  EXPECT_EQ(*ReadFileToString(Path("f")), "old");  // Not before Commit.
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(*ReadFileToString(Path("f")), "new content");
  EXPECT_EQ(ModeOf("f"), 0600u);
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});  // No temporary file left.
  EXPECT_EQ((*writer)->Append("more").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Commit().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FileTest, AtomicWriterDestroyedUncommittedLeavesTheOldFileAndNoTemporary) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "old").ok());
  {
    absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer = AtomicFileWriter::Create(Path("f"));
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Pattern(3 << 20, 1)).ok());  // Some of it on disk already.
    EXPECT_EQ(Names().size(), 2u);
  }
  EXPECT_EQ(*ReadFileToString(Path("f")), "old");
  EXPECT_EQ(Names(), std::vector<std::string>{"f"});
}

TEST_F(FileTest, AtomicWriterKeepsLargeAndSmallAppendsInOrder) {
  std::string expected;
  absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer = AtomicFileWriter::Create(Path("big"));
  ASSERT_TRUE(writer.ok());
  for (size_t n : {size_t{10}, size_t{1} << 20, size_t{700} << 10, size_t{1}, size_t{3} << 20,
                   size_t{0}, size_t{999'999}}) {
    std::string part = Pattern(n, static_cast<uint32_t>(n));
    expected += part;
    ASSERT_TRUE((*writer)->Append(part).ok());
  }
  ASSERT_TRUE((*writer)->Commit().ok());
  EXPECT_EQ(*ReadFileToString(Path("big")), expected);
}

TEST_F(FileTest, AtomicWriterNeedsAnExistingDirectory) {
  EXPECT_EQ(AtomicFileWriter::Create(Path("missing/f")).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(WriteFileAtomically(Path("missing/f"), "x").code(), absl::StatusCode::kNotFound);
}

TEST_F(FileTest, WriteFileAtomicallyCreatesAndReplacesWithExactMode) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "one", 0666).ok());  // Not narrowed by the umask.
  EXPECT_EQ(ModeOf("f"), 0666u);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "", 0640).ok());
  EXPECT_EQ(*ReadFileToString(Path("f")), "");
  EXPECT_EQ(ModeOf("f"), 0640u);
}

TEST_F(FileTest, WriteFileAtomicallyReplacesASymlinkNotItsTarget) {
  ASSERT_TRUE(WriteFileAtomically(Path("target"), "target").ok());
  ASSERT_EQ(symlink("target", Path("link").c_str()), 0);
  ASSERT_TRUE(WriteFileAtomically(Path("link"), "replaced").ok());
  EXPECT_EQ(*ReadFileToString(Path("target")), "target");
  EXPECT_EQ(*ReadFileToString(Path("link")), "replaced");
  absl::StatusOr<FileInfo> info = DefaultFileSystem()->LStat(Path("link"));
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->type, FileType::kRegular);
}

// --- Readers ---

TEST_F(FileTest, ReadFileToStringErrors) {
  EXPECT_EQ(ReadFileToString(Path("missing")).status().code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(mkdir(Path("d").c_str(), 0755), 0);
  EXPECT_EQ(ReadFileToString(Path("d")).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0644), 0);  // Refused without hanging.
  EXPECT_EQ(ReadFileToString(Path("fifo")).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FileTest, MappedFileOfEmptyAndNonEmptyFiles) {
  ASSERT_TRUE(WriteFileAtomically(Path("empty"), "").ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> empty = MappedFile::Open(Path("empty"));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE((*empty)->data().empty());
  EXPECT_EQ(*ReadFileToString(Path("empty")), "");

  const std::string data = Pattern(100'000, 5);
  ASSERT_TRUE(WriteFileAtomically(Path("full"), data).ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> full = MappedFile::Open(Path("full"));
  ASSERT_TRUE(full.ok());
  EXPECT_EQ((*full)->data(), data);
  EXPECT_EQ(MappedFile::Open(Path("missing")).status().code(), absl::StatusCode::kNotFound);
}

// The resident KiB of the mapping that starts at `addr` (/proc/self/smaps).
int64_t MappingRssKb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  const std::string start =
      absl::StrCat(absl::Hex(reinterpret_cast<uintptr_t>(addr), absl::kZeroPad8), "-");
  bool in_mapping = false;
  for (std::string line; std::getline(smaps, line);) {
    if (line.rfind(start, 0) == 0) in_mapping = true;
    if (in_mapping && line.rfind("Rss:", 0) == 0) return std::stoll(line.substr(4));
  }
  return -1;
}

TEST_F(FileTest, ReleasedPagesLeaveTheResidentSetAndReadBackTheSame) {
  const std::string data = Pattern(4 << 20, 3);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), data).ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(Path("f"));
  ASSERT_TRUE(file.ok());
  ASSERT_EQ((*file)->data(), data);  // Every page read: resident.
  EXPECT_GE(MappingRssKb((*file)->data().data()), 4000);
  (*file)->ReleasePages();
  EXPECT_LT(MappingRssKb((*file)->data().data()), 1000);
  EXPECT_EQ((*file)->data(), data);
}

// Reads every page of `file` (a pass over it), returning their byte sum.
uint64_t ReadAll(const MappedFile& file) {
  uint64_t sum = 0;
  for (char c : file.data()) sum += static_cast<uint8_t>(c);
  return sum;
}

TEST_F(FileTest, PageReleaserDropsWhatPassesReadWhileItLives) {
  const std::string data = Pattern(16 << 20, 6);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), data).ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> file = MappedFile::Open(Path("f"));
  ASSERT_TRUE(file.ok());
  const void* addr = (*file)->data().data();
  const uint64_t sum = ReadAll(**file);
  EXPECT_GE(MappingRssKb(addr), 12000);  // Without a releaser, all stays.
  {
    PageReleaser releaser({file->get()}, std::chrono::milliseconds(1));
    // Each pass faults every page back in, and the releaser drops them:
    // once it has run after a pass, little of the file is resident.
    int64_t rss = MappingRssKb(addr);
    for (int pass = 0; pass < 200 && rss >= 4000; ++pass) {
      EXPECT_EQ(ReadAll(**file), sum);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      rss = MappingRssKb(addr);
    }
    EXPECT_LT(rss, 4000);
  }
  EXPECT_EQ((*file)->data(), data);
  EXPECT_GE(MappingRssKb(addr), 12000);  // Stopped: what is read stays again.
}

TEST_F(FileTest, PageReleaserKeepsAHeldFilesPages) {
  const std::string data = Pattern(16 << 20, 7);
  ASSERT_TRUE(WriteFileAtomically(Path("held"), data).ok());
  ASSERT_TRUE(WriteFileAtomically(Path("dropped"), data).ok());
  absl::StatusOr<std::unique_ptr<MappedFile>> held = MappedFile::Open(Path("held"));
  absl::StatusOr<std::unique_ptr<MappedFile>> dropped = MappedFile::Open(Path("dropped"));
  ASSERT_TRUE(held.ok() && dropped.ok());
  const void* held_addr = (*held)->data().data();
  const void* dropped_addr = (*dropped)->data().data();
  const uint64_t sum = ReadAll(**held);
  PageReleaser releaser({held->get(), dropped->get()}, std::chrono::milliseconds(1));
  releaser.Hold(**held, true);  // Its thread may have dropped both once already.
  int64_t rss = 0;
  int pass = 0;
  do {  // Both read, then a wait in which the releaser runs.
    EXPECT_EQ(ReadAll(**held), sum);
    EXPECT_EQ(ReadAll(**dropped), sum);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rss = MappingRssKb(dropped_addr);
  } while (++pass < 200 && rss >= 4000);
  EXPECT_LT(rss, 4000);
  EXPECT_GE(MappingRssKb(held_addr), 12000);  // Read as often, and kept.
  releaser.Hold(**held, false);
  rss = MappingRssKb(held_addr);
  for (int wait = 0; wait < 200 && rss >= 4000; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rss = MappingRssKb(held_addr);
  }
  EXPECT_LT(rss, 4000);
}

// An install a root updater changes may hold a local user's symlinks, put
// in place of a file after the updater looked: neither chmod nor a copy
// goes through them.
TEST_F(FileTest, ChmodAndCopyFileDoNotFollowASymlink) {
  ASSERT_TRUE(WriteFileAtomically(Path("victim"), "secret", 0600).ok());
  ASSERT_EQ(symlink(Path("victim").c_str(), Path("link").c_str()), 0);
  absl::Status chmod = DefaultFileSystem()->Chmod(Path("link"), 0777);
  EXPECT_EQ(chmod.code(), absl::StatusCode::kFailedPrecondition) << chmod;
  EXPECT_EQ(ModeOf("victim"), 0600u);
  EXPECT_FALSE(DefaultFileSystem()->CopyFile(Path("link"), Path("copy"), 0644).ok());
  EXPECT_EQ(access(Path("copy").c_str(), F_OK), -1);
  ASSERT_TRUE(DefaultFileSystem()->Chmod(Path("victim"), 0640).ok());  // Files still change.
  EXPECT_EQ(ModeOf("victim"), 0640u);
}

TEST_F(FileTest, CopyFileAtomicallyReplacesTheTargetWithTheSourcesBytes) {
  const std::string data = Pattern((3 << 20) + 777, 8);  // Past the 1 MiB pieces.
  ASSERT_TRUE(WriteFileAtomically(Path("from"), data).ok());
  ASSERT_TRUE(WriteFileAtomically(Path("to"), "the old bytes").ok());
  ASSERT_TRUE(CopyFileAtomically(Path("from"), Path("to"), 0751).ok());
  EXPECT_EQ(*ReadFileToString(Path("to")), data);
  struct stat st;
  ASSERT_EQ(stat(Path("to").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0751u);

  ASSERT_TRUE(WriteFileAtomically(Path("to"), "kept").ok());
  EXPECT_EQ(CopyFileAtomically(Path("missing"), Path("to")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(*ReadFileToString(Path("to")), "kept");
}

TEST_F(FileTest, FileSourceReadsAtOffsetsAndStopsAtTheEnd) {
  const std::string data = Pattern(5000, 9);
  ASSERT_TRUE(WriteFileAtomically(Path("f"), data).ok());
  absl::StatusOr<std::unique_ptr<FileSource>> source = FileSource::Open(Path("f"));
  ASSERT_TRUE(source.ok());
  EXPECT_EQ((*source)->size(), 5000u);
  char buf[100];
  absl::StatusOr<size_t> n = (*source)->ReadAt(4950, buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 50u);
  EXPECT_EQ(std::string(buf, 50), data.substr(4950));
  EXPECT_EQ(*(*source)->ReadAt(5000, buf, sizeof(buf)), 0u);
  EXPECT_EQ(*(*source)->ReadAt(1'000'000, buf, sizeof(buf)), 0u);
}

// Apply reads an intermediate version of a chain from two threads at once.
TEST_F(FileTest, ScratchFileReadsFromSeveralThreadsAtOnce) {
  absl::StatusOr<std::unique_ptr<ScratchFile>> scratch = ScratchFile::Create(dir_);
  ASSERT_TRUE(scratch.ok());
  // Past the 1 MiB that is written at once, and some still buffered.
  const std::string data = Pattern((3 << 20) + 12345, 4);
  for (size_t at = 0; at < data.size(); at += 100000) {
    ASSERT_TRUE((*scratch)->Append(absl::string_view(data).substr(at, 100000)).ok());
  }
  std::vector<std::string> errors(2);
  auto read = [&](int reader) {
    std::string buf(70000, '\0');
    for (size_t at = reader * 5000; at < data.size(); at += 65536) {
      absl::StatusOr<size_t> n = (*scratch)->ReadAt(at, buf.data(), buf.size());
      const size_t want = std::min(buf.size(), data.size() - at);
      if (!n.ok() || *n != want || buf.compare(0, want, data, at, want) != 0) {
        errors[reader] = absl::StrCat("reader ", reader, " at ", at);
        return;
      }
    }
  };
  std::thread other(read, 1);
  read(0);
  other.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
}

// Appends of 1 MiB and more are written straight, after what is buffered.
TEST_F(FileTest, ScratchFileKeepsTheOrderOfSmallAndLargeAppends) {
  absl::StatusOr<std::unique_ptr<ScratchFile>> scratch = ScratchFile::Create(dir_);
  ASSERT_TRUE(scratch.ok());
  const std::string data = Pattern((9 << 20) + 7, 6);
  const size_t sizes[] = {10, 3 << 20, 500000, 600000, 1 << 20, 1, 4 << 20};
  size_t at = 0;
  for (size_t n : sizes) {
    n = std::min(n, data.size() - at);
    ASSERT_TRUE((*scratch)->Append(absl::string_view(data).substr(at, n)).ok());
    at += n;
    EXPECT_EQ((*scratch)->size(), at);
  }
  ASSERT_EQ(at, data.size());
  std::string back(data.size(), '\0');
  absl::StatusOr<size_t> n = (*scratch)->ReadAt(0, back.data(), back.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, data.size());
  EXPECT_TRUE(back == data);
}

// --- FileWriter and CopyFile ---

TEST_F(FileTest, FileWriterMakesANewFileWithExactMode) {
  absl::StatusOr<std::unique_ptr<FileWriter>> writer = FileWriter::Create(Path("f"), 0751);
  ASSERT_TRUE(writer.ok());
  const std::string big = Pattern(2 << 20, 3);
  ASSERT_TRUE((*writer)->Append("head").ok());
  ASSERT_TRUE((*writer)->Append(big).ok());
  ASSERT_TRUE((*writer)->Close().ok());
  ASSERT_TRUE((*writer)->Close().ok());  // Twice is fine.
  EXPECT_EQ((*writer)->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(*ReadFileToString(Path("f")), "head" + big);
  EXPECT_EQ(ModeOf("f"), 0751u);
}

TEST_F(FileTest, FileWriterNeverReplacesNorFollowsASymlink) {
  ASSERT_TRUE(WriteFileAtomically(Path("f"), "mine").ok());
  EXPECT_EQ(FileWriter::Create(Path("f"), 0644).status().code(), absl::StatusCode::kAlreadyExists);
  ASSERT_EQ(symlink("nowhere", Path("dangling").c_str()), 0);
  EXPECT_EQ(FileWriter::Create(Path("dangling"), 0644).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*ReadFileToString(Path("f")), "mine");
  EXPECT_NE(access(Path("nowhere").c_str(), F_OK), 0);
}

TEST_F(FileTest, FileWriterDestroyedUnclosedKeepsWhatWasWritten) {
  {
    absl::StatusOr<std::unique_ptr<FileWriter>> writer = FileWriter::Create(Path("f"), 0644);
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append(Pattern(3 << 20, 4)).ok());
  }
  absl::StatusOr<FileInfo> info = DefaultFileSystem()->LStat(Path("f"));
  ASSERT_TRUE(info.ok());
  EXPECT_GE(info->size, uint64_t{1} << 20);
}

TEST_F(FileTest, CopyFileCopiesContentAndSetsMode) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{3'000'001}}) {
    const std::string data = Pattern(size, 11);
    const std::string from = Path("from" + std::to_string(size));
    const std::string to = Path("to" + std::to_string(size));
    ASSERT_TRUE(WriteFileAtomically(from, data, 0644).ok());
    ASSERT_TRUE(CopyFile(from, to, 0755).ok());
    EXPECT_EQ(*ReadFileToString(to), data);
    EXPECT_EQ(ModeOf("to" + std::to_string(size)), 0755u);
    EXPECT_EQ(CopyFile(from, to, 0755).code(), absl::StatusCode::kAlreadyExists);
  }
  EXPECT_EQ(CopyFile(Path("missing"), Path("x"), 0644).code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(mkdir(Path("d").c_str(), 0755), 0);
  EXPECT_EQ(CopyFile(Path("d"), Path("y"), 0644).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(access(Path("y").c_str(), F_OK), 0);
}

// --- Errors ---

TEST_F(FileTest, ErrnoToStatusNamesTheOperationAndPath) {
  absl::Status s = ErrnoToStatus(ENOENT, "open", "/some/path");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("open /some/path"), absl::string_view::npos);
  EXPECT_EQ(ErrnoToStatus(EACCES, "x", "p").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(EPERM, "x", "p").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "x", "p").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EDQUOT, "x", "p").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(ENOTDIR, "x", "p").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ErrnoToStatus(EIO, "x", "p").code(), absl::StatusCode::kInternal);
}

TEST_F(FileTest, FsyncDirectory) {
  EXPECT_TRUE(FsyncDirectory(dir_).ok());
  EXPECT_EQ(FsyncDirectory(Path("missing")).code(), absl::StatusCode::kNotFound);
}

// --- The POSIX FileSystem ---

TEST_F(FileTest, PosixDirectoriesAndNames) {
  FileSystem* fs = DefaultFileSystem();
  ASSERT_TRUE(fs->MakeDirectory(Path("d"), 0750).ok());
  EXPECT_EQ(fs->MakeDirectory(Path("d"), 0750).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(WriteFileAtomically(Path("d/f"), "x").ok());
  EXPECT_EQ(fs->RemoveDirectory(Path("d")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(fs->RemoveDirectory(Path("missing")).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(fs->Symlink("d/f", Path("link")).ok());
  EXPECT_EQ(fs->Symlink("d/f", Path("link")).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*fs->ReadLink(Path("link")), "d/f");
  EXPECT_EQ(fs->LStat(Path("link"))->type, FileType::kSymlink);
  EXPECT_EQ(fs->Stat(Path("link"))->type, FileType::kRegular);
  EXPECT_EQ(fs->LStat(Path("d"))->type, FileType::kDirectory);
  EXPECT_EQ(fs->LStat(Path("d"))->mode, 0750u);
  EXPECT_EQ(fs->LStat(Path("missing")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(fs->Unlink(Path("d")).code(), absl::StatusCode::kInvalidArgument);  // EISDIR
  ASSERT_TRUE(fs->Rename(Path("d/f"), Path("g")).ok());
  EXPECT_EQ(Names(), (std::vector<std::string>{"d", "g", "link"}));
  ASSERT_TRUE(fs->Chmod(Path("g"), 0604).ok());
  EXPECT_EQ(ModeOf("g"), 0604u);
  ASSERT_TRUE(fs->Unlink(Path("link")).ok());
  ASSERT_TRUE(fs->RemoveDirectory(Path("d")).ok());
  EXPECT_EQ(Names(), std::vector<std::string>{"g"});
}

TEST_F(FileTest, PosixWritableFileAppendsAndCreates) {
  FileSystem* fs = DefaultFileSystem();
  for (const char* part : {"one ", "two"}) {
    absl::StatusOr<std::unique_ptr<WritableFile>> file =
        fs->OpenWritable(Path("f"), OpenMode::kAppend, 0644);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append(part).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Close().ok());
    EXPECT_EQ((*file)->Append("x").code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_EQ(*fs->ReadFile(Path("f")), "one two");
  EXPECT_EQ(fs->OpenWritable(Path("f"), OpenMode::kCreateNew, 0644).status().code(),
            absl::StatusCode::kAlreadyExists);
  std::string temp;
  absl::StatusOr<std::unique_ptr<WritableFile>> t = fs->CreateTemporary(Path("t."), 0600, &temp);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(temp.size(), Path("t.").size() + 6);
  EXPECT_EQ(fs->LStat(temp)->mode, 0600u);
}

TEST_F(FileTest, PosixLockIsExclusiveUntilReleased) {
  FileSystem* fs = DefaultFileSystem();
  absl::StatusOr<std::unique_ptr<FileLock>> first = fs->LockFile(Path("lock"));
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(fs->LockFile(Path("lock")).status().code(), absl::StatusCode::kUnavailable);
  first->reset();
  EXPECT_TRUE(fs->LockFile(Path("lock")).ok());
}

TEST_F(FileTest, RemoveTreeRemovesReadOnlyDirectoriesAndNeverFollowsSymlinks) {
  FileSystem* fs = DefaultFileSystem();
  ASSERT_TRUE(fs->MakeDirectory(Path("outside"), 0755).ok());
  ASSERT_TRUE(WriteFileAtomically(Path("outside/keep"), "keep").ok());
  ASSERT_TRUE(fs->MakeDirectory(Path("t"), 0755).ok());
  ASSERT_TRUE(fs->MakeDirectory(Path("t/ro"), 0755).ok());
  ASSERT_TRUE(WriteFileAtomically(Path("t/ro/f"), "f").ok());
  ASSERT_TRUE(fs->Symlink("../../outside", Path("t/ro/escape")).ok());
  ASSERT_TRUE(fs->Chmod(Path("t/ro"), 0500).ok());
  ASSERT_TRUE(fs->RemoveTree(Path("t")).ok());
  EXPECT_EQ(Names(), std::vector<std::string>{"outside"});
  EXPECT_EQ(*ReadFileToString(Path("outside/keep")), "keep");
  EXPECT_TRUE(fs->RemoveTree(Path("t")).ok());  // Missing is fine.
  ASSERT_TRUE(WriteFileAtomically(Path("file"), "x").ok());
  EXPECT_TRUE(fs->RemoveTree(Path("file")).ok());
}

// --- Crash contract ---

// Power loss at every step of an atomic replacement (and of a creation): the
// file is the old content (or absent) or the new one, and the new one once
// Commit returned OK.
TEST_F(FileTest, AtomicWriterPowerLossAtEveryStepLeavesOldOrNew) {
  const std::string new_content = Pattern((2 << 20) + 12345, 21);
  for (bool existed : {true, false}) {
    int steps = 0;
    for (int crash_at = 0;; ++crash_at) {
      SCOPED_TRACE(testing::Message() << "existed " << existed << ", crash at " << crash_at);
      const std::string path = Path(absl::StrCat("f", existed, "-", crash_at));
      if (existed) {
        ASSERT_TRUE(WriteFileAtomically(path, "old content").ok());
      }
      FaultInjectionFileSystem fs(dir_);
      fs.CrashAfter(crash_at);
      absl::Status status = [&]() -> absl::Status {
        absl::StatusOr<std::unique_ptr<AtomicFileWriter>> writer =
            AtomicFileWriter::Create(path, 0640, &fs);
        if (!writer.ok()) return writer.status();
        for (size_t at = 0; at < new_content.size(); at += 700'000) {
          absl::Status s = (*writer)->Append(absl::string_view(new_content).substr(at, 700'000));
          if (!s.ok()) return s;
        }
        return (*writer)->Commit();
      }();
      const bool crashed = fs.crashed();
      ASSERT_TRUE(fs.SimulatePowerLoss().ok());
      absl::StatusOr<std::string> now = ReadFileToString(path);
      if (status.ok()) {
        ASSERT_TRUE(now.ok()) << now.status();
        EXPECT_TRUE(*now == new_content) << "committed content lost";
        EXPECT_EQ(ModeOf(path.substr(dir_.size() + 1)), 0640u);
      } else if (existed) {
        ASSERT_TRUE(now.ok()) << now.status();
        EXPECT_EQ(*now, "old content");
      } else {
        EXPECT_EQ(now.status().code(), absl::StatusCode::kNotFound);
      }
      if (!crashed) {
        ASSERT_TRUE(status.ok()) << status;
        break;
      }
      ++steps;
    }
    EXPECT_GE(steps, 6);  // Create, appends, sync, rename, directory sync.
  }
}

}  // namespace
}  // namespace patchfarm
