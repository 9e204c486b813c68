#include "publisher/farm_source.h"

#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "transfer/blob_transfer.h"

namespace patchfarm {
namespace {

class GrpcFarmSource : public FarmSource {
 public:
  explicit GrpcFarmSource(const GrpcFarmOptions& options) {
    ChannelOptions channel_options;
    channel_options.token = options.token;
    channel_options.tls_ca_pem = options.tls_ca_pem;
    channel_options.tls_cert_pem = options.tls_cert_pem;
    channel_options.tls_key_pem = options.tls_key_pem;
    auto channel = MakeChannel(options.address, channel_options);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    blobs_ = v1::BlobService::NewStub(channel);
  }

  absl::StatusOr<v1::StatusResponse> Status(const std::string& product) override {
    v1::StatusRequest request;
    request.set_product(product);
    v1::StatusResponse response;
    grpc::ClientContext context;
    PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator_->Status(&context, request, &response)));
    return response;
  }

  absl::StatusOr<v1::GetManifestResponse> GetManifest(const std::string& release_id) override {
    v1::GetManifestRequest request;
    request.set_release_id(release_id);
    v1::GetManifestResponse response;
    grpc::ClientContext context;
    PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator_->GetManifest(&context, request, &response)));
    return response;
  }

  absl::StatusOr<std::string> BlobPath(const Digest& digest, BlobStore* cache) override {
    // Not touched when there (DownloadToStore would): the cache's files are
    // the published ones, whose mtime HTTP caches and CDNs go by.
    if (cache->Has(digest)) return cache->PathOf(digest);
    PF_RETURN_IF_ERROR(DownloadToStore(blobs_.get(), digest, cache));
    return cache->PathOf(digest);
  }

  absl::Status RecordFullPackage(const v1::RecordFullPackageRequest& request) override {
    v1::RecordFullPackageResponse response;
    grpc::ClientContext context;
    return FromGrpcStatus(coordinator_->RecordFullPackage(&context, request, &response));
  }

  absl::StatusOr<v1::RejectResultResponse> RejectResult(
      const v1::RejectResultRequest& request) override {
    v1::RejectResultResponse response;
    grpc::ClientContext context;
    PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator_->RejectResult(&context, request, &response)));
    return response;
  }

 private:
  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
};

}  // namespace

std::unique_ptr<FarmSource> ConnectFarmSource(const GrpcFarmOptions& options) {
  return std::make_unique<GrpcFarmSource>(options);
}

}  // namespace patchfarm
