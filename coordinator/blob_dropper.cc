#include "coordinator/blob_dropper.h"

#include "absl/strings/str_cat.h"

namespace patchfarm {

std::vector<DropCandidate> BlobDropper::Drop(const std::vector<DropCandidate>& candidates,
                                             const std::set<Digest>& referenced) {
  std::vector<DropCandidate> dropped;
  std::set<Digest> seen;
  for (const DropCandidate& c : candidates) {
    if (referenced.count(c.digest) != 0) continue;  // Still in use: never deleted.
    if (!seen.insert(c.digest).second) {
      dropped.push_back(c);  // Same blob as an earlier candidate: handled there.
      continue;
    }
    const std::string where = absl::StrCat("blob=", DigestToHex(c.digest), " job=", c.job_id,
                                           " from=", c.from_version, " to=", c.to_version);
    absl::StatusOr<std::string> path = blobs_->PathOf(c.digest);
    if (!path.ok()) {  // Gone already (a drop interrupted after the unlink).
      dropped.push_back(c);
      continue;
    }
    absl::StatusOr<FileInfo> info = fs_->Stat(*path);
    absl::Status removed = fs_->Unlink(*path);
    if (!removed.ok() && !absl::IsNotFound(removed)) {
      Log(absl::StrCat("event=blob_drop_failed ", where, " error=\"", removed.message(), "\""));
      continue;
    }
    const uint64_t bytes = info.ok() ? info->size : 0;
    ++blobs_dropped_;
    bytes_dropped_ += bytes;
    Log(absl::StrCat("event=blob_dropped ", where, " bytes=", bytes));
    dropped.push_back(c);
  }
  return dropped;
}

}  // namespace patchfarm
