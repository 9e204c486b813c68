// Round trips of tree packages over generated releases: out of place, in
// place (with a user's extra files), and chains, compared by manifest.
#include <sys/resource.h>
#include <sys/stat.h>

#include <random>
#include <string>
#include <vector>

#include "common/file.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/segments.h"
#include "core/tree/base_tree.h"
#include "core/tree/in_place.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
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

// The package `bytes`, written to a file and read.
std::unique_ptr<PackageFile> PackageFileOf(const std::string& bytes) {
  auto p = std::make_unique<PackageFile>();
  p->path = NewTempPath("package");
  EXPECT_TRUE(WriteFileAtomically(p->path, bytes).ok());
  auto source = FileSource::Open(p->path);
  EXPECT_TRUE(source.ok());
  p->source = std::move(*source);
  auto package = ReadPackage(*p->source);
  EXPECT_TRUE(package.ok()) << package.status();
  if (package.ok()) p->package = std::move(*package);
  return p;
}

std::unique_ptr<PackageFile> MakePackageFile(const std::string& old_dir, const std::string& new_dir,
                                             TreeDiffStats* stats = nullptr,
                                             const TreeDiffOptions& options = FastOptions()) {
  std::string bytes;
  StringSink sink(&bytes);
  absl::Status status = MakePackage(old_dir, new_dir, options, &sink, stats);
  EXPECT_TRUE(status.ok()) << status;
  return PackageFileOf(bytes);
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

// A package checked against a release named by its manifest, whose files
// are read elsewhere (as a publisher reads a coordinator's blobs): the one
// made from it passes; one with a byte of a block's payload changed (its
// tables, which binding checks, intact) does not, nor does the right one
// checked against another release.
TEST(TreeRoundTrip, PackagesAreCheckedAgainstAManifestsFiles) {
  std::mt19937_64 rng(41);
  const TreeSpec v1 = RandomTree(rng, 40);
  const TreeSpec v2 = NextRelease(rng, v1);
  const std::string old_dir = Write(v1, "check-old"), new_dir = Write(v2, "check-new");
  const std::string blobs = NewTempPath("check-blobs");
  ASSERT_EQ(mkdir(blobs.c_str(), 0755), 0);
  const Manifest old_manifest = ScanOrDie(old_dir);
  for (const ManifestEntry& e : old_manifest) {
    if (e.type != EntryType::kFile) continue;
    auto bytes = ReadFileToString(JoinPath(old_dir, e.path));
    ASSERT_TRUE(bytes.ok());
    ASSERT_TRUE(WriteFileAtomically(JoinPath(blobs, DigestToHex(e.digest)), *bytes).ok());
  }
  ManifestTree old_tree(old_manifest,
                        [&](const ManifestEntry& e) { return JoinPath(blobs, DigestToHex(e.digest)); });
  std::string bytes;
  StringSink sink(&bytes);
  ASSERT_TRUE(MakePackage(old_dir, new_dir, FastOptions(), &sink).ok());
  auto good = PackageFileOf(bytes);
  ASSERT_FALSE(good->package.blocks.empty());
  absl::Status checked = CheckPackageRebuilds(&old_tree, Chain({good.get()})[0]);
  EXPECT_TRUE(checked.ok()) << checked;

  const PackageBlock& block = good->package.blocks.back();
  std::string changed = bytes;
  changed[block.payload_offset + block.payload_size / 2] ^= 0x40;
  auto corrupt = PackageFileOf(changed);
  checked = CheckPackageRebuilds(&old_tree, Chain({corrupt.get()})[0]);
  EXPECT_TRUE(absl::IsDataLoss(checked) || absl::IsFailedPrecondition(checked)) << checked;

  const Manifest new_manifest = ScanOrDie(new_dir);
  ManifestTree new_tree(new_manifest,
                        [&](const ManifestEntry& e) { return JoinPath(new_dir, e.path); });
  checked = CheckPackageRebuilds(&new_tree, Chain({good.get()})[0]);
  EXPECT_EQ(checked.code(), absl::StatusCode::kFailedPrecondition) << checked;
}

// A pack unpacked into loose files names the whole pack as each file's
// source, one block per file: the blocks share one suffix array of it.
TEST(TreeRoundTrip, BlocksOfOneSourceShareItsSuffixArray) {
  std::mt19937_64 rng(47);
  std::string pack(1 << 20, '\0');
  for (char& c : pack) c = static_cast<char>(rng());
  TreeSpec old_spec, new_spec;
  old_spec["data.pak"].content = pack;
  for (int i = 0; i < 8; ++i) {
    std::string slice = pack.substr(i << 17, 1 << 17);
    slice[1000] ^= 0x5a;
    new_spec["data/chunk" + std::to_string(i) + ".bin"].content = slice;
  }
  const std::string old_dir = Write(old_spec, "unpacked-old");
  const std::string new_dir = Write(new_spec, "unpacked-new");
  TreeDiffOptions options = FastOptions();
  options.block_new_bytes = 100 << 10;  // A block per file.
  std::string bytes;
  StringSink sink(&bytes);
  TreeDiffStats stats;
  ASSERT_TRUE(MakePackage(old_dir, new_dir, options, &sink, &stats).ok());
  EXPECT_EQ(stats.blocks, 8u);
  EXPECT_EQ(stats.reused_indexes, 7u);
  const std::string out = NewTempPath("unpacked-out");
  auto package = PackageFileOf(bytes);
  ASSERT_TRUE(ApplyToNewTree(old_dir, Chain({package.get()}), out).ok());
  ExpectSameTree(new_dir, out);
}

// Files the new version keeps or copies are copied from the old tree after
// they were hashed: a copy that differs from what was checked (the file
// changed since, or a symlink was put in its place) fails the apply.
TEST(TreeRoundTrip, AKeptFileThatChangedAfterItsCheckIsNotCopied) {
  std::mt19937_64 rng(43);
  const TreeSpec v1 = RandomTree(rng, 30);
  const TreeSpec v2 = NextRelease(rng, v1);
  const std::string old_dir = Write(v1, "kept-old"), new_dir = Write(v2, "kept-new");
  const Manifest old_manifest = ScanOrDie(old_dir);
  ManifestTree old_tree(old_manifest, [&](const ManifestEntry& e) { return JoinPath(old_dir, e.path); });
  std::string bytes;
  StringSink sink(&bytes);
  ASSERT_TRUE(MakePackage(old_dir, new_dir, FastOptions(), &sink).ok());
  auto package = PackageFileOf(bytes);
  ChainResolver resolver(&old_tree, Chain({package.get()}));
  class Discarded : public FileOutputs {
   public:
    absl::StatusOr<ByteSink*> Open(const std::string&) override { return &sink_; }
    absl::Status Close(const std::string&) override { return absl::OkStatus(); }

   private:
    std::string bytes_;
    StringSink sink_{&bytes_};
  } outputs;
  ASSERT_TRUE(resolver.Run(&outputs).ok());
  const FileContent* kept = nullptr;
  for (const auto& [path, v] : resolver.final_view()) {
    if (v.type == EntryType::kFile && v.content.kind == FileContent::Kind::kBase &&
        v.content.size > 0) {
      kept = &v.content;
      break;
    }
  }
  ASSERT_NE(kept, nullptr);
  const std::string copies = NewTempPath("kept-copies");
  ASSERT_EQ(mkdir(copies.c_str(), 0755), 0);
  ASSERT_TRUE(resolver.CopyBaseFile(*kept, copies + "/a", 0644, DefaultFileSystem()).ok());
  const std::string file = JoinPath(old_dir, kept->base_path);
  auto content = ReadFileToString(file);
  ASSERT_TRUE(content.ok());
  std::string changed = *content;
  changed[0] ^= 1;
  ASSERT_TRUE(WriteFileAtomically(file, changed).ok());
  absl::Status copied = resolver.CopyBaseFile(*kept, copies + "/b", 0644, DefaultFileSystem());
  EXPECT_EQ(copied.code(), absl::StatusCode::kDataLoss) << copied;
  ASSERT_TRUE(WriteFileAtomically(copies + "/secret", *content).ok());  // The right bytes,
  ASSERT_EQ(unlink(file.c_str()), 0);
  ASSERT_EQ(symlink((copies + "/secret").c_str(), file.c_str()), 0);  // behind a symlink.
  EXPECT_FALSE(resolver.CopyBaseFile(*kept, copies + "/c", 0644, DefaultFileSystem()).ok());
}

// A package written in format version 1 (by the build before version 2, from
// the trees below) still applies, alone and followed by a version 2 package.
TEST(TreeRoundTrip, VersionOnePackagesStillApply) {
  std::string tool;
  for (int i = 0; i < 60; ++i) {
    tool += "step " + std::to_string(i) + ": call helper " + std::to_string(i * 7 % 13) + "\n";
  }
  std::string notes;
  for (int i = 0; i < 40; ++i) notes += "alpha\n";
  std::string new_tool = tool;
  new_tool.replace(new_tool.find("step 30"), 7, "step thirty");
  new_tool += "step 60: done\n";
  const std::string gone = "removed in the next release\n";
  const TreeSpec old_spec = {{"bin/tool", {EntryType::kFile, 0755, tool, ""}},
                             {"data/notes.txt", {EntryType::kFile, 0644, notes, ""}},
                             {"data/gone.txt", {EntryType::kFile, 0644, gone, ""}},
                             {"README", {EntryType::kFile, 0644, "version 1\n", ""}}};
  TreeSpec new_spec = {{"bin/tool", {EntryType::kFile, 0755, new_tool, ""}},
                       {"data/notes.txt", {EntryType::kFile, 0644, notes, ""}},
                       {"docs/notes-copy.txt", {EntryType::kFile, 0644, notes, ""}},
                       {"docs/tool", {EntryType::kSymlink, 0, "", "../bin/tool"}},
                       {"README", {EntryType::kFile, 0600, "version 2\n", ""}}};
  const std::string v1_hex =
    "50465452010000005046444c0100020171050000000000008305000000000000e37b1ffc5c20"
    "4b6fb0667d8f861229de67eb1acd88bef294c6640029c9a51d7823bef500233edb827643329e"
    "24d4201a6b92a8b5b73e62bb27d46f2635c1a08d30000000000000008305000000000000c9e3"
    "bf76bb7e54e788eb821d92846fca28b52ffd64830415010088763274686972747936303a2064"
    "6f6e650a04003b05f00aaf5c552c508fae2cb301297cc45928b52ffd648f005d0b0044142abe"
    "b08cc5898d30f6c0c9aa37c75696038d6292ff421e2b953e2127a55ba5b8040006524541444d"
    "45010a3a79bf37b571938d1f2907afb6a643f48088b83769dde8bc58f5ee866a5c3636000862"
    "696e2f746f6f6c01e70a794f0b5999c63526258c31a3fa8c50a538d29869c1a8ceba0230a743"
    "ff00f7c7000d646174612f676f6e652e747874011cf7de252542c4ef49beca3695a0554aae58"
    "e121d03535d5300ab89495a94239e305096e6f746573f001bdd5711dc9f73eeadb4e9f8e6407"
    "a41425ab0a627370c19c9bb398830845455a0880030a020001b03d44cd60d71de68a4aca7808"
    "c6f768802f6d6c414430ff8ccea10c1aa57b4c000302ed030305ed03f9023184c8e7ee9d8910"
    "24ada9f41161ed9b49852f067dca9038fc830c6256cd1bf10004040a2fa403f0010001036f63"
    "730f2d636f707901030504030b2e2e2fa8010d003a5b9a0d810855140ceb095df4b6d90a6049"
    "133cad60106dd0f81928d399223078293475d075ca79010000000000008f0100000000000068"
    "3f2b3f4ba8dc700d4f786a15e7494d04b150d0310585efad8f96ac6c2ebd5a50465445";
  std::string v1_bytes;
  for (size_t i = 0; i < v1_hex.size(); i += 2) {
    v1_bytes.push_back(static_cast<char>(std::stoi(v1_hex.substr(i, 2), nullptr, 16)));
  }
  const std::unique_ptr<PackageFile> v1 = PackageFileOf(v1_bytes);
  EXPECT_EQ(v1->package.table.version, 1);

  const std::string old_root = Write(old_spec, "v1-old");
  const std::string new_root = Write(new_spec, "v1-new");
  std::string out = NewTempPath("v1-out");
  absl::Status status = ApplyToNewTree(old_root, Chain({v1.get()}), out);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(new_root, out);

  new_spec["README"].content = "version 3\n";
  const std::string newer_root = Write(new_spec, "v1-newer");
  auto v2 = MakePackageFile(new_root, newer_root);
  EXPECT_EQ(v2->package.table.version, 2);
  std::string out_chain = NewTempPath("v1-out-chain");
  status = ApplyToNewTree(old_root, Chain({v1.get(), v2.get()}), out_chain);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(newer_root, out_chain);
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

// Files of an intermediate version are held in memory up to
// kIntermediateMemoryBytes in all, then go to scratch files: a chain whose
// middle version adds files under kScratchFileBytes each is not held whole.
TEST(TreeRoundTrip, IntermediateFilesInMemoryAreBounded) {
  TreeSpec v1 = {{"readme", {EntryType::kFile, 0644, "hello"}}};
  TreeSpec v2 = v1;
  for (char c : {'a', 'b', 'c'}) {  // 36 MiB, 12 MiB a file.
    v2[std::string("pack-") + c] = {EntryType::kFile, 0644, std::string(12 << 20, c)};
  }
  TreeSpec v3 = v1;  // pack-c edited (read back from scratch as its delta source).
  v3["pack-c"] = v2["pack-c"];
  v3["pack-c"].content.replace(5 << 20, 5, "edit!");
  const std::string r1 = Write(v1, "m1"), r2 = Write(v2, "m2"), r3 = Write(v3, "m3");
  auto p12 = MakePackageFile(r1, r2);
  auto p23 = MakePackageFile(r2, r3);
  ChainOptions options;
  options.scratch_dir = NewTempPath("no-scratch");  // Not made: a scratch file fails.
  absl::Status status = ApplyToNewTree(r1, Chain({p12.get(), p23.get()}), NewTempPath("m-out1"),
                                       options);
  EXPECT_FALSE(status.ok()) << "the third file went to memory too";
  EXPECT_NE(status.message().find("scratch"), absl::string_view::npos) << status;
  options.scratch_dir = NewTempPath("scratch-m");
  ASSERT_EQ(mkdir(options.scratch_dir.c_str(), 0755), 0);
  const std::string out = NewTempPath("m-out2");
  status = ApplyToNewTree(r1, Chain({p12.get(), p23.get()}), out, options);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(r3, out);
}

// Past the memory bound, intermediate files share one scratch file: a
// version of thousands of small files does not open a descriptor for each.
TEST(TreeRoundTrip, ManySmallIntermediateFilesShareOneScratchFile) {
  TreeSpec v1 = {{"readme", {EntryType::kFile, 0644, "hello"}}};
  TreeSpec v2 = v1;
  for (int i = 0; i < 2000; ++i) {  // 40 MB: 400 files past the 32 MiB bound.
    std::string content = std::to_string(i) + std::string(20000, static_cast<char>('a' + i % 26));
    v2["assets/" + std::to_string(i)] = {EntryType::kFile, 0644, content};
  }
  TreeSpec v3 = v1;  // One of the last files written, edited: read back from scratch.
  v3["assets/999"] = v2["assets/999"];
  v3["assets/999"].content[100] = 'Z';
  const std::string r1 = Write(v1, "s1"), r2 = Write(v2, "s2"), r3 = Write(v3, "s3");
  auto p12 = MakePackageFile(r1, r2);
  auto p23 = MakePackageFile(r2, r3);
  ChainOptions options;
  options.scratch_dir = NewTempPath("scratch-s");
  ASSERT_EQ(mkdir(options.scratch_dir.c_str(), 0755), 0);
  struct rlimit before;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  struct rlimit low = before;
  low.rlim_cur = 128;  // A descriptor a file would run out.
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const std::string out = NewTempPath("s-out");
  absl::Status status = ApplyToNewTree(r1, Chain({p12.get(), p23.get()}), out, options);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &before), 0);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(r3, out);
}

// The farm splits a huge file pair of two trees into segment jobs and gives
// the tree job their joined patch: the package stores it as that file's
// block, without reading the file, and applies like any other.
TEST(TreeRoundTrip, GivenPatchesAreStoredAsTheirFilesBlocks) {
  std::mt19937_64 rng(17);
  std::string pak(3 << 18, '\0');
  for (char& c : pak) c = static_cast<char>(rng());
  std::string next_pak = pak.substr(1 << 18) + pak.substr(0, 1 << 18);  // A move.
  next_pak[1000] ^= 1;
  TreeSpec v0 = RandomTree(rng, 20);
  TreeSpec v1 = NextRelease(rng, v0);
  v0["packs"] = v1["packs"] = SpecEntry{EntryType::kDirectory, 0755, "", ""};
  v0["packs/game.pak"] = SpecEntry{EntryType::kFile, 0644, pak, ""};
  v1["packs/game.pak"] = SpecEntry{EntryType::kFile, 0644, next_pak, ""};
  std::string text;  // Renamed and edited: diffed against its most similar old file.
  for (int i = 0; i < 2000; ++i) text += "entry " + std::to_string(rng() % 1000) + "\n";
  v0["packs/index.txt"] = SpecEntry{EntryType::kFile, 0644, text, ""};
  v1["packs/index-2.txt"] = SpecEntry{EntryType::kFile, 0644, text + "entry 0\n", ""};
  const std::string a = Write(v0, "given-a"), b = Write(v1, "given-b");

  StringSource old_pak(pak), new_pak(next_pak);
  std::vector<std::string> segments(2);
  for (int k = 0; k < 2; ++k) {
    SegmentSpec spec{Sha256Of(pak), Sha256Of(next_pak), next_pak.size() * k / 2,
                     next_pak.size() * (k + 1) / 2};
    StringSink sink(&segments[k]);
    ASSERT_TRUE(DiffSegment(old_pak, new_pak, spec, ::testing::TempDir(), &sink, {}).ok());
  }
  StringSource first(segments[0]), second(segments[1]);
  std::string joined;
  StringSink joined_sink(&joined);
  ASSERT_TRUE(JoinSegments({&first, &second}, ::testing::TempDir(), &joined_sink).ok());

  StringSource given(joined);
  TreeDiffOptions options = FastOptions();
  options.given_patches["packs/game.pak"] = &given;
  const Manifest old_tree = ScanOrDie(a), new_tree = ScanOrDie(b);
  std::string bytes;
  StringSink sink(&bytes);
  TreeDiffStats stats;
  // The given file is read on neither side (the worker does not fetch it).
  auto locate = [](const std::string& root, bool hide_pack = true) -> FileLocator {
    return [root, hide_pack](const ManifestEntry& e) {
      return hide_pack && e.path == "packs/game.pak" ? std::string("/nonexistent")
                                                     : JoinPath(root, e.path);
    };
  };
  absl::Status status =
      MakePackageFromManifests(old_tree, locate(a), new_tree, locate(b), options, &sink, &stats);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.given_blocks, 1u);
  EXPECT_EQ(stats.deltas, 2u);  // And the renamed file: the old pack was no candidate.
  EXPECT_NE(bytes.find(joined), std::string::npos);
  const std::unique_ptr<PackageFile> p = PackageFileOf(bytes);
  const std::string out = NewTempPath("given-out");
  status = ApplyToNewTree(a, Chain({p.get()}), out);
  ASSERT_TRUE(status.ok()) << status;
  ExpectSameTree(b, out);

  // A given path that is not a changed file of both trees is refused.
  for (const std::string& path : {"packs", "no/such.pak"}) {
    TreeDiffOptions wrong = FastOptions();
    wrong.given_patches[path] = &given;
    std::string unused;
    StringSink unused_sink(&unused);
    EXPECT_EQ(MakePackageFromManifests(old_tree, locate(a, false), new_tree, locate(b, false),
                                       wrong, &unused_sink)
                  .code(),
              absl::StatusCode::kInvalidArgument)
        << path;
  }
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
