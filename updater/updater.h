// The updater: brings an install to the newest version a published site
// offers (publisher/SITE.md), with the fewest bytes, or leaves it as it was.
//   1. Fetch index.json and its signature (HTTP(S) or file://) and verify it
//      against the pinned public key; refuse an expired index, one older
//      (lower serial) than the last accepted, one for another product or
//      channel than the marker's, and one naming a hotfix badly.
//   2. Read the installed version from the marker (updater/marker.h); an
//      empty or unmarked install gets the full package. A marker with
//      self_update=false (package-manager installs) stops here.
//   3. Rank the ways to the newest version by bytes (updater/ways.h): the
//      cumulative package, the chain of consecutive packages, the full
//      package; each package must declare the tree the index signs for it.
//   4. Download (resuming partial downloads, HTTP Range) into
//      .patchfarm/downloads, verify size and SHA-256, apply in place
//      (core/tree/in_place.h); if a way fails, try the next.
//   5. Install the hotfix files published for exactly the installed version
//      into <install>/hotfix/ and remove those left from another version;
//      write the marker last.
// Every step is logged on lines starting "patchfarm-update: ".
#ifndef PATCHFARM_UPDATER_UPDATER_H_
#define PATCHFARM_UPDATER_UPDATER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace patchfarm {

struct UpdateOptions {
  std::string index_url;        // The channel's index.json.
  std::string public_key_pem;   // The pinned key.
  std::string install_dir;
  std::string platform;         // Default: the marker's.
  bool check_only = false;      // Report, change nothing.
  std::function<void(const std::string&)> log;  // Gets each log line.
};

struct UpdateReport {
  std::string installed;  // Before ("" for a fresh install).
  std::string newest;
  std::string motd;
  std::string way;        // "cumulative", "chain", "full" or "" (nothing to do).
  uint64_t download_bytes = 0;
  bool updated = false;
};

// What was done. PermissionDenied for a bad signature; FailedPrecondition
// for an expired or replayed index, one for another product or channel, a
// symlink where the updater writes (.patchfarm, its downloads, hotfix), or
// when no way applies; DataLoss for an index that is not a format 1 index
// or names a file or a hotfix badly; NotFound if it lacks the platform;
// InvalidArgument with no platform from the options or the marker. Errors
// before the switch leave the install as it was; after it (the install
// failing its check, hotfixes) the marker records what the install is.
absl::StatusOr<UpdateReport> RunUpdate(const UpdateOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_UPDATER_H_
