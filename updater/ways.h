// The updater's choice of ways from an installed version to the newest one a
// signed index offers (publisher/SITE.md): the cumulative package, the chain
// of consecutive packages, the full package. Only packages whose index entry
// names both trees (from/to manifest digests) are used, every link of a way
// must start at the tree the previous one makes (the first at the installed
// tree, when the marker names it), and every way must end at the tree the
// index names as the newest. Used by the updater (updater.cc).
// Stateless; thread-safe.
#ifndef PATCHFARM_UPDATER_WAYS_H_
#define PATCHFARM_UPDATER_WAYS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {

// One way to the newest version: packages applied in order as one chain.
struct Way {
  std::string name;                 // "cumulative", "chain" or "full".
  std::vector<v1::SiteFile> files;  // The packages, in order.
  // The signed manifest digest (lower-case hex) of the tree each package
  // makes: targets[i] belongs to files[i]; the last is the newest tree.
  std::vector<std::string> targets;
  uint64_t bytes = 0;  // The sum of the files' sizes.
};

// Whether `s` is a manifest digest as the index writes it: 64 lower-case hex.
bool IsHexDigest(const std::string& s);

// The ways from `installed` (a version; "" for an empty or unmarked install)
// to `platform.newest()`, best first: the cumulative package and the chain
// ranked by bytes (a tie keeps the cumulative package first), then the full
// package of the newest release, whatever its size. `installed_manifest` is
// the hex manifest digest of the install's tree as the marker records it:
// when set, a way's first package must start at it; "" (a marker from before
// digests) accepts any start. A chain is offered only with at least two
// packages; it follows each version's consecutive package if there is one,
// else its cumulative package. Ways not ending at newest_manifest_sha256 are
// dropped, so an index without it offers none.
// Empty when installed == newest (up to date) and when no way applies.
// The URLs of patches ignored because their entry does not name both trees
// are appended to `ignored` when it is not null.
std::vector<Way> RankWays(const v1::SitePlatform& platform, const std::string& installed,
                          const std::string& installed_manifest,
                          std::vector<std::string>* ignored);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_WAYS_H_
