#include "core/tree/tree_diff.h"

#include <algorithm>
#include <map>
#include <optional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/file.h"
#include "common/status_macros.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"
#include "core/tree/similarity.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

// Below this size a same-path old file is always the delta source: such files
// (version strings, small configs) have few or no samples to compare.
constexpr uint64_t kAlwaysSamePathBytes = 4096;

// Decisions about the new tree, with old entries named by manifest index.
struct Plan {
  std::vector<NewEntry> entries;     // old_index: index into the old manifest
  std::vector<bool> old_needed;      // by old manifest index
};

absl::StatusOr<Plan> PlanPackage(const Manifest& old_tree, const FileLocator& old_files,
                                 const Manifest& new_tree, const FileLocator& new_files,
                                 TreeDiffStats* stats) {
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
      if (old_tree[i].type != EntryType::kFile || old_tree[i].size < 64) continue;
      PF_ASSIGN_OR_RETURN(std::string data, ReadFileToString(old_files(old_tree[i])));
      similarity->Add(i, SketchOf(data));
    }
    return absl::OkStatus();
  };

  std::unordered_map<std::string, bool> in_new;
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
    if (e.type == EntryType::kFile) {
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
        PF_ASSIGN_OR_RETURN(std::string data, ReadFileToString(new_files(e)));
        Sketch sketch = SketchOf(data);
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
  for (uint32_t i = 0; i < old_tree.size(); ++i) {
    if (in_new.count(old_tree[i].path) == 0) {
      plan.old_needed[i] = true;
      ++stats->removed;
    }
  }
  return plan;
}

// Groups kBlock entries (in path order) into blocks within the budgets.
void AssignBlocks(const Manifest& old_tree, const TreeDiffOptions& options, Plan* plan,
                  uint32_t* block_count) {
  uint32_t block = 0;
  uint64_t new_bytes = 0, old_bytes = 0;
  bool open = false;
  std::vector<uint32_t> sources;
  for (NewEntry& n : plan->entries) {
    if (n.entry.type != EntryType::kFile || n.source != ContentSource::kBlock) continue;
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
  *block_count = open ? block + 1 : 0;
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
  PF_ASSIGN_OR_RETURN(Plan plan, PlanPackage(old_tree, old_files, new_tree, new_files, stats));
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
  for (uint32_t block = 0; block < block_count; ++block) {
    std::string old_data, new_data;
    std::vector<uint32_t> sources;
    for (const NewEntry& n : plan.entries) {
      if (n.entry.type != EntryType::kFile || n.source != ContentSource::kBlock ||
          n.block != block) {
        continue;
      }
      PF_ASSIGN_OR_RETURN(std::string data, ReadFileToString(new_files(n.entry)));
      new_data += data;
      if (n.old_index != kNoOldEntry &&
          std::find(sources.begin(), sources.end(), n.old_index) == sources.end()) {
        sources.push_back(n.old_index);
        PF_ASSIGN_OR_RETURN(data, ReadFileToString(old_files(old_tree[n.old_index])));
        old_data += data;
      }
    }
    stats->block_new_bytes += new_data.size();
    PF_ASSIGN_OR_RETURN(std::string payload, Diff(old_data, new_data, options.delta));
    PF_RETURN_IF_ERROR(writer.AddBlock(payload));
  }
  for (NewEntry& n : plan.entries) {
    if (n.old_index != kNoOldEntry) n.old_index = table_index[n.old_index];
    table.new_entries.push_back(std::move(n));
  }
  return writer.Finish(std::move(table));
}

}  // namespace patchfarm
