#include "coordinator/grpc_services.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file.h"
#include "common/grpc_status.h"

namespace patchfarm {
namespace {

grpc::Status Invalid(const std::string& message) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, message);
}

bool Finished(const v1::ReleaseStatus& s) {
  for (const v1::JobStatus& j : s.jobs()) {
    if (j.state() != v1::JOB_STATE_DONE && j.state() != v1::JOB_STATE_FAILED) return false;
  }
  return true;
}

// An upload's share of BlobServiceImpl::promised_ (PromiseRoom adds to
// both): given back as its bytes are written, and the rest when it ends.
class RoomPromise {
 public:
  explicit RoomPromise(std::atomic<uint64_t>* promised) : promised_(promised) {}
  ~RoomPromise() { *promised_ -= left_; }
  RoomPromise(const RoomPromise&) = delete;
  RoomPromise& operator=(const RoomPromise&) = delete;
  uint64_t left() const { return left_; }
  void Add(uint64_t bytes) { left_ += bytes; }
  void Written(uint64_t bytes) {
    bytes = std::min(bytes, left_);
    left_ -= bytes;
    *promised_ -= bytes;
  }

 private:
  std::atomic<uint64_t>* promised_;
  uint64_t left_ = 0;
};

}  // namespace

grpc::Status BlobServiceImpl::FindMissing(grpc::ServerContext* context, const v1::FindMissingRequest* request,
                                          v1::FindMissingResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kWorker}); !allowed.ok()) return allowed;
  if (request->digests_size() > kMaxDigestsPerFindMissing) {
    return Invalid("at most 100,000 digests per FindMissing call");
  }
  for (const std::string& raw : request->digests()) {
    Digest digest;
    if (!ParseDigest(raw, &digest).ok()) return Invalid("digests must be 32 bytes");
    if (blobs_->Has(digest)) {
      // Its sender will name it next (Submit, Complete): not an orphan.
      blobs_->Touch(digest);
      continue;
    }
    v1::MissingBlob* m = response->add_missing();
    m->set_digest(raw);
    m->set_received_bytes(blobs_->ReceivedBytes(digest));
  }
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::Upload(grpc::ServerContext* context, grpc::ServerReader<v1::UploadChunk>* reader,
                                     v1::UploadResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kWorker}); !allowed.ok()) return allowed;
  // Watched while bytes arrive (not while the blob is committed: hashing
  // up to 64 GiB is the server's time).
  std::optional<StallWatch::Call> watched;
  watched.emplace(&stalls_, [context] { context->TryCancel(); });
  uint64_t since_progress = 0;
  auto received = [&](size_t bytes) {
    since_progress += bytes;
    if (since_progress >= kBlobChunkBytes) {
      watched->Progress();
      since_progress = 0;
    }
  };
  auto stalled = [&] {
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED,
                        "the upload stalled: less than a MiB arrived in the stall patience");
  };
  v1::UploadChunk chunk;
  if (!reader->Read(&chunk)) return watched->stalled() ? stalled() : Invalid("empty upload");
  Digest digest;
  if (!ParseDigest(chunk.digest(), &digest).ok()) return Invalid("the first chunk must carry a 32-byte digest");
  if (blobs_->Has(digest)) {  // Someone uploaded it meanwhile: drain and accept.
    blobs_->Touch(digest);
    while (reader->Read(&chunk)) received(chunk.data().size());
    if (watched->stalled()) return stalled();
    response->set_committed_size(chunk.size());
    return grpc::Status::OK;
  }
  if (chunk.size() > kMaxBlobBytes) {  // For good: not a matter of room.
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("a blob of ", chunk.size(), " bytes is over the limit of ",
                                     kMaxBlobBytes));
  }
  // The whole upload must fit now, but room is promised a window at a
  // time: a client that declares a size and stalls holds no more.
  const uint64_t needed = chunk.size() > chunk.offset() ? chunk.size() - chunk.offset() : 0;
  RoomPromise promise(&promised_);
  const uint64_t window = std::min(needed, room_window_);
  if (grpc::Status room = PromiseRoom(needed, window); !room.ok()) return room;
  if (min_free_bytes_ > 0) promise.Add(window);
  uint64_t written = 0;
  auto upload = blobs_->StartUpload(digest, chunk.size(), chunk.offset());
  if (!upload.ok()) return ToGrpcStatus(upload.status());
  do {
    if (chunk.data().size() > kBlobChunkBytes) return Invalid("chunks are at most 1 MiB");
    const uint64_t unpromised = needed - std::min(needed, written + promise.left());
    if (min_free_bytes_ > 0 && promise.left() < chunk.data().size() && unpromised > 0) {
      const uint64_t next = std::min(unpromised, room_window_);
      if (grpc::Status room = PromiseRoom(next, next); !room.ok()) return room;  // Partial kept.
      promise.Add(next);
    }
    absl::Status status = (*upload)->Append(chunk.data());
    if (!status.ok()) return ToGrpcStatus(status);
    bytes_received_ += chunk.data().size();
    written += chunk.data().size();
    promise.Written(chunk.data().size());
    received(chunk.data().size());
    if (upload_rate_ > 0) {
      const absl::Duration wait = PaceWait(context->peer(), chunk.data().size());
      watched->Extend(wait);  // Before the wait: the server's time, not the client's.
      SystemClock().SleepFor(wait);
    }
  } while (reader->Read(&chunk));
  if (watched->stalled()) return stalled();  // Its partial stays for a resume.
  watched.reset();
  absl::Status status = (*upload)->Commit();
  if (!status.ok()) return ToGrpcStatus(status);
  response->set_committed_size(chunk.size());
  return grpc::Status::OK;
}

grpc::Status BlobServiceImpl::PromiseRoom(uint64_t bytes, uint64_t promise) {
  if (min_free_bytes_ == 0) return grpc::Status::OK;
  std::lock_guard<std::mutex> lock(room_mu_);
  absl::StatusOr<BlobStore::DiskSpace> disk = blobs_->Space();
  if (!disk.ok()) return ToGrpcStatus(disk.status());
  if (disk->capacity < min_free_bytes_ || disk->capacity - min_free_bytes_ < bytes) {
    return grpc::Status(  // For good: no room would ever be made for it.
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("a blob of ", bytes, " bytes does not fit the coordinator's disk of ",
                     disk->capacity, " bytes beside the ", min_free_bytes_, " it keeps free"));
  }
  const uint64_t free = disk->available;
  const uint64_t promised = promised_;
  const uint64_t kept = min_free_bytes_ + promised;
  if (free < kept || free - kept < bytes) {
    return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                        absl::StrCat("the coordinator's disk has ", free, " bytes free, keeps ",
                                     min_free_bytes_, " of them free and has promised ", promised,
                                     " to uploads under way; this upload needs ", bytes, " more"));
  }
  promised_ += promise;
  return grpc::Status::OK;
}

absl::Duration BlobServiceImpl::PaceWait(const std::string& peer, size_t bytes) {
  // The client's address without the port: one budget per machine.
  const std::string client = peer.substr(0, peer.rfind(':'));
  const Clock& clock = SystemClock();
  absl::Duration wait;
  {
    std::lock_guard<std::mutex> lock(pace_mu_);
    const absl::Duration now = clock.Monotonic();
    absl::Duration& next = next_free_[client];
    next = std::max(next, now) +
           absl::Seconds(static_cast<double>(bytes) / static_cast<double>(upload_rate_));
    wait = next - now;
  }
  return std::max(wait, absl::ZeroDuration());
}

grpc::Status BlobServiceImpl::Download(grpc::ServerContext* context, const v1::DownloadRequest* request,
                                       grpc::ServerWriter<v1::DownloadChunk>* writer) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kRequest, Role::kWorker}); !allowed.ok()) return allowed;
  Digest digest;
  if (!ParseDigest(request->digest(), &digest).ok()) return Invalid("digest must be 32 bytes");
  auto path = blobs_->PathOf(digest);
  if (!path.ok()) return ToGrpcStatus(path.status());
  auto source = FileSource::Open(*path);
  if (!source.ok()) return ToGrpcStatus(source.status());
  uint64_t size = (*source)->size();
  if (request->offset() > size) return Invalid("offset past the end of the blob");
  const uint64_t end = request->length() == 0 || request->length() > size - request->offset()
                           ? size
                           : request->offset() + request->length();
  StallWatch::Call watched(&stalls_, [context] { context->TryCancel(); });
  std::string buffer(kBlobChunkBytes, '\0');
  uint64_t offset = request->offset();
  bool first = true;
  while (offset < end || first) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    auto n = (*source)->ReadAt(offset, buffer.data(), std::min<uint64_t>(buffer.size(), end - offset));
    if (!n.ok()) return ToGrpcStatus(n.status());
    v1::DownloadChunk chunk;
    if (first) chunk.set_size(size);
    chunk.set_data(buffer.data(), *n);
    if (!writer->Write(chunk)) return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    watched.Progress();
    bytes_sent_ += *n;
    offset += *n;
    first = false;
    if (*n == 0) break;
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::Submit(grpc::ServerContext* context, const v1::SubmitRequest* request,
                                            v1::SubmitResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit}); !allowed.ok()) return allowed;
  auto result = c_->Submit(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

CoordinatorServiceImpl::WaitingCall::WaitingCall(CoordinatorServiceImpl* service)
    : service_(service) {
  taken_ = service_->waiting_calls_.fetch_add(1) < service_->max_waiting_calls_;
  if (!taken_) service_->waiting_calls_.fetch_sub(1);
}

CoordinatorServiceImpl::WaitingCall::~WaitingCall() {
  if (taken_) service_->waiting_calls_.fetch_sub(1);
}

namespace {

grpc::Status TooManyWaiting(int max) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      absl::StrCat(max, " calls wait for releases and patches already; try again later"));
}

}  // namespace

grpc::Status CoordinatorServiceImpl::Watch(grpc::ServerContext* context,
                                           const v1::WatchRequest* request,
                                           grpc::ServerWriter<v1::WatchResponse>* writer) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kRequest}); !allowed.ok()) return allowed;
  WaitingCall waiting(this);
  if (!waiting.taken()) return TooManyWaiting(max_waiting_calls_);
  uint64_t generation = 0;
  while (!context->IsCancelled()) {
    auto status = c_->GetReleaseStatus(request->release_id());
    if (!status.ok()) return ToGrpcStatus(status.status());
    v1::WatchResponse response;
    response.set_finished(Finished(*status));
    *response.mutable_status() = std::move(*status);
    if (!writer->Write(response)) break;
    if (response.finished()) return grpc::Status::OK;
    c_->WaitForChange(&generation, 1.0);
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
}

grpc::Status CoordinatorServiceImpl::Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                                            v1::StatusResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kRequest}); !allowed.ok()) return allowed;
  *response = c_->Status(request->product());
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::GetManifest(grpc::ServerContext* context,
                                                 const v1::GetManifestRequest* request,
                                                 v1::GetManifestResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit, Role::kRequest}); !allowed.ok()) return allowed;
  auto result = c_->GetManifest(request->release_id());
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RequestPatch(grpc::ServerContext* context,
                                                  const v1::OneOffRequest* request,
                                                  v1::OneOffResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kRequest}); !allowed.ok()) return allowed;
  WaitingCall waiting(this);
  if (!waiting.taken()) return TooManyWaiting(max_waiting_calls_);
  auto job = c_->RequestOneOff(*request);
  if (!job.ok()) return ToGrpcStatus(job.status());
  uint64_t generation = 0;
  while (job->state() != v1::JOB_STATE_DONE && job->state() != v1::JOB_STATE_FAILED) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    c_->WaitForChange(&generation, 1.0);
    job = c_->GetJobStatus(job->job_id());
    if (!job.ok()) return ToGrpcStatus(job.status());
  }
  *response->mutable_job() = std::move(*job);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::SetPolicy(grpc::ServerContext* context, const v1::PolicyRequest* request,
                                               v1::PolicyResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kAdmin}); !allowed.ok()) return allowed;
  auto result = c_->SetPolicy(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::AddHotfix(grpc::ServerContext* context, const v1::HotfixRequest* request,
                                               v1::HotfixResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit}); !allowed.ok()) return allowed;
  auto result = c_->AddHotfix(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::RecordFullPackage(grpc::ServerContext* context,
                                                       const v1::RecordFullPackageRequest* request,
                                                       v1::RecordFullPackageResponse*) {
  // A recorded size is what later publishes gate packages by when their cache
  // lacks the full package: CI's role (submit), not a developer's (request),
  // whose publish then notes that it recorded nothing.
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit}); !allowed.ok()) return allowed;
  return ToGrpcStatus(c_->RecordFullPackage(*request));
}

grpc::Status CoordinatorServiceImpl::RejectResult(grpc::ServerContext* context,
                                                  const v1::RejectResultRequest* request,
                                                  v1::RejectResultResponse* response) {
  // The publish's role, as RecordFullPackage; the coordinator checks the
  // package itself before it runs anything again.
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kSubmit}); !allowed.ok()) return allowed;
  auto result = c_->RejectResult(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::ListWorkers(grpc::ServerContext* context, const v1::ListWorkersRequest*,
                                                 v1::ListWorkersResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kAdmin}); !allowed.ok()) return allowed;
  *response = c_->ListWorkers();
  return grpc::Status::OK;
}

grpc::Status CoordinatorServiceImpl::Drain(grpc::ServerContext* context, const v1::DrainRequest* request,
                                           v1::DrainResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kAdmin}); !allowed.ok()) return allowed;
  auto worker = c_->Drain(request->worker_id());
  if (!worker.ok()) return ToGrpcStatus(worker.status());
  *response->mutable_worker() = std::move(*worker);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Acquire(grpc::ServerContext* context, const v1::AcquireRequest* request,
                                        v1::AcquireResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kWorker}); !allowed.ok()) return allowed;
  auto result = c_->Acquire(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                                          v1::HeartbeatResponse* response) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kWorker}); !allowed.ok()) return allowed;
  auto result = c_->Heartbeat(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::Complete(grpc::ServerContext* context, const v1::CompleteRequest* request,
                                         v1::CompleteResponse*) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kWorker}); !allowed.ok()) return allowed;
  return ToGrpcStatus(c_->Complete(*request));
}

grpc::Status WorkerServiceImpl::Fail(grpc::ServerContext* context, const v1::FailRequest* request,
                                     v1::FailResponse*) {
  if (grpc::Status allowed = Authorize(auth_, context, {Role::kWorker}); !allowed.ok()) return allowed;
  return ToGrpcStatus(c_->Fail(*request));
}

}  // namespace patchfarm
