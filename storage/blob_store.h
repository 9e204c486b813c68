// A content-addressed store of blobs (release files, packages) in a directory:
// <dir>/<first 2 hex>/<64 hex>, each verified against its SHA-256 before it
// becomes visible, written atomically. Interrupted uploads keep their bytes in
// <dir>/partial/<hex> and resume from there. The worker's cache uses the same
// store with a size bound (EvictTo). Thread-safe.
#ifndef PATCHFARM_STORAGE_BLOB_STORE_H_
#define PATCHFARM_STORAGE_BLOB_STORE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"

namespace patchfarm {

inline constexpr uint64_t kMaxBlobBytes = uint64_t{64} << 30;

class BlobStore {
 public:
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(const std::string& dir);

  // One upload in progress: Append bytes in order, then Commit.
  class Upload {
   public:
    ~Upload();
    absl::Status Append(absl::string_view data);
    // DataLoss if the bytes are not `size` long or do not hash to the digest
    // (the partial bytes are dropped); then the blob is visible.
    absl::Status Commit();

   private:
    friend class BlobStore;
    Upload(BlobStore* store, Digest digest, uint64_t size, int fd, uint64_t written)
        : store_(store), digest_(digest), size_(size), fd_(fd), written_(written) {}
    BlobStore* store_;
    Digest digest_;
    uint64_t size_;
    int fd_;
    uint64_t written_;
  };

  bool Has(const Digest& digest) const;
  // The path of a stored blob (to read it). NotFound if absent.
  absl::StatusOr<std::string> PathOf(const Digest& digest) const;
  // Bytes already received of an interrupted upload (0 if none).
  uint64_t ReceivedBytes(const Digest& digest) const;
  // Starts or resumes an upload at `offset`, which must equal ReceivedBytes
  // (FailedPrecondition otherwise; Aborted if another upload of it is running).
  absl::StatusOr<std::unique_ptr<Upload>> StartUpload(const Digest& digest, uint64_t size,
                                                      uint64_t offset);
  // Stores the file at `path` (hashing it); returns its digest.
  absl::StatusOr<Digest> PutFile(const std::string& path);
  // Stores `data`; returns its digest.
  absl::StatusOr<Digest> Put(absl::string_view data);
  // Marks a blob as recently used (for EvictTo).
  void Touch(const Digest& digest);
  // Removes least recently used blobs, except `keep`, until at most
  // `max_bytes` remain.
  absl::Status EvictTo(uint64_t max_bytes, const std::set<Digest>& keep);

 private:
  explicit BlobStore(std::string dir) : dir_(std::move(dir)) {}
  std::string BlobPath(const Digest& digest) const;
  std::string PartialPath(const Digest& digest) const;
  void EndUpload(const Digest& digest);

  std::string dir_;
  mutable std::mutex mu_;
  std::set<Digest> uploading_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_STORAGE_BLOB_STORE_H_
