// The binding checks refuse results made for another pair: a file patch from
// or to another file, a package to another tree or reading other old files.
#include "core/tree/result_binding.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/byte_io.h"
#include "core/delta/diff.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_testing.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

ManifestEntry FileEntry(const std::string& content) {
  ManifestEntry e;
  e.path = "game";
  e.size = content.size();
  e.digest = Sha256Of(content);
  return e;
}

TEST(FilePatchBindingTest, AcceptsItsOwnPairOnly) {
  const std::string a = "version one of the game binary", b = "version two of the game binary!",
                    c = "a tampered build";
  DiffOptions options;
  options.level = 3;
  absl::StatusOr<std::string> patch = Diff(a, b, options);
  ASSERT_TRUE(patch.ok()) << patch.status();
  StringSource source(*patch);
  EXPECT_TRUE(CheckFilePatchBinding(source, FileEntry(a), FileEntry(b)).ok());
  EXPECT_EQ(CheckFilePatchBinding(source, FileEntry(c), FileEntry(b)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckFilePatchBinding(source, FileEntry(a), FileEntry(c)).code(),
            absl::StatusCode::kPermissionDenied);
  StringSource junk("not a patch at all, just bytes");
  EXPECT_FALSE(CheckFilePatchBinding(junk, FileEntry(a), FileEntry(b)).ok());
}

class PackageBindingTest : public testing::Test {
 protected:
  void SetUp() override {
    old_dir_ = NewTempPath("old");
    new_dir_ = NewTempPath("new");
    other_dir_ = NewTempPath("other");
    ASSERT_TRUE(WriteTree(old_dir_, {{"bin/game", {EntryType::kFile, 0755, "old code"}},
                                     {"data/a.pak", {EntryType::kFile, 0644, "assets a"}},
                                     {"readme", {EntryType::kFile, 0644, "hello"}}})
                    .ok());
    ASSERT_TRUE(WriteTree(new_dir_, {{"bin/game", {EntryType::kFile, 0755, "new code!"}},
                                     {"data/a.pak", {EntryType::kFile, 0644, "assets a"}},
                                     {"readme", {EntryType::kFile, 0644, "hello again"}}})
                    .ok());
    ASSERT_TRUE(WriteTree(other_dir_, {{"bin/game", {EntryType::kFile, 0755, "evil code"}},
                                       {"data/a.pak", {EntryType::kFile, 0644, "assets a"}},
                                       {"readme", {EntryType::kFile, 0644, "hello"}}})
                    .ok());
    StringSink sink(&package_);
    TreeDiffOptions options;
    options.delta.level = 3;
    ASSERT_TRUE(MakePackage(old_dir_, new_dir_, options, &sink, nullptr).ok());
  }

  // CheckPackageBinding of `package` read from `old_manifest` to the tree at `new_dir`.
  static absl::Status Bind(const ByteSource& package, const Manifest& old_manifest,
                           const std::string& new_dir) {
    const Manifest new_manifest = ScanOrDie(new_dir);
    return CheckPackageBinding(package, old_manifest, new_manifest, ManifestDigest(new_manifest));
  }

  std::string old_dir_, new_dir_, other_dir_;
  std::string package_;
};

TEST_F(PackageBindingTest, AcceptsItsOwnPair) {
  StringSource source(package_);
  EXPECT_TRUE(Bind(source, ScanOrDie(old_dir_), new_dir_).ok());
}

TEST_F(PackageBindingTest, RefusesAnotherTarget) {
  StringSource source(package_);
  absl::Status status = Bind(source, ScanOrDie(old_dir_), other_dir_);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
}

TEST_F(PackageBindingTest, RefusesAnotherOldSide) {
  StringSource source(package_);
  absl::Status status = Bind(source, ScanOrDie(other_dir_), new_dir_);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
  Manifest missing = ScanOrDie(old_dir_);
  missing.pop_back();  // No readme.
  status = Bind(source, missing, new_dir_);
  EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << status;
}

// A package naming the new release's manifest digest must make that
// manifest's entries: a forged table with the right digest is refused before
// it is signed, not after a client wrote what it lists.
TEST_F(PackageBindingTest, RefusesNewEntriesTheNewReleaseDoesNotHave) {
  StringSource source(package_);
  absl::StatusOr<Package> package = ReadPackage(source);
  ASSERT_TRUE(package.ok()) << package.status();
  const Manifest old_manifest = ScanOrDie(old_dir_), new_manifest = ScanOrDie(new_dir_);
  const Digest new_digest = ManifestDigest(new_manifest);
  ASSERT_TRUE(CheckPackageBinding(*package, old_manifest, new_manifest, new_digest).ok());
  auto rebuilt = [](Package* p) -> NewEntry* {
    for (NewEntry& n : p->table.new_entries) {
      if (n.entry.path == "bin/game") return &n;
    }
    return nullptr;
  };
  ASSERT_NE(rebuilt(&*package), nullptr);
  ASSERT_EQ(rebuilt(&*package)->source, ContentSource::kBlock);
  const std::vector<std::pair<std::string, std::function<void(Package*)>>> forgeries = {
      {"a rebuilt file 1 TiB long", [&](Package* p) { rebuilt(p)->entry.size = uint64_t{1} << 40; }},
      {"a rebuilt file's mode", [&](Package* p) { rebuilt(p)->entry.mode = 0777; }},
      {"a rebuilt file kept instead",
       [&](Package* p) {
         rebuilt(p)->source = ContentSource::kKeep;
         rebuilt(p)->entry.size = 0;
       }},
      {"an entry fewer", [&](Package* p) { p->table.new_entries.erase(p->table.new_entries.begin()); }},
  };
  for (const auto& [what, forge] : forgeries) {
    Package forged = *package;
    forge(&forged);
    absl::Status status = CheckPackageBinding(forged, old_manifest, new_manifest, new_digest);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << what << ": " << status;
  }
}

TEST_F(PackageBindingTest, RefusesWhatIsNotAPackage) {
  StringSource source("PFTR but not really a package");
  EXPECT_FALSE(Bind(source, ScanOrDie(old_dir_), new_dir_).ok());
}

}  // namespace
}  // namespace patchfarm
