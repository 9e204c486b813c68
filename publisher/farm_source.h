// FarmSource: what a publish reads from the farm (its coordinator's status of
// a product, release manifests and blobs) and the two things it writes back
// (the sizes of the full packages it built, and the packages it refused). The CLI's `publish` reaches a
// coordinator over gRPC (GrpcFarmSource, below); the coordinator's own
// auto-publisher serves it in process (coordinator/auto_publisher.cc), with
// no channel, token or certificate of its own. Implementations need not be
// thread-safe: one publish uses one at a time.
#ifndef PATCHFARM_PUBLISHER_FARM_SOURCE_H_
#define PATCHFARM_PUBLISHER_FARM_SOURCE_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/sha256.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "storage/blob_store.h"

namespace patchfarm {

class FarmSource {
 public:
  virtual ~FarmSource() = default;
  // The coordinator's status of `product` (as `patchfarm status` shows it).
  virtual absl::StatusOr<v1::StatusResponse> Status(const std::string& product) = 0;
  // The manifest of release `release_id` (not yet checked against its digest).
  virtual absl::StatusOr<v1::GetManifestResponse> GetManifest(const std::string& release_id) = 0;
  // A local file holding blob `digest`, whose content is verified against it:
  // the source's own store, or a download into `cache`. NotFound if the farm
  // does not hold it.
  virtual absl::StatusOr<std::string> BlobPath(const Digest& digest, BlobStore* cache) = 0;
  virtual absl::Status RecordFullPackage(const v1::RecordFullPackageRequest& request) = 0;
  // Asks the coordinator to run a refused package's job again
  // (Coordinator::RejectResult).
  virtual absl::StatusOr<v1::RejectResultResponse> RejectResult(
      const v1::RejectResultRequest& request) = 0;
};

// A FarmSource over gRPC to the coordinator at `address` ("host:port").
struct GrpcFarmOptions {
  std::string address;
  std::string token;                                  // Bearer token, if it needs one.
  std::string tls_ca_pem, tls_cert_pem, tls_key_pem;  // TLS, if it serves it.
};
std::unique_ptr<FarmSource> ConnectFarmSource(const GrpcFarmOptions& options);

}  // namespace patchfarm

#endif  // PATCHFARM_PUBLISHER_FARM_SOURCE_H_
