// Drops package blobs from the coordinator's blob store (storage/blob_store.h)
// once the retention policy no longer keeps the jobs that made them. The
// coordinator decides which packages have left the policy and which digests
// anything still references (coordinator_retention.cc); this class refuses
// to delete a referenced digest whatever it is given, deletes the rest, and
// logs and counts each deletion. A blob already gone counts as dropped.
//
// BlobStore has no deletion of its own: the blob's file (BlobStore::PathOf)
// is unlinked through `fs`. A reader that opened it before keeps reading it
// (POSIX); one that asks after gets NotFound. Deletions are not fsynced: a
// blob back after a power loss is dropped again, from the coordinator's
// drop/ records. Thread-compatible: the coordinator calls it under its lock.
#ifndef PATCHFARM_COORDINATOR_BLOB_DROPPER_H_
#define PATCHFARM_COORDINATOR_BLOB_DROPPER_H_

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/file_system.h"
#include "common/sha256.h"
#include "storage/blob_store.h"

namespace patchfarm {

struct DropCandidate {
  Digest digest{};     // The package blob.
  std::string job_id;  // The job whose result it is ("" if none is left).
  std::string from_version, to_version;  // For the log.
};

class BlobDropper {
 public:
  // `blobs` and `fs` must outlive the dropper; `log` gets one line per
  // deletion (may be empty).
  BlobDropper(BlobStore* blobs, FileSystem* fs, std::function<void(const std::string&)> log)
      : blobs_(blobs), fs_(fs), log_(std::move(log)) {}

  // Removes the blob of every candidate whose digest is not in `referenced`
  // (each digest once), logging
  //   event=blob_dropped blob=<hex> job=<id> from=<v> to=<v> bytes=<n>
  // Returns the candidates whose blob is gone now (removed, or already
  // absent); a referenced one is kept and not returned, and one that cannot
  // be removed is logged as event=blob_drop_failed and not returned.
  std::vector<DropCandidate> Drop(const std::vector<DropCandidate>& candidates,
                                  const std::set<Digest>& referenced);

  uint64_t blobs_dropped() const { return blobs_dropped_; }  // Removed since construction.
  uint64_t bytes_dropped() const { return bytes_dropped_; }

 private:
  void Log(const std::string& line) {
    if (log_) log_(line);
  }

  BlobStore* blobs_;
  FileSystem* fs_;
  std::function<void(const std::string&)> log_;
  uint64_t blobs_dropped_ = 0;
  uint64_t bytes_dropped_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_BLOB_DROPPER_H_
