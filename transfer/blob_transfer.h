// Moving blobs to and from the coordinator's BlobService: uploads skip what
// the coordinator has and resume what it half has; downloads resume into a
// local BlobStore and are verified before they count. Used by the CLI and the
// worker. Functions are thread-safe if the stub is (gRPC stubs are).
#ifndef PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
#define PATCHFARM_TRANSFER_BLOB_TRANSFER_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
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

}  // namespace patchfarm

#endif  // PATCHFARM_TRANSFER_BLOB_TRANSFER_H_
