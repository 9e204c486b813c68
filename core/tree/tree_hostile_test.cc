// Hostile packages and hostile installs: each is refused with a clear error
// before anything is written, and the install is left exactly as it was.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "common/directory.h"
#include "common/file.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"
#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_testing.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string Build(const PackageTable& table, const std::vector<std::string>& payloads = {}) {
  std::string bytes;
  StringSink sink(&bytes);
  PackageWriter writer(&sink);
  EXPECT_TRUE(writer.Start().ok());
  for (const std::string& p : payloads) EXPECT_TRUE(writer.AddBlock(p).ok());
  EXPECT_TRUE(writer.Finish(table).ok());
  return bytes;
}

NewEntry Dir(const std::string& path) {
  NewEntry n;
  n.entry.path = path;
  n.entry.type = EntryType::kDirectory;
  n.entry.mode = 0755;
  return n;
}

NewEntry Keep(const std::string& path, uint32_t mode = 0644) {
  NewEntry n;
  n.entry.path = path;
  n.entry.mode = mode;
  return n;
}

NewEntry Link(const std::string& path, const std::string& target) {
  NewEntry n;
  n.entry.path = path;
  n.entry.type = EntryType::kSymlink;
  n.entry.target = target;
  return n;
}

absl::Status Read(const std::string& bytes) {
  StringSource source(bytes);
  return ReadPackage(source).status();
}

TEST(PackageReader, RefusesHostileTables) {
  const std::vector<std::pair<std::string, std::vector<NewEntry>>> cases = {
      {"absolute path", {Keep("/etc/passwd")}},
      {"dot-dot", {Keep("../escape")}},
      {"dot-dot inside", {Dir("a"), Keep("a/../../escape")}},
      {"empty component", {Dir("a"), Keep("a//b")}},
      {"dot component", {Dir("a"), Keep("a/./b")}},
      {"empty path", {Keep("")}},
      {"reserved state dir", {Dir(".patchfarm")}},
      {"NUL in name", {Keep(std::string("a\0b", 3))}},
      {"duplicate", {Keep("a"), Keep("a")}},
      {"out of order", {Keep("b"), Keep("a")}},
      {"parent is a file", {Keep("a"), Keep("a/b")}},
      {"parent missing", {Keep("a/b")}},
      {"absolute symlink", {Link("l", "/etc")}},
      {"escaping symlink", {Dir("a"), Link("a/l", "../../x")}},
      {"set-uid mode", {Keep("a", 04755)}},
  };
  for (const auto& [name, entries] : cases) {
    PackageTable table;
    table.new_entries = entries;
    absl::Status status = Read(Build(table));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << name << ": " << status;
  }
}

// A package whose raw table is `raw`, with no payloads.
std::string WithRawTable(const std::string& raw) {
  auto compressed = ZstdCompress(raw, ZstdOptions{});
  EXPECT_TRUE(compressed.ok());
  std::string bytes("PFTR\x02\x00\x00\x00", 8);
  bytes += *compressed;
  PutFixed64(compressed->size(), &bytes);
  PutFixed64(raw.size(), &bytes);
  const Digest digest = Sha256Of(*compressed);
  bytes.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return bytes + "PFTE";
}

TEST(PackageReader, RefusesPathsThatAddUpTooFar) {
  // Front coding: 140,000 old directories whose 4,005-byte paths share all
  // but their last 5 bytes, 560 MB of paths in a table of about 1.4 MB.
  std::string prefix;
  while (prefix.size() < 4000) prefix += std::string(199, 'd') + "/";
  prefix.resize(4000);
  std::string raw(64, '\0');  // The new manifest's and the base's digests.
  const int count = 140000;
  PutVarint(count, &raw);
  for (int i = 0; i < count; ++i) {
    char tail[8];
    std::snprintf(tail, sizeof(tail), "%05x", i);
    PutVarint(i == 0 ? 0 : prefix.size(), &raw);
    const std::string rest = i == 0 ? prefix + tail : std::string(tail);
    PutVarint(rest.size(), &raw);
    raw += rest;
    raw.push_back(static_cast<char>(EntryType::kDirectory));
  }
  raw += std::string(2, '\0');  // No new entries, no blocks.
  absl::Status status = Read(WithRawTable(raw));
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("paths add up"), absl::string_view::npos) << status;
}

TEST(PackageReader, RefusesBadReferences) {
  PackageTable copy_out_of_range;
  NewEntry copy = Keep("a");
  copy.source = ContentSource::kCopy;
  copy.old_index = 3;
  copy_out_of_range.new_entries = {copy};
  EXPECT_EQ(Read(Build(copy_out_of_range)).code(), absl::StatusCode::kDataLoss);

  PackageTable block_out_of_range;
  NewEntry block = Keep("a");
  block.source = ContentSource::kBlock;
  block.block = 2;
  block_out_of_range.new_entries = {block};
  EXPECT_EQ(Read(Build(block_out_of_range, {"x"})).code(), absl::StatusCode::kDataLoss);

  PackageTable empty_block;
  EXPECT_EQ(Read(Build(empty_block, {"payload"})).code(), absl::StatusCode::kDataLoss);
}

class HostileInstallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string content;
    for (int i = 0; i < 2000; ++i) content += "row " + std::to_string(i * 7919 % 10007) + "\n";
    old_spec_ = {{"lib", {EntryType::kDirectory, 0755, "", ""}},
                 {"lib/core.so", {EntryType::kFile, 0755, content, ""}},
                 {"kept.txt", {EntryType::kFile, 0644, "same in both", ""}},
                 {"gone.txt", {EntryType::kFile, 0644, "removed by the update", ""}}};
    TreeSpec new_spec = old_spec_;
    new_spec.erase("gone.txt");
    new_spec["lib/core.so"].content.insert(5000, "patched ");
    new_spec["lib/new.dat"] = {EntryType::kFile, 0644, "added", ""};
    old_root_ = NewTempPath("old");
    new_root_ = NewTempPath("new");
    ASSERT_TRUE(WriteTree(old_root_, old_spec_).ok());
    ASSERT_TRUE(WriteTree(new_root_, new_spec).ok());
    std::string bytes;
    StringSink sink(&bytes);
    ASSERT_TRUE(MakePackage(old_root_, new_root_, TreeDiffOptions(), &sink).ok());
    package_bytes_ = bytes;
    install_ = NewTempPath("install");
    ASSERT_TRUE(WriteTree(install_, old_spec_).ok());
  }

  absl::Status ApplyBytes(const std::string& bytes) {
    StringSource source(bytes);
    absl::StatusOr<Package> package = ReadPackage(source);
    if (!package.ok()) return package.status();
    return ApplyInPlace(install_, {PackageInput{"pkg", &source, &*package}});
  }

  // The install is exactly as before and no apply state is left.
  void ExpectUntouched(const Digest& before) {
    EXPECT_EQ(ManifestDigest(ScanOrDie(install_)), before);
    struct stat st;
    EXPECT_NE(lstat((install_ + "/.patchfarm/txn").c_str(), &st), 0);
    EXPECT_NE(lstat((install_ + "/.patchfarm/journal").c_str(), &st), 0);
  }

  TreeSpec old_spec_;
  std::string old_root_, new_root_, install_, package_bytes_;
};

TEST_F(HostileInstallTest, ValidPackageApplies) {
  ASSERT_TRUE(ApplyBytes(package_bytes_).ok());
  EXPECT_EQ(ManifestDigest(ScanOrDie(install_)), ManifestDigest(ScanOrDie(new_root_)));
}

TEST_F(HostileInstallTest, SymlinkedParentDirectoryIsRefused) {
  // lib -> a directory outside the install holding the same files.
  std::string outside = NewTempPath("outside");
  ASSERT_TRUE(WriteTree(outside, {{"core.so", old_spec_["lib/core.so"]}}).ok());
  ASSERT_TRUE(RemoveTree(install_ + "/lib").ok());
  ASSERT_EQ(symlink(outside.c_str(), (install_ + "/lib").c_str()), 0);
  Digest outside_before = ManifestDigest(ScanOrDie(outside));
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("symlink"), std::string::npos) << status;
  EXPECT_EQ(ManifestDigest(ScanOrDie(outside)), outside_before);
  struct stat st;
  ASSERT_EQ(lstat((install_ + "/lib").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(lstat((install_ + "/gone.txt").c_str(), &st), 0);
  EXPECT_NE(lstat((install_ + "/.patchfarm/txn").c_str(), &st), 0);
}

TEST_F(HostileInstallTest, SpecialFilesAreRefused) {
  ASSERT_EQ(unlink((install_ + "/gone.txt").c_str()), 0);
  ASSERT_EQ(mkfifo((install_ + "/gone.txt").c_str(), 0644), 0);
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("device file, FIFO or socket"), std::string::npos) << status;
  struct stat st;
  ASSERT_EQ(lstat((install_ + "/gone.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // A device node, where the sandbox lets us make one (it needs CAP_MKNOD).
  ASSERT_EQ(unlink((install_ + "/gone.txt").c_str()), 0);
  if (mknod((install_ + "/gone.txt").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0) {
    status = ApplyBytes(package_bytes_);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
}

TEST_F(HostileInstallTest, ModifiedOldFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomically(install_ + "/lib/core.so", "user edited this", 0755).ok());
  Digest before = ManifestDigest(ScanOrDie(install_));
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("lib/core.so"), std::string::npos) << status;
  ExpectUntouched(before);
}

TEST_F(HostileInstallTest, ModifiedKeptFileIsRefused) {
  ASSERT_TRUE(WriteFileAtomically(install_ + "/kept.txt", "SAME IN BOTH").ok());  // Same size.
  Digest before = ManifestDigest(ScanOrDie(install_));
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  ExpectUntouched(before);
}

// Same size, other content: what the package reads (a delta source), removes
// or keeps is checked by content (the base digest) before any output.
TEST_F(HostileInstallTest, SameSizeEditsAreRefused) {
  for (const char* path : {"lib/core.so", "gone.txt", "kept.txt"}) {
    SCOPED_TRACE(path);
    ASSERT_TRUE(RemoveTree(install_).ok());
    ASSERT_TRUE(WriteTree(install_, old_spec_).ok());
    std::string content = old_spec_.at(path).content;
    content[content.size() / 2] ^= 1;
    ASSERT_TRUE(WriteFileAtomically(install_ + "/" + path, content, old_spec_.at(path).mode).ok());
    Digest before = ManifestDigest(ScanOrDie(install_));
    absl::Status status = ApplyBytes(package_bytes_);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    ExpectUntouched(before);
    std::string out = NewTempPath("out");
    StringSource source(package_bytes_);
    absl::StatusOr<Package> package = ReadPackage(source);
    ASSERT_TRUE(package.ok());
    status = ApplyToNewTree(install_, {PackageInput{"pkg", &source, &*package}}, out);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    struct stat st;
    EXPECT_NE(lstat(out.c_str(), &st), 0);
  }
}

TEST_F(HostileInstallTest, EveryCorruptionOrTruncationIsRefused) {
  Digest before = ManifestDigest(ScanOrDie(install_));
  std::mt19937_64 rng(99);
  for (int i = 0; i < 300; ++i) {
    std::string bad = package_bytes_;
    size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ (1 + rng() % 255));
    absl::Status status = ApplyBytes(bad);
    ASSERT_FALSE(status.ok()) << "flip at " << at;
    ExpectUntouched(before);
  }
  for (size_t n = 0; n < package_bytes_.size(); n += 1 + n / 16) {
    ASSERT_FALSE(ApplyBytes(package_bytes_.substr(0, n)).ok()) << "truncated to " << n;
  }
  ExpectUntouched(before);
}

TEST_F(HostileInstallTest, StateDirectoryThatIsASymlinkIsRefused) {
  std::string elsewhere = NewTempPath("elsewhere");
  ASSERT_EQ(mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), (install_ + "/.patchfarm").c_str()), 0);
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(ManifestDigest(ScanOrDie(elsewhere)), ManifestDigest({}));
}

TEST_F(HostileInstallTest, ConcurrentApplyIsRefused) {
  ASSERT_EQ(mkdir((install_ + "/.patchfarm").c_str(), 0755), 0);
  int fd = open((install_ + "/.patchfarm/lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  absl::Status status = ApplyBytes(package_bytes_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("another apply"), std::string::npos);
  close(fd);
  EXPECT_TRUE(ApplyBytes(package_bytes_).ok());
}

TEST_F(HostileInstallTest, OutOfPlaceNeverOverwritesAndLeavesNothingOnError) {
  StringSource source(package_bytes_);
  absl::StatusOr<Package> package = ReadPackage(source);
  ASSERT_TRUE(package.ok());
  std::vector<PackageInput> chain = {{"pkg", &source, &*package}};
  EXPECT_EQ(ApplyToNewTree(old_root_, chain, new_root_).code(),
            absl::StatusCode::kFailedPrecondition);
  std::string out = NewTempPath("out");
  ASSERT_TRUE(WriteFileAtomically(old_root_ + "/kept.txt", "SAME IN BOTH").ok());
  EXPECT_FALSE(ApplyToNewTree(old_root_, chain, out).ok());
  struct stat st;
  EXPECT_NE(lstat(out.c_str(), &st), 0);
  EXPECT_NE(lstat((out + ".partial-" + std::to_string(getpid())).c_str(), &st), 0);
}

}  // namespace
}  // namespace patchfarm
