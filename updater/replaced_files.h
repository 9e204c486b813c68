// Targeted hotfixes that replace files of an install (`hotfix --replace`,
// publisher/SITE.md). The original of a replaced file is kept under
// <install>/.patchfarm/replaced/ and the marker lists what is replaced, as
// "replaced" = "<hex of the path>:<original sha256>:<new sha256>,...". The
// list is written before a file is replaced and after it is restored, so a
// crash at any point leaves the file old or new and its original restorable.
// Used by the updater (updater.cc); single-threaded.
#ifndef PATCHFARM_UPDATER_REPLACED_FILES_H_
#define PATCHFARM_UPDATER_REPLACED_FILES_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "updater/marker.h"

namespace patchfarm {

// A directory of the install that the updater writes into: created if
// missing, and refused if it is anything but a real directory (a symlink
// would carry the writes outside the install).
absl::Status EnsureRealDirectory(const std::string& path);

class ReplacedFiles {
 public:
  using Logger = std::function<void(const std::string&)>;
  // Downloads a file the index names, checked against its SHA-256; its path.
  using Downloader = std::function<absl::StatusOr<std::string>(const v1::SiteFile&)>;
  // Writes the marker durably.
  using MarkerWriter = std::function<absl::Status(const Marker&)>;

  ReplacedFiles(std::string install_dir, std::string state_dir, Logger log, MarkerWriter save)
      : install_dir_(std::move(install_dir)),
        state_dir_(std::move(state_dir)),
        log_(std::move(log)),
        save_(std::move(save)) {}

  // Removes the temporary copies (<file>.tmp-XXXXXX, CopyFileAtomically)
  // that a run killed while it replaced or restored a file the marker lists
  // left beside it in the install; errors are ignored, and nothing is
  // removed through a symlink.
  static void RemoveTempCopies(const std::string& install_dir, const Marker& marker);

  // DataLoss unless `r` names a valid tree path and hex digests.
  static absl::Status Validate(const v1::SiteHotfixReplacement& r);

  // Puts back every original the marker lists (also where the install's
  // file was removed), then clears the list: before an update, so that its
  // packages find the files they expect. An original that is neither kept
  // intact nor in place is logged and forgotten: the update's checks of the
  // file decide. FailedPrecondition if a path runs through a symlink.
  absl::Status RestoreAll(Marker* marker);

  // Makes the install's replaced files those that `p` publishes for
  // `version` (the installed version): nothing if they already are; else
  // restores the others and replaces each file, keeping its original.
  // FailedPrecondition if the install's file is not the one the hotfix
  // replaces, or the path runs through a symlink; errors of the download.
  absl::Status Sync(const v1::SitePlatform& p, const std::string& version,
                    const Downloader& download, Marker* marker);

 private:
  // <install>/<path>, after checking that every directory on the way is a
  // real directory and the file a regular file.
  // NotFound if a part of the path is missing.
  absl::StatusOr<std::string> InstalledFile(const std::string& path) const;
  // Creates the missing directories above <install>/<path> (real ones).
  absl::Status EnsureParents(const std::string& path) const;
  std::string KeptOriginal(const std::string& path) const;

  std::string install_dir_, state_dir_;
  Logger log_;
  MarkerWriter save_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_UPDATER_REPLACED_FILES_H_
