// Thin gRPC adapters: BlobService over a BlobStore, CoordinatorService and
// WorkerService over a Coordinator. They check the caller's token and role
// (token_auth.h, when tokens are configured), message shapes, convert
// statuses and stream; the logic is in coordinator.h and blob_store.h.
#ifndef PATCHFARM_COORDINATOR_GRPC_SERVICES_H_
#define PATCHFARM_COORDINATOR_GRPC_SERVICES_H_

#include <atomic>
#include <map>
#include <mutex>
#include <string>

#include "coordinator/coordinator.h"
#include "coordinator/stall_watch.h"
#include "coordinator/token_auth.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "storage/blob_store.h"

namespace patchfarm {

inline constexpr size_t kBlobChunkBytes = 1 << 20;
inline constexpr int kMaxMessageBytes = 64 << 20;  // farm.proto's documented limit.
inline constexpr int kMaxDigestsPerFindMissing = 100000;

struct BlobServiceOptions {
  // Paces each client address's uploads; 0: unlimited.
  uint64_t upload_bytes_per_second = 0;
  // Room kept free on the store's disk: a full disk would fail the
  // coordinator's own writes. An upload is refused (ResourceExhausted)
  // before it starts unless all of it fits beside this and the room
  // promised to uploads under way; it is promised room `room_window` at a
  // time, and refused mid-way if its next window does not fit (its partial
  // stays for a resume). 0: no check.
  uint64_t min_free_bytes = 0;
  uint64_t room_window = uint64_t{64} << 20;
  // An upload that receives less than a MiB (or the rest of its blob), or a
  // download whose client takes less than a chunk, in this long (not
  // counting the pacing's own waits) is cancelled: a stalled client would
  // hold its room promise and a thread for good.
  absl::Duration stall_patience = absl::Minutes(2);
};

class BlobServiceImpl final : public v1::BlobService::Service {
 public:
  BlobServiceImpl(BlobStore* blobs, const TokenAuth* auth, const BlobServiceOptions& options = {})
      : blobs_(blobs),
        auth_(auth),
        upload_rate_(options.upload_bytes_per_second),
        min_free_bytes_(options.min_free_bytes),
        room_window_(options.room_window),
        stalls_(options.stall_patience) {}
  uint64_t bytes_received() const { return bytes_received_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  grpc::Status FindMissing(grpc::ServerContext*, const v1::FindMissingRequest* request,
                           v1::FindMissingResponse* response) override;
  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<v1::UploadChunk>* reader,
                      v1::UploadResponse* response) override;
  grpc::Status Download(grpc::ServerContext* context, const v1::DownloadRequest* request,
                        grpc::ServerWriter<v1::DownloadChunk>* writer) override;

 private:
  // How long `peer` must wait before sending on, for its uploads to stay
  // within the rate (`bytes` counted as sent).
  absl::Duration PaceWait(const std::string& peer, size_t bytes);
  // OK, counting `promise` bytes as promised (RoomPromise gives them back as
  // they are written or the upload ends), if the disk has room for `bytes`
  // beside the bytes kept free and those promised to uploads under way; else
  // RESOURCE_EXHAUSTED naming the figures (room may be made later), or
  // INVALID_ARGUMENT if the disk could never hold them (clients retry
  // FAILED_PRECONDITION as a moved resume point).
  grpc::Status PromiseRoom(uint64_t bytes, uint64_t promise);

  BlobStore* blobs_;
  const TokenAuth* auth_;  // Null: no tokens required.
  uint64_t upload_rate_;
  uint64_t min_free_bytes_;
  uint64_t room_window_;
  std::mutex room_mu_;                  // Checks and promises room one upload at a time.
  std::atomic<uint64_t> promised_{0};   // Bytes uploads under way have yet to write.
  std::mutex pace_mu_;
  std::map<std::string, absl::Duration> next_free_;  // Client address -> when (Monotonic) its budget frees up.
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  StallWatch stalls_;
};

class CoordinatorServiceImpl final : public v1::CoordinatorService::Service {
 public:
  // At most `max_waiting_calls` Watch and RequestPatch calls wait at once;
  // more are refused RESOURCE_EXHAUSTED (with tokens, any submit or request
  // token could hold every server thread).
  CoordinatorServiceImpl(Coordinator* coordinator, const TokenAuth* auth, int max_waiting_calls)
      : c_(coordinator), auth_(auth), max_waiting_calls_(max_waiting_calls) {}
  grpc::Status Submit(grpc::ServerContext*, const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const v1::WatchRequest* request,
                     grpc::ServerWriter<v1::WatchResponse>* writer) override;
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status GetManifest(grpc::ServerContext*, const v1::GetManifestRequest* request,
                           v1::GetManifestResponse* response) override;
  grpc::Status RequestPatch(grpc::ServerContext* context, const v1::OneOffRequest* request,
                            v1::OneOffResponse* response) override;
  grpc::Status SetPolicy(grpc::ServerContext*, const v1::PolicyRequest* request,
                         v1::PolicyResponse* response) override;
  grpc::Status AddHotfix(grpc::ServerContext*, const v1::HotfixRequest* request,
                         v1::HotfixResponse* response) override;
  grpc::Status RecordFullPackage(grpc::ServerContext*, const v1::RecordFullPackageRequest* request,
                                 v1::RecordFullPackageResponse* response) override;
  grpc::Status RejectResult(grpc::ServerContext*, const v1::RejectResultRequest* request,
                            v1::RejectResultResponse* response) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                           v1::ListWorkersResponse* response) override;
  grpc::Status Drain(grpc::ServerContext*, const v1::DrainRequest* request,
                     v1::DrainResponse* response) override;

 private:
  // Takes a waiting call's place while it lives, if one is free.
  class WaitingCall {
   public:
    explicit WaitingCall(CoordinatorServiceImpl* service);
    ~WaitingCall();
    bool taken() const { return taken_; }

   private:
    CoordinatorServiceImpl* service_;
    bool taken_;
  };

  Coordinator* c_;
  const TokenAuth* auth_;  // Null: no tokens required.
  const int max_waiting_calls_;
  std::atomic<int> waiting_calls_{0};
};

class WorkerServiceImpl final : public v1::WorkerService::Service {
 public:
  WorkerServiceImpl(Coordinator* coordinator, const TokenAuth* auth) : c_(coordinator), auth_(auth) {}
  grpc::Status Acquire(grpc::ServerContext*, const v1::AcquireRequest* request,
                       v1::AcquireResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status Complete(grpc::ServerContext*, const v1::CompleteRequest* request,
                        v1::CompleteResponse*) override;
  grpc::Status Fail(grpc::ServerContext*, const v1::FailRequest* request,
                    v1::FailResponse*) override;

 private:
  Coordinator* c_;
  const TokenAuth* auth_;  // Null: no tokens required.
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_GRPC_SERVICES_H_
