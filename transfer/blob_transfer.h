// Moving blobs to and from the coordinator's BlobService: uploads skip what
// the coordinator has and resume what it half has; downloads resume into a
// local BlobStore and are verified before they count. Used by the CLI and the
// worker. Functions are thread-safe if the stub is (gRPC stubs are).
#ifndef PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
#define PATCHFARM_TRANSFER_BLOB_TRANSFER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "storage/blob_store.h"

namespace patchfarm {

struct UploadStats {
  uint64_t blobs = 0;        // Blobs asked about.
  uint64_t uploaded = 0;     // Blobs sent.
  uint64_t bytes_sent = 0;
};

// Uploads the blobs of `files` (digest -> local path holding it) that the
// coordinator lacks.
absl::Status UploadMissing(v1::BlobService::Stub* stub, const std::map<Digest, std::string>& files,
                           UploadStats* stats = nullptr);

// Fetches blob `digest` into `store` unless it is there.
absl::Status DownloadToStore(v1::BlobService::Stub* stub, const Digest& digest, BlobStore* store);

// A blob of the coordinator read by ranges (DownloadRequest.length), never
// whole: how segment jobs read old and new, fetching only what they read.
// Ranged bytes cannot be checked against the digest; the patch made from
// them names the digests, and Apply checks its output. Each ReadAt is one
// call (retried while the coordinator is unavailable). Thread-safe.
class RemoteBlobSource : public ByteSource {
 public:
  // `size`: the blob's size as the caller knows it (its manifest); a blob of
  // another size is refused on the first read (FailedPrecondition).
  RemoteBlobSource(v1::BlobService::Stub* stub, const Digest& digest, uint64_t size)
      : stub_(stub), digest_(digest), size_(size) {}
  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;
  // Bytes fetched so far.
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  absl::StatusOr<size_t> ReadOnce(uint64_t offset, char* buf, size_t n) const;

  v1::BlobService::Stub* stub_;
  Digest digest_;
  uint64_t size_;
  mutable std::atomic<uint64_t> bytes_read_{0};
};

}  // namespace patchfarm

#endif  // PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
