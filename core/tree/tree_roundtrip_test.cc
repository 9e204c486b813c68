// Round trips of tree packages over generated releases: out of place, in
// place (with a user's extra files), and chains, compared by manifest.
#include <sys/stat.h>

#include <random>
#include <string>
#include <vector>

#include "common/file.h"
#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_testing.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

struct PackageFile {
  std::string path;
  std::unique_ptr<FileSource> source;
  Package package;
};

TreeDiffOptions FastOptions() {
  TreeDiffOptions options;
  options.delta.level = 3;
  return options;
}

std::unique_ptr<PackageFile> MakePackageFile(const std::string& old_dir, const std::string& new_dir,
                                             TreeDiffStats* stats = nullptr,
                                             const TreeDiffOptions& options = FastOptions()) {
  auto p = std::make_unique<PackageFile>();
  p->path = NewTempPath("package");
  std::string bytes;
  StringSink sink(&bytes);
  absl::Status status = MakePackage(old_dir, new_dir, options, &sink, stats);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(WriteFileAtomically(p->path, bytes).ok());
  auto source = FileSource::Open(p->path);
  EXPECT_TRUE(source.ok());
  p->source = std::move(*source);
  auto package = ReadPackage(*p->source);
  EXPECT_TRUE(package.ok()) << package.status();
  if (package.ok()) p->package = std::move(*package);
  return p;
}

std::vector<PackageInput> Chain(const std::vector<const PackageFile*>& files) {
  std::vector<PackageInput> chain;
  for (const PackageFile* f : files) chain.push_back({f->path, f->source.get(), &f->package});
  return chain;
}

// Equal manifests, with the differing paths listed on failure.
void ExpectSameTree(const std::string& expected_root, const std::string& actual_root) {
  Manifest expected = ScanOrDie(expected_root);
  Manifest actual = ScanOrDie(actual_root);
  if (ManifestDigest(expected) == ManifestDigest(actual)) return;
  std::map<std::string, Digest> a, b;
  for (const auto& e : expected) a[e.path] = ManifestDigest({e});
  for (const auto& e : actual) b[e.path] = ManifestDigest({e});
  for (const auto& [path, d] : a) {
    if (b.count(path) == 0) ADD_FAILURE() << "missing " << path;
    else if (b[path] != d) ADD_FAILURE() << "differs " << path;
  }
  for (const auto& [path, d] : b) {
    if (a.count(path) == 0) ADD_FAILURE() << "unexpected " << path;
  }
}

std::string Write(const TreeSpec& spec, const std::string& name) {
  std::string root = NewTempPath(name);
  absl::Status status = WriteTree(root, spec);
  EXPECT_TRUE(status.ok()) << status;
  return root;
}

TEST(TreeRoundTrip, GeneratedReleasesOutOfPlaceInPlaceAndChained) {
  std::random_device seeder;
  const uint64_t base_seed = (uint64_t{seeder()} << 32) | seeder();
  for (int round = 0; round < 4; ++round) {
    const uint64_t seed = base_seed + round;
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    std::vector<TreeSpec> specs = {RandomTree(rng, 60)};
    for (int i = 0; i < 3; ++i) specs.push_back(NextRelease(rng, specs.back()));
    std::vector<std::string> roots;
    for (size_t i = 0; i < specs.size(); ++i) roots.push_back(Write(specs[i], "v" + std::to_string(i)));

    auto p01 = MakePackageFile(roots[0], roots[1]);
    auto p12 = MakePackageFile(roots[1], roots[2]);
    auto p23 = MakePackageFile(roots[2], roots[3]);
    auto p03 = MakePackageFile(roots[0], roots[3]);

    std::string out = NewTempPath("out");
    ASSERT_TRUE(ApplyToNewTree(roots[0], Chain({p01.get()}), out).ok());
    ExpectSameTree(roots[1], out);
    std::string out_chain = NewTempPath("out-chain");
    absl::Status status = ApplyToNewTree(roots[0], Chain({p01.get(), p12.get(), p23.get()}), out_chain);
    ASSERT_TRUE(status.ok()) << status;
    ExpectSameTree(roots[3], out_chain);
    std::string out_cumulative = NewTempPath("out-cumulative");
    ASSERT_TRUE(ApplyToNewTree(roots[0], Chain({p03.get()}), out_cumulative).ok());
    ExpectSameTree(roots[3], out_cumulative);

    // In place, step by step and as a chain; a user's file survives.
    std::string install = Write(specs[0], "install");
    ASSERT_TRUE(WriteFileAtomically(install + "/user-notes.txt", "mine").ok());
    status = ApplyInPlace(install, Chain({p01.get()}));
    ASSERT_TRUE(status.ok()) << status;
    status = ApplyInPlace(install, Chain({p12.get(), p23.get()}));
    ASSERT_TRUE(status.ok()) << status;
    auto notes = MappedFile::Open(install + "/user-notes.txt");
    ASSERT_TRUE(notes.ok());
    EXPECT_EQ((*notes)->data(), "mine");
    ASSERT_EQ(unlink((install + "/user-notes.txt").c_str()), 0);
    ExpectSameTree(roots[3], install);
    // Applying a package to the wrong version fails and changes nothing.
    status = ApplyInPlace(install, Chain({p01.get()}));
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    ExpectSameTree(roots[3], install);
  }
}

// Under a budget too small for whole-file matching every block is diffed by
// the bounded engine over the files; the packages apply as any other, alone,
// chained (an intermediate version's files are a block's sources) and in place.
TEST(TreeRoundTrip, BlocksOverTheMemoryBudgetAreDiffedBounded) {
  std::mt19937_64 rng(21);
  std::vector<TreeSpec> specs = {RandomTree(rng, 40)};
  for (int i = 0; i < 2; ++i) specs.push_back(NextRelease(rng, specs.back()));
  std::vector<std::string> roots;
  for (size_t i = 0; i < specs.size(); ++i) roots.push_back(Write(specs[i], "b" + std::to_string(i)));
  TreeDiffOptions bounded = FastOptions();
  bounded.delta.max_memory = 1;  // Raised to kMinBoundedMemory: whole-file never fits.
  bounded.scratch_dir = NewTempPath("scratch");
  ASSERT_EQ(mkdir(bounded.scratch_dir.c_str(), 0755), 0);
  TreeDiffStats stats01, stats12;
  auto p01 = MakePackageFile(roots[0], roots[1], &stats01, bounded);
  auto p12 = MakePackageFile(roots[1], roots[2], &stats12, bounded);
  ASSERT_GT(stats01.blocks, 0u);
  EXPECT_EQ(stats01.bounded_blocks, stats01.blocks);
  EXPECT_EQ(stats12.bounded_blocks, stats12.blocks);
  TreeDiffStats unbounded_stats;
  MakePackageFile(roots[0], roots[1], &unbounded_stats);
  EXPECT_EQ(unbounded_stats.bounded_blocks, 0u);

  std::string out = NewTempPath("bounded-out");
  absl::Status status = ApplyToNewTree(roots[0], Chain({p01.get()}), out);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(roots[1], out);
  std::string out_chain = NewTempPath("bounded-chain");
  status = ApplyToNewTree(roots[0], Chain({p01.get(), p12.get()}), out_chain);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(roots[2], out_chain);
  std::string install = Write(specs[0], "bounded-install");
  status = ApplyInPlace(install, Chain({p01.get(), p12.get()}));
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(roots[2], install);
}

TEST(TreeRoundTrip, ThousandsOfSmallFiles) {
  std::mt19937_64 rng(7);
  TreeSpec v0 = RandomTree(rng, 3000);
  TreeSpec v1 = NextRelease(rng, v0);
  std::string a = Write(v0, "small-a"), b = Write(v1, "small-b");
  auto p = MakePackageFile(a, b);
  std::string out = NewTempPath("small-out");
  ASSERT_TRUE(ApplyToNewTree(a, Chain({p.get()}), out).ok());
  ExpectSameTree(b, out);
  ASSERT_TRUE(ApplyInPlace(a, Chain({p.get()})).ok());
  ExpectSameTree(b, a);
}

TEST(TreeRoundTrip, FullPackageFromAnEmptyTreeInstallsFresh) {
  std::mt19937_64 rng(11);
  TreeSpec v = RandomTree(rng, 40);
  std::string empty = Write({}, "empty"), full = Write(v, "full");
  TreeDiffStats stats;
  auto p = MakePackageFile(empty, full, &stats);
  EXPECT_EQ(stats.kept + stats.copied + stats.deltas + stats.removed, 0u);
  EXPECT_TRUE(p->package.table.old_entries.empty());
  std::string fresh = Write({}, "fresh");
  ASSERT_TRUE(ApplyInPlace(fresh, Chain({p.get()})).ok());
  ExpectSameTree(full, fresh);
}

TEST(TreeRoundTrip, IdenticalTreesGiveATinyPackage) {
  std::mt19937_64 rng(5);
  TreeSpec v = RandomTree(rng, 50);
  std::string a = Write(v, "same-a"), b = Write(v, "same-b");
  auto p = MakePackageFile(a, b);
  EXPECT_TRUE(p->package.blocks.empty());
  EXPECT_TRUE(p->package.table.old_entries.empty());
  EXPECT_LT(p->package.size, 1500u);
  ASSERT_TRUE(ApplyInPlace(a, Chain({p.get()})).ok());
  ExpectSameTree(b, a);
}

TEST(TreeRoundTrip, RenamedAndEditedFileIsDiffedAgainstItsOldSelf) {
  std::mt19937_64 rng(3);
  std::string content;
  for (int i = 0; i < 4000; ++i) content += "line " + std::to_string(rng() % 100000) + "\n";
  std::string edited = content;
  edited.insert(1000, "a new line\n");
  TreeSpec v0 = {{"old/name.dat", SpecEntry{EntryType::kFile, 0644, content, ""}},
                 {"old", SpecEntry{EntryType::kDirectory, 0755, "", ""}},
                 {"other.txt", SpecEntry{EntryType::kFile, 0644, "unrelated", ""}}};
  TreeSpec v1 = {{"new/renamed.dat", SpecEntry{EntryType::kFile, 0644, edited, ""}},
                 {"new", SpecEntry{EntryType::kDirectory, 0755, "", ""}},
                 {"other.txt", SpecEntry{EntryType::kFile, 0644, "unrelated", ""}},
                 {"moved-copy.txt", SpecEntry{EntryType::kFile, 0600, "unrelated", ""}}};
  std::string a = Write(v0, "rename-a"), b = Write(v1, "rename-b");
  TreeDiffStats stats;
  auto p = MakePackageFile(a, b, &stats);
  EXPECT_EQ(stats.deltas, 1u);
  EXPECT_EQ(stats.copied, 1u);
  EXPECT_EQ(stats.whole, 0u);
  EXPECT_LT(p->package.size, content.size() / 20);
  std::string out = NewTempPath("rename-out");
  ASSERT_TRUE(ApplyToNewTree(a, Chain({p.get()}), out).ok());
  ExpectSameTree(b, out);
}

}  // namespace
}  // namespace patchfarm
