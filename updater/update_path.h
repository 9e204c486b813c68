// The updater's choice of packages (publisher/SITE.md, "The updater's side"):
// the path of fewest bytes from the install to the newest tree over every
// package a signed index publishes for a platform.
//
// The graph's nodes are trees, named by their manifest digests (hex); its
// edges are the packages:
//   - every patch (SitePatch: a chain link or a cumulative package, from any
//     version) whose entry names both trees, from its from_manifest_sha256
//     to its to_manifest_sha256;
//   - every release's full package whose entry names the release's tree,
//     from anywhere (it reads nothing: an empty, unknown or any other
//     install) to that tree.
// A path starts at the install, joins each package's from-digest to the
// to-digest of the one before, and ends at the index's
// newest_manifest_sha256. Its cost is its bytes (the sum of its files'
// sizes); ties go to fewer packages, then to a patch over a full package,
// then to the path found first in the index's order: the same index always
// gives the same path.
// Used by the updater (updater.cc), which drops a package that failed and
// asks again from where the install then is.
// Not thread-safe (Drop changes the graph); Cheapest is const.
#ifndef PATCHFARM_UPDATER_UPDATE_PATH_H_
#define PATCHFARM_UPDATER_UPDATE_PATH_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {

// Whether `s` is a manifest digest as the index writes it: 64 lower-case hex.
bool IsHexDigest(const std::string& s);

// One published package: an edge of the graph.
struct PathEdge {
  enum class Kind { kChain, kCumulative, kFull };
  Kind kind = Kind::kChain;
  std::string from_version;   // "" for a full package.
  std::string to_version;     // The version it makes (a full package's release).
  std::string from_manifest;  // Hex; "" for a full package (from anywhere).
  std::string to_manifest;    // Hex: the tree it must declare and make.
  v1::SiteFile file;
  size_t id = 0;  // Its position in the graph: what Drop takes.
};

// Where the install is.
struct PathStart {
  // The installed version; "" for an empty install or one of unknown content.
  std::string version;
  // The installed tree's manifest digest (hex) as the marker records it;
  // "" when the marker names none (a marker from before digests, or no
  // marker). When set, the first package must read exactly this tree; when
  // not, a patch whose from_version is `version` may start the path.
  std::string manifest;
};

// Packages applied in order, each reading the tree the one before made.
struct UpdatePath {
  std::vector<PathEdge> steps;
  uint64_t bytes = 0;  // The sum of the steps' file sizes (saturating).
};

class UpdateGraph {
 public:
  // The graph of `platform`'s packages. Patches whose entry does not name both
  // trees, and full packages whose release does not name its tree, are left
  // out: their URLs are in ignored(). An index without a hex
  // newest_manifest_sha256 has no path.
  explicit UpdateGraph(const v1::SitePlatform& platform);

  // The cheapest path from `start` to the newest tree over the packages not
  // dropped; a path without steps when start.manifest is the newest tree;
  // nullopt when no path leads there.
  std::optional<UpdatePath> Cheapest(const PathStart& start) const;

  // Leaves the package with id `edge` out of every later path (it failed).
  // Ids not in the graph are ignored.
  void Drop(size_t edge);

  const std::vector<PathEdge>& edges() const { return edges_; }
  const std::vector<std::string>& ignored() const { return ignored_; }

 private:
  std::vector<PathEdge> edges_;
  std::vector<bool> dropped_;
  std::vector<std::string> ignored_;
  std::string newest_manifest_;
};

// "cumulative" or "full" for a path of that one package, "chain" for any
// other path of one or more packages (chain links, possibly ending with a
// cumulative package), "" for a path without steps. The updater reports it
// as its way.
std::string PathName(const UpdatePath& path);

// The path as the updater logs it: the versions from `start_label` (the
// installed version, or "(empty)" or "(unknown)") through each step's
// to_version, then the count and bytes:
//   "1.0.1 -> 1.0.4 -> 1.2.0 (2 packages, 5123 bytes)"
//   "(empty) -> 1.2.0 (1 package, 80211 bytes)"
std::string DescribePath(const UpdatePath& path, const std::string& start_label);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_UPDATE_PATH_H_
