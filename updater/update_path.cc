#include "updater/update_path.h"

#include <algorithm>
#include <limits>
#include <map>
#include <queue>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace patchfarm {
namespace {

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b ? std::numeric_limits<uint64_t>::max()
                                                      : a + b;
}

}  // namespace

bool IsHexDigest(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

UpdateGraph::UpdateGraph(const v1::SitePlatform& platform) {
  if (IsHexDigest(platform.newest_manifest_sha256())) {
    newest_manifest_ = platform.newest_manifest_sha256();
  }
  for (const v1::SitePatch& patch : platform.patches()) {
    if (!IsHexDigest(patch.from_manifest_sha256()) || !IsHexDigest(patch.to_manifest_sha256())) {
      ignored_.push_back(patch.file().url());
      continue;
    }
    PathEdge edge;
    edge.kind = patch.cumulative() ? PathEdge::Kind::kCumulative : PathEdge::Kind::kChain;
    edge.from_version = patch.from_version();
    edge.to_version = patch.to_version();
    edge.from_manifest = patch.from_manifest_sha256();
    edge.to_manifest = patch.to_manifest_sha256();
    edge.file = patch.file();
    edge.id = edges_.size();
    edges_.push_back(std::move(edge));
  }
  for (const v1::SiteRelease& release : platform.releases()) {
    if (!release.has_full()) continue;
    if (!IsHexDigest(release.manifest_sha256())) {
      ignored_.push_back(release.full().url());
      continue;
    }
    PathEdge edge;
    edge.kind = PathEdge::Kind::kFull;
    edge.to_version = release.version();
    edge.to_manifest = release.manifest_sha256();
    edge.file = release.full();
    edge.id = edges_.size();
    edges_.push_back(std::move(edge));
  }
  dropped_.assign(edges_.size(), false);
}

void UpdateGraph::Drop(size_t edge) {
  if (edge < dropped_.size()) dropped_[edge] = true;
}

// Dijkstra's search over the trees with the cost (bytes, packages) compared
// in that order: both only grow along a path, so the first time the newest
// tree leaves the queue its path is the cheapest. The start is a node of its
// own (key "") when the install's tree is not known by digest; otherwise it
// is that tree's node. Full packages are followed from the start only: one
// taken later on a path is never cheaper than the same package taken first
// (the same bytes, fewer packages), since it reads nothing. Equal costs keep
// the path found first: at the start, patches before full packages, each in
// the index's order.
std::optional<UpdatePath> UpdateGraph::Cheapest(const PathStart& start) const {
  if (newest_manifest_.empty()) return std::nullopt;
  if (start.manifest == newest_manifest_) return UpdatePath{};
  std::multimap<std::string, size_t> by_from;  // Patches by the tree they read.
  for (const PathEdge& e : edges_) {
    if (!dropped_[e.id] && e.kind != PathEdge::Kind::kFull) by_from.emplace(e.from_manifest, e.id);
  }
  struct Label {
    uint64_t bytes = 0;
    size_t hops = 0;
    size_t via = 0;         // The edge that reached this node.
    std::string previous;   // The node it came from.
  };
  std::map<std::string, Label> best;
  // (bytes, hops, order of insertion, node): the smallest first.
  using Entry = std::tuple<uint64_t, size_t, uint64_t, std::string>;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> queue;
  uint64_t order = 0;
  const std::string start_key = start.manifest;  // "" is no digest: a node of its own.
  best[start_key] = Label{};
  queue.emplace(0, 0, order++, start_key);
  auto relax = [&](const std::string& from, const Label& at, const PathEdge& e) {
    const uint64_t bytes = SaturatingAdd(at.bytes, e.file.size());
    const size_t hops = at.hops + 1;
    auto it = best.find(e.to_manifest);
    if (it != best.end() && std::tie(it->second.bytes, it->second.hops) <= std::tie(bytes, hops)) {
      return;
    }
    best[e.to_manifest] = Label{bytes, hops, e.id, from};
    queue.emplace(bytes, hops, order++, e.to_manifest);
  };
  std::set<std::string> settled;
  bool found = false;
  while (!queue.empty()) {
    const std::string node = std::get<3>(queue.top());
    queue.pop();
    if (!settled.insert(node).second) continue;  // A stale entry.
    const Label at = best[node];
    if (node == newest_manifest_) {
      found = true;
      break;
    }
    if (node == start_key) {
      // The packages that read the install, in the index's order (patches,
      // then full packages).
      for (const PathEdge& e : edges_) {
        if (dropped_[e.id]) continue;
        const bool reads_install =
            e.kind == PathEdge::Kind::kFull ||
            (start.manifest.empty() ? !start.version.empty() && e.from_version == start.version
                                    : e.from_manifest == start.manifest);
        if (reads_install) relax(node, at, e);
      }
      continue;
    }
    auto [first, last] = by_from.equal_range(node);
    for (auto it = first; it != last; ++it) relax(node, at, edges_[it->second]);
  }
  if (!found) return std::nullopt;
  UpdatePath path;
  path.bytes = best[newest_manifest_].bytes;
  for (std::string node = newest_manifest_; node != start_key;) {
    const Label& label = best[node];
    path.steps.push_back(edges_[label.via]);
    node = label.previous;
  }
  std::reverse(path.steps.begin(), path.steps.end());
  return path;
}

std::string PathName(const UpdatePath& path) {
  if (path.steps.empty()) return "";
  if (path.steps.size() > 1) return "chain";
  switch (path.steps[0].kind) {
    case PathEdge::Kind::kCumulative:
      return "cumulative";
    case PathEdge::Kind::kFull:
      return "full";
    case PathEdge::Kind::kChain:
      break;
  }
  return "chain";
}

std::string DescribePath(const UpdatePath& path, const std::string& start_label) {
  std::string out = start_label;
  for (const PathEdge& step : path.steps) absl::StrAppend(&out, " -> ", step.to_version);
  absl::StrAppend(&out, " (", path.steps.size(), path.steps.size() == 1 ? " package, " : " packages, ",
                  path.bytes, " bytes)");
  return out;
}

}  // namespace patchfarm
