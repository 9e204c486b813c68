#include "core/tree/tree_diff.h"

#include <algorithm>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/diff_files.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"
#include "core/tree/similarity.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// Below this size a same-path old file is always the delta source: such files
// (version strings, small configs) have few or no samples to compare.
constexpr uint64_t kAlwaysSamePathBytes = 4096;

// SketchOf a file's content, read in pieces.
absl::StatusOr<Sketch> SketchOfFile(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(path));
  SketchBuilder builder;
  // Sized by the file and left unfilled: a zeroed 1 MiB buffer per file cost
  // more than the sketches of a tree of small files.
  const size_t buffer_size = std::max<uint64_t>(1, std::min<uint64_t>(file->size(), 1 << 20));
  std::unique_ptr<char[]> buffer(new char[buffer_size]);
  for (uint64_t at = 0; at < file->size();) {
    PF_ASSIGN_OR_RETURN(size_t got, file->ReadAt(at, buffer.get(), buffer_size));
    if (got == 0) return absl::FailedPreconditionError(absl::StrCat(path, " shrank while read"));
    builder.Update(absl::string_view(buffer.get(), got));
    at += got;
  }
  return builder.Finish();
}

// Decisions about the new tree, with old entries named by manifest index.
struct Plan {
  std::vector<NewEntry> entries;     // old_index: index into the old manifest
  std::vector<bool> old_needed;      // by old manifest index
};

absl::StatusOr<Plan> PlanPackage(const Manifest& old_tree, const FileLocator& old_files,
                                 const Manifest& new_tree, const FileLocator& new_files,
                                 const TreeDiffOptions& options, TreeDiffStats* stats) {
  Plan plan;
  plan.old_needed.assign(old_tree.size(), false);
  std::unordered_map<std::string, uint32_t> old_by_path;
  std::map<Digest, uint32_t> old_by_digest;
  for (uint32_t i = 0; i < old_tree.size(); ++i) {
    old_by_path[old_tree[i].path] = i;
    if (old_tree[i].type == EntryType::kFile) old_by_digest.emplace(old_tree[i].digest, i);
  }
  std::unique_ptr<SimilarityIndex> similarity;  // Built on first need.
  auto build_similarity = [&]() -> absl::Status {
    similarity = std::make_unique<SimilarityIndex>();
    for (uint32_t i = 0; i < old_tree.size(); ++i) {
      if (old_tree[i].type != EntryType::kFile || old_tree[i].size < 64 ||
          options.given_patches.count(old_tree[i].path) != 0) {
        continue;
      }
      PF_ASSIGN_OR_RETURN(Sketch sketch, SketchOfFile(old_files(old_tree[i])));
      similarity->Add(i, sketch);
    }
    return absl::OkStatus();
  };

  std::unordered_map<std::string, bool> in_new;
  size_t given = 0;
  for (const ManifestEntry& e : new_tree) {
    in_new[e.path] = true;
    NewEntry n;
    n.entry = e;
    auto same = old_by_path.find(e.path);
    const ManifestEntry* old = same == old_by_path.end() ? nullptr : &old_tree[same->second];
    bool unchanged = old != nullptr && old->type == e.type &&
                     (e.type != EntryType::kFile || old->digest == e.digest) &&
                     (e.type != EntryType::kSymlink || old->target == e.target);
    if (old != nullptr && !unchanged) plan.old_needed[same->second] = true;  // Overwritten.
    if (options.given_patches.count(e.path) != 0) {
      if (e.type != EntryType::kFile || old == nullptr || old->type != EntryType::kFile ||
          unchanged) {
        return absl::InvalidArgumentError(absl::StrCat(
            "a patch is given for ", e.path, ", which is not a changed file of both trees"));
      }
      n.source = ContentSource::kBlock;
      n.old_index = same->second;
      ++stats->deltas;
      ++given;
    } else if (e.type == EntryType::kFile) {
      auto twin = old_by_digest.find(e.digest);
      if (unchanged) {
        n.source = ContentSource::kKeep;
        n.entry.digest = Digest{};
        ++stats->kept;
      } else if (twin != old_by_digest.end()) {
        n.source = ContentSource::kCopy;
        n.old_index = twin->second;
        ++stats->copied;
      } else {
        n.source = ContentSource::kBlock;
        if (similarity == nullptr) PF_RETURN_IF_ERROR(build_similarity());
        PF_ASSIGN_OR_RETURN(Sketch sketch, SketchOfFile(new_files(e)));
        bool same_is_file = old != nullptr && old->type == EntryType::kFile;
        std::optional<SimilarityIndex::Match> best = similarity->BestMatch(sketch);
        if (same_is_file && (e.size < kAlwaysSamePathBytes ||
                             similarity->Score(same->second, sketch) > 0 || !best)) {
          n.old_index = same->second;
        } else if (best) {
          n.old_index = best->id;
        }
        ++(n.old_index == kNoOldEntry ? stats->whole : stats->deltas);
      }
      if (n.old_index != kNoOldEntry) plan.old_needed[n.old_index] = true;
    }
    plan.entries.push_back(std::move(n));
  }
  if (given != options.given_patches.size()) {
    return absl::InvalidArgumentError("a patch is given for a path that the new tree lacks");
  }
  for (uint32_t i = 0; i < old_tree.size(); ++i) {
    if (in_new.count(old_tree[i].path) == 0) {
      plan.old_needed[i] = true;
      ++stats->removed;
    }
  }
  return plan;
}

// Groups kBlock entries (in path order) into blocks within the budgets; a
// file with a given patch gets a block of its own.
void AssignBlocks(const Manifest& old_tree, const TreeDiffOptions& options, Plan* plan,
                  uint32_t* block_count) {
  uint32_t block = 0;  // The open block, or the next one if none is open.
  uint64_t new_bytes = 0, old_bytes = 0;
  bool open = false;
  std::vector<uint32_t> sources;
  for (NewEntry& n : plan->entries) {
    if (n.entry.type != EntryType::kFile || n.source != ContentSource::kBlock) continue;
    if (options.given_patches.count(n.entry.path) != 0) {
      if (open) ++block;
      n.block = block++;
      open = false;
      new_bytes = old_bytes = 0;
      sources.clear();
      continue;
    }
    uint64_t source_bytes = 0;
    bool new_source = n.old_index != kNoOldEntry &&
                      std::find(sources.begin(), sources.end(), n.old_index) == sources.end();
    if (new_source) source_bytes = old_tree[n.old_index].size;
    if (open && (new_bytes + n.entry.size > options.block_new_bytes ||
                 old_bytes + source_bytes > options.block_old_bytes)) {
      ++block;
      new_bytes = old_bytes = 0;
      sources.clear();
      new_source = n.old_index != kNoOldEntry;
      source_bytes = new_source ? old_tree[n.old_index].size : 0;
    }
    open = true;
    n.block = block;
    new_bytes += n.entry.size;
    old_bytes += source_bytes;
    if (new_source) sources.push_back(n.old_index);
  }
  *block_count = open ? block + 1 : block;
}

// Without a store of its own (the CLI's diff), a package's blocks share the
// last suffix array they built: a pack unpacked into loose files names the
// whole pack as the source of each file's block, and each block sorted it
// again (a 70 MiB pack in 20 files: 3.2 s a block). One array at a time, of
// at most a quarter of the memory budget (a second copy is loaded beside it
// for the block that uses it).
class LastIndexStore : public IndexStore {
 public:
  explicit LastIndexStore(uint64_t max_bytes) : max_bytes_(max_bytes) {}
  std::optional<std::string> Load(const std::string& key) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (key != key_) return std::nullopt;
    ++hits_;
    return bytes_;
  }
  void Save(const std::string& key, absl::string_view bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    key_.clear();
    bytes_.clear();
    bytes_.shrink_to_fit();
    if (bytes.size() > max_bytes_) return;
    key_ = key;
    bytes_.assign(bytes.data(), bytes.size());
  }
  uint64_t hits() {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  const uint64_t max_bytes_;
  std::mutex mu_;
  std::string key_, bytes_;  // Guarded by mu_.
  uint64_t hits_ = 0;        // Guarded by mu_.
};

// Reads the files at `paths` whole, concatenated.
absl::StatusOr<std::string> ReadConcatenated(const std::vector<std::string>& paths) {
  std::string data;
  for (const std::string& path : paths) {
    PF_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
    data += bytes;
  }
  return data;
}

// Adds the payload of one block, from the files at `old_paths` to those at
// `new_paths` (each concatenated). A block whose whole-file matching fits
// options.delta.max_memory is diffed in memory; a larger one by DiffBounded
// over the files, its payload streamed into the package.
absl::Status AddBlock(const std::vector<std::string>& old_paths, uint64_t old_bytes,
                      const std::vector<std::string>& new_paths, uint64_t new_bytes,
                      const TreeDiffOptions& options, PackageWriter* writer,
                      TreeDiffStats* stats) {
  std::vector<std::unique_ptr<FileSource>> files;
  auto open_all = [&](const std::vector<std::string>& paths)
      -> absl::StatusOr<std::unique_ptr<ConcatSource>> {
    std::vector<const ByteSource*> parts;
    for (const std::string& path : paths) {
      PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(path));
      parts.push_back(file.get());
      files.push_back(std::move(file));
    }
    return std::make_unique<ConcatSource>(std::move(parts));
  };
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ConcatSource> old_data, open_all(old_paths));
  std::string head(std::min<uint64_t>(old_data->size(), 4096), '\0');
  PF_ASSIGN_OR_RETURN(size_t got, old_data->ReadAt(0, head.data(), head.size()));
  head.resize(got);
  if (FitsWholeFileDiff(old_bytes, new_bytes, head, options.delta)) {
    files.clear();
    if (old_paths.size() == 1 && new_paths.size() == 1) {
      // One file a side (a big executable has a block of its own): diffed
      // from its mapping, not a copy (DiffMapped).
      PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> old_map, MappedFile::Open(old_paths[0]));
      PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> new_map, MappedFile::Open(new_paths[0]));
      if (old_map->data().size() != old_bytes || new_map->data().size() != new_bytes) {
        return absl::FailedPreconditionError("a file of the trees changed size while diffed");
      }
      PF_ASSIGN_OR_RETURN(std::string payload, DiffMapped(*old_map, *new_map, options.delta));
      return writer->AddBlock(payload);
    }
    PF_ASSIGN_OR_RETURN(std::string old_whole, ReadConcatenated(old_paths));
    PF_ASSIGN_OR_RETURN(std::string new_whole, ReadConcatenated(new_paths));
    PF_ASSIGN_OR_RETURN(std::string payload, Diff(old_whole, new_whole, options.delta));
    return writer->AddBlock(payload);
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ConcatSource> new_data, open_all(new_paths));
  if (old_data->size() != old_bytes || new_data->size() != new_bytes) {
    return absl::FailedPreconditionError("a file of the trees changed size while diffed");
  }
  ++stats->bounded_blocks;
  return writer->AddBlock([&](ByteSink* payload) {
    return DiffBounded(*old_data, *new_data, options.scratch_dir, payload, options.delta);
  });
}

}  // namespace

absl::Status MakePackage(const std::string& old_root, const std::string& new_root,
                         const TreeDiffOptions& options, ByteSink* out, TreeDiffStats* stats) {
  PF_ASSIGN_OR_RETURN(Manifest old_tree, ScanTree(old_root));
  PF_ASSIGN_OR_RETURN(Manifest new_tree, ScanTree(new_root));
  return MakePackageFromManifests(
      old_tree, [&](const ManifestEntry& e) { return JoinPath(old_root, e.path); }, new_tree,
      [&](const ManifestEntry& e) { return JoinPath(new_root, e.path); }, options, out, stats);
}

absl::Status MakePackageFromManifests(const Manifest& old_tree, const FileLocator& old_files,
                                      const Manifest& new_tree, const FileLocator& new_files,
                                      const TreeDiffOptions& options, ByteSink* out,
                                      TreeDiffStats* stats) {
  TreeDiffStats local_stats;
  if (stats == nullptr) stats = &local_stats;
  *stats = TreeDiffStats();
  PF_ASSIGN_OR_RETURN(Plan plan,
                      PlanPackage(old_tree, old_files, new_tree, new_files, options, stats));
  uint32_t block_count = 0;
  AssignBlocks(old_tree, options, &plan, &block_count);
  stats->new_entries = new_tree.size();
  stats->blocks = block_count;

  // Renumber old entries: the table lists only the needed ones.
  PackageTable table;
  table.new_manifest_digest = ManifestDigest(new_tree);
  std::vector<uint32_t> table_index(old_tree.size(), kNoOldEntry);
  for (uint32_t i = 0; i < old_tree.size(); ++i) {
    if (!plan.old_needed[i]) continue;
    table_index[i] = static_cast<uint32_t>(table.old_entries.size());
    ManifestEntry e = old_tree[i];
    e.mode = 0;
    table.old_entries.push_back(std::move(e));
  }

  PackageWriter writer(out);
  PF_RETURN_IF_ERROR(writer.Start());
  const uint64_t budget = options.delta.max_memory == 0 ? uint64_t{16} << 30 : options.delta.max_memory;
  LastIndexStore last_index(budget / 4);
  for (uint32_t block = 0; block < block_count; ++block) {
    std::vector<std::string> new_paths, old_paths;
    std::vector<uint32_t> sources;  // Old manifest indexes.
    uint64_t new_bytes = 0, old_bytes = 0;
    const ByteSource* given = nullptr;
    for (const NewEntry& n : plan.entries) {
      if (n.entry.type != EntryType::kFile || n.source != ContentSource::kBlock ||
          n.block != block) {
        continue;
      }
      auto it = options.given_patches.find(n.entry.path);
      if (it != options.given_patches.end()) {
        given = it->second;
        new_bytes += n.entry.size;
        break;
      }
      new_paths.push_back(new_files(n.entry));
      new_bytes += n.entry.size;
      if (n.old_index != kNoOldEntry &&
          std::find(sources.begin(), sources.end(), n.old_index) == sources.end()) {
        sources.push_back(n.old_index);
        old_paths.push_back(old_files(old_tree[n.old_index]));
        old_bytes += old_tree[n.old_index].size;
      }
    }
    stats->block_new_bytes += new_bytes;
    if (given != nullptr) {
      ++stats->given_blocks;
      PF_RETURN_IF_ERROR(
          writer.AddBlock([&](ByteSink* payload) { return CopySource(*given, payload); }));
      continue;
    }
    TreeDiffOptions block_options = options;
    if (sources.size() == 1) block_options.delta.old_digest = old_tree[sources[0]].digest;
    if (block_options.delta.index_store == nullptr) block_options.delta.index_store = &last_index;
    PF_RETURN_IF_ERROR(AddBlock(old_paths, old_bytes, new_paths, new_bytes, block_options,
                                &writer, stats));
  }
  stats->reused_indexes = last_index.hits();
  for (NewEntry& n : plan.entries) {
    if (n.old_index != kNoOldEntry) n.old_index = table_index[n.old_index];
    table.new_entries.push_back(std::move(n));
  }
  auto file_at = [&](const std::string& path) -> absl::StatusOr<BaseFile> {
    const ManifestEntry* old = FindEntry(old_tree, path);  // The plan's own entries.
    return BaseFile{old->size, old->digest};
  };
  PF_ASSIGN_OR_RETURN(table.base_digest, ComputeBaseDigest(table, file_at));
  return writer.Finish(std::move(table));
}

}  // namespace patchfarm
