// The updater: brings an install to the newest version a published site
// offers (publisher/SITE.md), with the fewest bytes, or leaves it as it was.
//   1. Fetch index.json and its signature (HTTP(S) or file://) and verify it
//      against the pinned public key (both fetched again once if they do
//      not verify: a publish may fall between the two requests); refuse an
//      expired index, one older (lower serial) than the last accepted, one
//      for another product or channel than the options' or the marker's,
//      and one naming a hotfix badly.
//   2. Read the installed version from the marker (updater/marker.h); an
//      empty or unmarked install starts from a full package. A marker with
//      self_update=false (package-manager installs) stops here. Unless only
//      checking: take .patchfarm/update.lock (FailedPrecondition if another
//      run holds it), read the marker again and check the index against it
//      again (a run that held the lock may have moved on), record the
//      index's serial as accepted when the marker names a version, finish
//      or undo an interrupted switch, resolve a step the marker names as
//      pending (step 4), remove the temporary files a killed run left in
//      .patchfarm, hotfix/, .patchfarm/replaced and beside replaced files,
//      and the downloads of files the index no longer names.
//   3. Find the path of fewest bytes to the newest tree over every package
//      the index publishes for the platform (updater/update_path.h): chain
//      links, cumulative packages from any version, full packages from
//      anywhere, joined by the manifest digests the index signs and starting
//      at the marker's; ties go to fewer packages. It is logged as
//        path 1.0.1 -> 1.0.4 -> 1.2.0 (2 packages, 5123 bytes)
//      ("(empty) -> 1.2.0" for an empty install, "(unknown) -> ..." for one
//      whose version is not known).
//   4. Download every package of the path (resuming partial downloads, HTTP
//      Range) into .patchfarm/downloads and verify its size, SHA-256 and the
//      tree it declares before applying any; then apply them one at a time
//      in place (core/tree/in_place.h), each its own atomic switch: the
//      marker names the step as pending before the switch and its version
//      as soon as the switch commits, and
//      the install is checked against the step's signed tree. A package that
//      fails is dropped and the next cheapest path is taken from where the
//      install then is (a version reached stays reached; an install failing
//      its check is of unknown content, so only a full package leads on).
//      A path applied step by step is not atomic as a whole: a crash or an
//      error between steps leaves the install at an intermediate published
//      version, whole and verified, and the marker says which; the next run
//      goes on from there.
//   5. Install the hotfix files published for exactly the installed version
//      into <install>/hotfix/ and remove those left from another version;
//      replace the files its hotfix replaces, keeping the originals
//      (replaced_files.h; the next update restores them once its packages
//      are checked, before the first is applied); write the marker last.
// Every step is logged on lines starting "patchfarm-update: ".
#ifndef PATCHFARM_UPDATER_UPDATER_H_
#define PATCHFARM_UPDATER_UPDATER_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"

namespace patchfarm {

struct UpdateOptions {
  std::string index_url;        // The channel's index.json.
  std::string public_key_pem;   // The pinned key.
  std::string install_dir;
  std::string platform;         // Default: the marker's.
  // If set, an index for another product or channel is refused, also on a
  // fresh install (the marker's are checked once it has them).
  std::string product, channel;
  bool check_only = false;      // Report, change nothing.
  std::function<void(const std::string&)> log;  // Gets each log line.
  const Clock* clock = &SystemClock();  // The index's expiry is checked against it.
};

struct UpdateReport {
  std::string installed;  // Before ("" for a fresh install).
  std::string newest;
  std::string motd;
  // "cumulative" or "full" (a path of that one package), "chain" (any other
  // path) or "" (nothing to do): of the path taken, or with check_only of
  // the path that would be.
  std::string way;
  // That path as logged after "path ", e.g.
  // "1.0.1 -> 1.0.4 -> 1.2.0 (2 packages, 5123 bytes)"; "" with nothing to do.
  std::string path;
  uint64_t download_bytes = 0;  // The bytes of that path's packages.
  bool updated = false;
};

// What was done. PermissionDenied for a bad signature; FailedPrecondition
// for an expired or replayed index, one for another product or channel, a
// symlink where the updater writes (.patchfarm, its downloads, hotfix), or
// when no path leads to the newest version (also with check_only); DataLoss
// for an index that is not a format 1 index or names a file or a hotfix badly; NotFound if it lacks the platform;
// InvalidArgument with no platform from the options or the marker; when
// every path failed, the error of the last package tried. Errors before the
// first switch leave the install as it was; after one (a later step failing,
// the install failing its check, hotfixes) the marker records what the
// install is.
absl::StatusOr<UpdateReport> RunUpdate(const UpdateOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_UPDATER_H_
