// The updater: brings an install to the newest version a published site
// offers (publisher/SITE.md), with the fewest bytes, or leaves it as it was.
//   1. Fetch index.json and its signature (HTTP(S) or file://) and verify it
//      against the pinned public key; refuse an expired index or one older
//      (lower serial) than the last accepted.
//   2. Read the installed version from the marker (.patchfarm/marker); an
//      empty or unmarked install gets the full package. A marker with
//      self_update=false (package-manager installs) stops here.
//   3. Rank the ways to the newest version by bytes: the cumulative package,
//      the chain of consecutive packages, the full package.
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

// PermissionDenied for a bad signature, FailedPrecondition for an expired or
// replayed index or when no way applies (the install is left as it was).
absl::StatusOr<UpdateReport> RunUpdate(const UpdateOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_UPDATER_H_
