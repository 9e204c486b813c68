// Moving blobs to and from the coordinator's BlobService: uploads skip what
// the coordinator has and resume what it half has; downloads resume into a
// local BlobStore and are verified before they count. Used by the CLI and the
// worker. Functions are thread-safe if the stub is (gRPC stubs are).
#ifndef PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
#define PATCHFARM_TRANSFER_BLOB_TRANSFER_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <mutex>
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

// Uploads `source`, whose bytes hash to `digest`, unless the coordinator has
// it (and resumes an interrupted upload of it): for a result that is not
// kept in a local store. The coordinator checks the digest.
absl::Status UploadSourceIfMissing(v1::BlobService::Stub* stub, const Digest& digest,
                                   const ByteSource& source, UploadStats* stats = nullptr);

// Fetches blob `digest` into `store` unless it is there.
absl::Status DownloadToStore(v1::BlobService::Stub* stub, const Digest& digest, BlobStore* store);

// A blob of the coordinator read by ranges (DownloadRequest.length), never
// whole: how segment jobs read old and new, fetching only what they read.
// Ranged bytes cannot be checked against the digest; the patch made from
// them names the digests, and Apply checks its output. Reads of less than
// a block go through a cache of kCachedBlocks aligned blocks (8 MiB: the
// diff's many small reads, near each other or coming back to a few places,
// cost one call per block); larger ones are one call each. Calls are retried while the coordinator is unavailable.
// Thread-safe.
class RemoteBlobSource : public ByteSource {
 public:
  static constexpr size_t kBlockBytes = size_t{64} << 10;
  static constexpr size_t kCachedBlocks = 128;

  // `size`: the blob's size as the caller knows it (its manifest); a blob of
  // another size is refused on the first read (FailedPrecondition).
  RemoteBlobSource(v1::BlobService::Stub* stub, const Digest& digest, uint64_t size)
      : stub_(stub), digest_(digest), size_(size) {}
  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;
  // Bytes fetched so far.
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Exactly [offset, offset + n), which lies inside the blob, in calls.
  absl::Status Fetch(uint64_t offset, char* buf, size_t n) const;
  absl::Status FetchOnce(uint64_t offset, char* buf, size_t n) const;
  // The cached block at `index`, fetched if absent. REQUIRES: mu_ held.
  absl::StatusOr<const std::string*> Block(uint64_t index) const;

  v1::BlobService::Stub* stub_;
  Digest digest_;
  uint64_t size_;
  mutable std::atomic<uint64_t> bytes_read_{0};
  mutable std::mutex mu_;
  mutable std::list<std::pair<uint64_t, std::string>> blocks_;  // Most recent first.
};

}  // namespace patchfarm

#endif  // PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
