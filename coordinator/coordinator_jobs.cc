// The coordinator's jobs and leases (coordinator.h): jobs created and
// queued, one-off requests, leases acquired and kept alive by heartbeats,
// results checked and recorded, failures, retries and expired leases.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_keys.h"
#include "core/release/version.h"
#include "core/tree/manifest.h"
#include "core/tree/result_binding.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_path.h"
#include "proto/patchfarm/v1/manifest_convert.h"

namespace patchfarm {
namespace {

using coordinator_keys::kJobPrefix;
using coordinator_keys::kNextSeqKey;
using coordinator_keys::kReleasePrefix;

// The entry of `manifest` at `path` and the directories above it (which a
// manifest must hold), in order.
google::protobuf::RepeatedPtrField<v1::ManifestEntry> PathEntries(
    const v1::StoredManifest& manifest, const std::string& path) {
  google::protobuf::RepeatedPtrField<v1::ManifestEntry> out;
  const auto& entries = manifest.entries();
  for (size_t end = path.find('/');; end = path.find('/', end + 1)) {
    const std::string prefix = path.substr(0, end);
    auto it = std::lower_bound(
        entries.begin(), entries.end(), prefix,
        [](const v1::ManifestEntry& e, const std::string& p) { return e.path() < p; });
    if (it != entries.end() && it->path() == prefix) *out.Add() = *it;
    if (end == std::string::npos) break;
  }
  return out;
}

}  // namespace

v1::StoredJob Coordinator::NewJobLocked(const v1::StoredRelease& from, const v1::StoredRelease& to,
                                        uint32_t priority, uint64_t* seq) const {
  v1::StoredJob job;
  v1::JobStatus* s = job.mutable_status();
  s->set_job_id(JobIdOf(from.manifest_digest(), to.manifest_digest()));
  s->set_from_version(from.release().version());
  s->set_to_version(to.release().version());
  s->set_state(v1::JOB_STATE_QUEUED);
  s->set_one_off(priority == 0);
  s->set_new_size(to.total_size());
  job.set_kind(to.kind());
  job.set_old_manifest_digest(from.manifest_digest());
  job.set_new_manifest_digest(to.manifest_digest());
  job.set_priority(priority);
  job.set_seq((*seq)++);
  return job;
}

void Coordinator::AdoptJobLocked(v1::StoredJob job) {
  const std::string id = job.status().job_id();
  jobs_[id] = std::move(job);
  QueueLocked(jobs_[id]);
}

// Whether the queued `job` may run now: a split pair's job once its
// segments are done, a segment once its pair's index jobs are, and a child
// of an earlier split never.
bool Coordinator::RunnableLocked(const v1::StoredJob& job) const {
  if (job.status().state() != v1::JOB_STATE_QUEUED) return false;
  if (job.segment_job_ids_size() > 0 && !SegmentsDoneLocked(job)) return false;
  if (!job.parent_job_id().empty() && !ListedLocked(job)) return false;
  return job.segment_end() == 0 || IndexDoneLocked(job);
}

void Coordinator::QueueLocked(const v1::StoredJob& job) {
  if (!RunnableLocked(job)) return;
  // A pair's index jobs and its segment jobs are never queued at once.
  const uint64_t part = job.parent_job_id().empty() ? 0
                        : job.index_end() > 0     ? job.index_begin() + 1
                        : job.queue_part() > 0    ? job.queue_part()
                                                  : job.segment_begin() + 1;
  queue_.Push(job.status().job_id(), job.priority(), job.seq(), job.old_manifest_digest(), part);
}

absl::StatusOr<v1::JobStatus> Coordinator::RequestOneOff(const v1::OneOffRequest& request) {
  std::string channel = request.channel().empty() ? "stable" : request.channel();
  for (const auto& [what, value] : {std::pair<const char*, std::string>{"product", request.product()},
                                   {"platform", request.platform()}, {"channel", channel},
                                   {"from version", request.from_version()},
                                   {"to version", request.to_version()}}) {
    PF_RETURN_IF_ERROR(ValidateName(what, value));
  }
  const std::string prefix = absl::StrCat(request.product(), "/", request.platform(), "/", channel, "/");
  std::lock_guard<std::mutex> lock(mu_);
  auto from = releases_.find(prefix + request.from_version());
  auto to = releases_.find(prefix + request.to_version());
  if (from == releases_.end() || to == releases_.end()) {
    return absl::NotFoundError(absl::StrCat("no release ", prefix,
                                            from == releases_.end() ? request.from_version()
                                                                    : request.to_version()));
  }
  if (from->second.kind() != to->second.kind()) {
    return absl::InvalidArgumentError("one release is a file, the other a tree");
  }
  if (from->second.manifest_digest() == to->second.manifest_digest()) {
    return absl::InvalidArgumentError("the two releases have the same content");
  }
  // Work on a copy; memory changes only after the write succeeded.
  uint64_t seq = next_seq_;
  auto existing = jobs_.find(JobIdOf(from->second.manifest_digest(), to->second.manifest_digest()));
  if (existing == jobs_.end() && QueuedOneOffsLocked() >= kMaxQueuedOneOffs) {
    return absl::ResourceExhaustedError(absl::StrCat(
        kMaxQueuedOneOffs, " one-off patches are queued already: ask again once they ran"));
  }
  v1::StoredJob job = existing == jobs_.end() ? NewJobLocked(from->second, to->second, 0, &seq)
                                              : existing->second;
  v1::JobStatus* s = job.mutable_status();
  if (s->state() == v1::JOB_STATE_FAILED) {  // Asked again: try again.
    s->set_state(v1::JOB_STATE_QUEUED);
    s->set_attempts(0);
    s->clear_error();
    job.clear_segment_job_ids();  // Split again; index and segment jobs done are kept.
    job.clear_index_job_ids();
  }
  if (s->state() == v1::JOB_STATE_QUEUED) {
    // Ahead of release jobs. A release's job asked for is not made one-off
    // (NewJobLocked makes new ones so): its result still ages out with the
    // release's policy, where one-off results are kept.
    job.set_priority(0);
    PF_RETURN_IF_ERROR(store_->Write({{kJobPrefix + s->job_id(), job.SerializeAsString()},
                                      {kNextSeqKey, std::to_string(seq)}},
                                     /*sync=*/true));
    next_seq_ = seq;
    AdoptJobLocked(job);
    ChangedLocked();
  }
  return job.status();
}

size_t Coordinator::QueuedOneOffsLocked() const {
  size_t queued = 0;
  for (const auto& [id, job] : jobs_) {
    queued += job.parent_job_id().empty() && job.status().one_off() &&
              job.status().state() == v1::JOB_STATE_QUEUED;
  }
  return queued;
}

absl::StatusOr<v1::JobStatus> Coordinator::GetJobStatus(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
  return JobStatusLocked(it->second);
}

absl::StatusOr<v1::AcquireResponse> Coordinator::Acquire(const v1::AcquireRequest& request) {
  // A hint: the first kMaxCachedManifests digests are looked at, the rest not.
  std::set<std::string> hinted;
  for (const std::string& d : request.cached_manifests()) {
    if (hinted.size() == kMaxCachedManifests) break;
    if (d.size() == std::tuple_size<Digest>::value) hinted.insert(d);
  }
  std::lock_guard<std::mutex> lock(mu_);
  PF_ASSIGN_OR_RETURN(WorkerState * seen, SeenLocked(request.worker_id()));
  WorkerState& worker = *seen;
  v1::AcquireResponse response;
  response.set_lease_seconds(absl::ToDoubleSeconds(options_.lease));
  if (worker.draining) {
    response.set_drain(true);
    return response;
  }
  std::set<std::string> held = worker.held;
  held.insert(hinted.begin(), hinted.end());
  const absl::Duration now = clock_->Monotonic();
  const int max_jobs = static_cast<int>(std::min<uint32_t>(request.max_jobs(), 64));
  size_t reply_bytes = 0;
  uint64_t sample_bytes = kSampleBytesPerAcquire;
  while (response.jobs_size() < max_jobs) {
    std::vector<std::string> popped = queue_.Pop(1, held);
    if (popped.empty()) break;
    const std::string& id = popped[0];
    auto found = jobs_.find(id);
    // Dropped meanwhile, or queued before its pair failed and was split anew:
    // a child of the new split is queued again when it may run.
    if (found == jobs_.end() || !RunnableLocked(found->second)) continue;
    v1::StoredJob& job = found->second;
    if (SplitsLocked(job)) {
      v1::StoredJob split = job;
      absl::StatusOr<bool> status = SplitLocked(&split, &sample_bytes);
      if (!status.ok()) {
        FailAttemptLocked(&job,
                          absl::StrCat("splitting into segments: ", status.status().message()),
                          /*for_good=*/false, kHandOutRetryDelay);
        continue;
      }
      if (*status) {
        job = std::move(split);
        continue;  // Its segments are queued in its place.
      }
    }
    auto old_manifest = ManifestLocked(job.old_manifest_digest());
    auto new_manifest = ManifestLocked(job.new_manifest_digest());
    if (!old_manifest.ok() || !new_manifest.ok()) {
      FailAttemptLocked(&job, "manifest missing in the coordinator's store", /*for_good=*/false,
                        kHandOutRetryDelay);
      continue;
    }
    v1::Job out = JobForWorkerLocked(job, **old_manifest, **new_manifest);
    const size_t out_bytes = out.ByteSizeLong();
    if (out_bytes > kMaxJobMessageBytes) {
      FailAttemptLocked(&job,
                        absl::StrCat("the job's manifests make a message of ", out_bytes,
                                     " bytes, over the farm's limit"),
                        /*for_good=*/true);
      continue;
    }
    if (reply_bytes > 0 && reply_bytes + out_bytes > kMaxAcquireReplyBytes) {
      QueueLocked(job);  // For this worker's next call, or another's.
      break;
    }
    reply_bytes += out_bytes;
    job.set_lease_id(options_.lease_ids());
    job.mutable_status()->set_state(v1::JOB_STATE_LEASED);
    job.mutable_status()->set_worker_id(request.worker_id());
    leases_[id] = Lease{request.worker_id(), job.lease_id(), now + options_.lease};
    worker.jobs.insert(id);
    LogLocked(absl::StrCat("event=job_leased job=", id, " from=", job.status().from_version(),
                           " to=", job.status().to_version(), " worker=", request.worker_id()));
    // Not the lease id: with the worker id it completes or fails the job.
    // If this write fails the job is still leased in memory; an unfinished
    // lease runs out and the job is queued again.
    PersistJobLocked(job, false).IgnoreError();
    out.set_lease_id(job.lease_id());
    *response.add_jobs() = std::move(out);
  }
  if (response.jobs_size() > 0) ChangedLocked();
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request) {
  if (request.job_ids_size() > kMaxHeldJobs) {
    return absl::InvalidArgumentError(
        absl::StrCat("a heartbeat names at most ", kMaxHeldJobs, " jobs"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  PF_ASSIGN_OR_RETURN(WorkerState * seen, SeenLocked(request.worker_id()));
  if (request.lease_ids_size() != request.job_ids_size()) {  // A worker from before lease ids.
    return absl::InvalidArgumentError("a heartbeat names the lease of each of its jobs");
  }
  WorkerState& worker = *seen;
  v1::HeartbeatResponse response;
  response.set_drain(worker.draining);
  const absl::Duration now = clock_->Monotonic();
  for (int i = 0; i < request.job_ids_size(); ++i) {
    const std::string& id = request.job_ids(i);
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.worker_id != request.worker_id()) {
      response.add_lost_job_ids(id);
      worker.jobs.erase(id);
      continue;
    }
    // Only its holder knows the lease id: a worker id alone (which anyone
    // with a worker token may send) keeps no job alive.
    if (it->second.lease_id != request.lease_ids(i)) {
      response.add_lost_job_ids(id);
      continue;
    }
    it->second.expiry = now + options_.lease;
  }
  return response;
}

absl::StatusOr<uint64_t> Coordinator::CheckResult(const v1::StoredJob& job,
                                                  const v1::StoredManifest& old_manifest,
                                                  const v1::StoredManifest& new_manifest,
                                                  const Digest& package_digest) const {
  absl::StatusOr<std::string> path = blobs_->PathOf(package_digest);
  if (!path.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("package ", DigestToHex(package_digest), " is not uploaded"));
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> package, FileSource::Open(*path));
  PF_ASSIGN_OR_RETURN(Manifest old_entries, FromProto(old_manifest.entries()));
  PF_ASSIGN_OR_RETURN(Manifest new_entries, FromProto(new_manifest.entries()));
  if (!job.parent_job_id().empty()) {  // An index or segment job of a file pair.
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_entries, new_entries, job.split_path()));
    if (job.index_end() > 0) {
      PF_RETURN_IF_ERROR(CheckIndexResult(job, files.first, *package));
    } else {
      PF_RETURN_IF_ERROR(CheckSegmentResult(job, files.first, files.second, *package));
    }
    return package->size();
  }
  if (job.kind() == v1::RELEASE_KIND_FILE) {
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_entries, new_entries, ""));
    PF_RETURN_IF_ERROR(CheckFilePatchBinding(*package, files.first, files.second));
  } else {
    Digest new_digest{};
    PF_RETURN_IF_ERROR(ParseDigest(job.new_manifest_digest(), &new_digest));
    PF_RETURN_IF_ERROR(CheckPackageBinding(*package, old_entries, new_entries, new_digest));
  }
  return package->size();
}

absl::Status Coordinator::Complete(const v1::CompleteRequest& request) {
  Digest digest{};
  PF_RETURN_IF_ERROR(ParseDigest(request.package_digest(), &digest));
  const std::string& job_id = request.job_id();
  auto refuse = [&](absl::Status why) {
    LogLocked(absl::StrCat("event=result_refused job=", ShortPath(job_id), " worker=",
                           request.worker_id(), " error=\"", why.message(), "\""));
    return why;
  };
  // 1. The caller must hold the job's live lease.
  v1::StoredJob job;
  std::shared_ptr<const v1::StoredManifest> old_manifest, new_manifest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    PF_ASSIGN_OR_RETURN(WorkerState * worker, SeenLocked(request.worker_id()));
    (void)worker;
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", ShortPath(job_id)));
    if (it->second.status().state() == v1::JOB_STATE_DONE &&
        it->second.status().package_digest() == request.package_digest()) {
      return absl::OkStatus();  // The same result again (a retried call).
    }
    auto lease = leases_.find(job_id);
    if (lease == leases_.end() || lease->second.worker_id != request.worker_id() ||
        lease->second.lease_id != request.lease_id()) {
      return refuse(absl::FailedPreconditionError(
          absl::StrCat("job ", job_id, " is not leased to this worker")));
    }
    if (lease->second.checking) {  // Each check may cost up to a package's limits.
      return absl::AbortedError(absl::StrCat("a result of job ", job_id, " is being checked"));
    }
    job = it->second;
    PF_ASSIGN_OR_RETURN(old_manifest, ManifestLocked(job.old_manifest_digest()));
    PF_ASSIGN_OR_RETURN(new_manifest, ManifestLocked(job.new_manifest_digest()));
    lease->second.checking = true;
  }
  // 2. The package must be this job's result (read without the lock, by
  // kConcurrentResultChecks calls at most).
  const uint64_t removals_seen = blob_removals_;
  absl::StatusOr<uint64_t> size;
  const bool slot = TakeCheckSlot();
  if (slot) {
    size = CheckResult(job, *old_manifest, *new_manifest, digest);
    ReturnCheckSlot();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto checked = leases_.find(job_id);
      checked != leases_.end() && checked->second.lease_id == request.lease_id()) {
    checked->second.checking = false;
  }
  if (!slot) {  // The worker sends it again (it retries Unavailable) and keeps its lease.
    return absl::UnavailableError(absl::StrCat("job ", job_id, ": results are being checked; try again"));
  }
  if (absl::Status stored = CheckStillStoredLocked(removals_seen, {digest}); size.ok() && !stored.ok()) {
    size = stored;
  }
  if (!size.ok()) {
    return refuse(absl::Status(size.status().code(),
                               absl::StrCat("job ", job_id, ": ", size.status().message())));
  }
  // 3. Recorded if the lease did not move meanwhile.
  auto lease = leases_.find(job_id);
  if (lease == leases_.end() || lease->second.worker_id != request.worker_id() ||
      lease->second.lease_id != request.lease_id()) {
    return refuse(absl::FailedPreconditionError(
        absl::StrCat("job ", job_id, ": the lease ran out while the result was checked")));
  }
  auto recorded = jobs_.find(job_id);
  if (recorded == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", ShortPath(job_id)));
  v1::StoredJob done = recorded->second;
  v1::JobStatus* s = done.mutable_status();
  s->set_state(v1::JOB_STATE_DONE);
  s->set_worker_id(request.worker_id());
  s->set_package_digest(request.package_digest());
  s->set_package_size(*size);
  s->set_seconds(request.seconds() >= 0 && request.seconds() < 1e9 ? request.seconds() : 0);
  s->clear_error();
  PF_RETURN_IF_ERROR(PersistJobLocked(done, false));
  jobs_[job_id] = done;
  job_seconds_.Observe(s->seconds());
  package_bytes_.Observe(static_cast<double>(*size));
  queue_.Remove(job_id);
  leases_.erase(lease);
  WorkerState& worker = workers_[request.worker_id()];
  worker.jobs.erase(job_id);
  ++worker.done;
  worker.held.insert(done.old_manifest_digest());
  LogLocked(absl::StrCat("event=job_done job=", job_id, " from=", s->from_version(),
                         " to=", s->to_version(), " worker=", request.worker_id(),
                         " bytes=", *size, " seconds=", s->seconds()));
  if (!done.parent_job_id().empty()) SegmentFinishedLocked(done);
  if (done.segment_job_ids_size() > 0) DropExpiredLocked();  // The segments' results.
  ChangedLocked();
  return absl::OkStatus();
}

bool Coordinator::TakeCheckSlot() {
  std::unique_lock<std::mutex> slots(checks_mu_);
  const bool slot = check_ended_.wait_for(
      slots, absl::ToChronoMilliseconds(kResultCheckWait),
      [this] { return checks_running_ < kConcurrentResultChecks; });
  if (slot) ++checks_running_;
  return slot;
}

void Coordinator::ReturnCheckSlot() {
  {
    std::lock_guard<std::mutex> slots(checks_mu_);
    --checks_running_;
  }
  check_ended_.notify_one();
}

absl::StatusOr<v1::RejectResultResponse> Coordinator::RejectResult(
    const v1::RejectResultRequest& request) {
  Digest digest{};
  PF_RETURN_IF_ERROR(ParseDigest(request.package_digest(), &digest));
  const std::string& job_id = request.job_id();
  auto same_result = [&](const v1::StoredJob& job) -> absl::Status {
    if (job.status().state() != v1::JOB_STATE_DONE ||
        job.status().package_digest() != request.package_digest()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", ShortPath(job_id), "'s result is not package ", DigestToHex(digest),
          " (any more)"));
    }
    return absl::OkStatus();
  };
  v1::StoredJob job;
  std::shared_ptr<const v1::StoredManifest> old_manifest, new_manifest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", ShortPath(job_id)));
    job = it->second;
    if (!job.parent_job_id().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", ShortPath(job_id), " is part of a pair's job: reject that one"));
    }
    if (job.kind() != v1::RELEASE_KIND_TREE) {
      return absl::InvalidArgumentError(
          absl::StrCat("job ", ShortPath(job_id), " is not a tree job: only packages are checked"));
    }
    PF_RETURN_IF_ERROR(same_result(job));
    if (rebuilt_here_.count(request.package_digest()) != 0) {  // Checked once is enough.
      return absl::FailedPreconditionError(absl::StrCat(
          "job ", ShortPath(job_id), "'s package rebuilds its target here: the job stays done"));
    }
    PF_ASSIGN_OR_RETURN(old_manifest, ManifestLocked(job.old_manifest_digest()));
    PF_ASSIGN_OR_RETURN(new_manifest, ManifestLocked(job.new_manifest_digest()));
  }
  // The check reads blobs without the lock, as Complete's does; a blob
  // dropped meanwhile is an error (CheckStillStoredLocked).
  const uint64_t removals_seen = blob_removals_;
  if (!TakeCheckSlot()) {
    return absl::UnavailableError(
        absl::StrCat("job ", ShortPath(job_id), ": results are being checked; try again"));
  }
  absl::StatusOr<std::string> reason = [&]() -> absl::StatusOr<std::string> {
    PF_ASSIGN_OR_RETURN(std::string path, blobs_->PathOf(digest));
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> package, FileSource::Open(path));
    PF_ASSIGN_OR_RETURN(Manifest from, FromProto(old_manifest->entries()));
    PF_ASSIGN_OR_RETURN(Manifest to, FromProto(new_manifest->entries()));
    return WhyNotRebuilt(ShortPath(job_id), path, digest, *package, from, to,
                         [this](const Digest& d) { return blobs_->PathOf(d); });
  }();
  ReturnCheckSlot();
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(reason.status());
  PF_RETURN_IF_ERROR(CheckStillStoredLocked(removals_seen, {digest}));
  if (reason->empty()) {
    rebuilt_here_.insert(request.package_digest());
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", ShortPath(job_id), "'s package rebuilds its target here: the job stays done"));
  }
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", ShortPath(job_id)));
  PF_RETURN_IF_ERROR(same_result(it->second));
  // The job as it runs again: an attempt counted, its split jobs gone (a
  // re-split must not join their results again), written before memory
  // changes.
  v1::StoredJob redo = it->second;
  v1::JobStatus* s = redo.mutable_status();
  const std::string worker_id = s->worker_id();
  s->clear_package_digest();
  s->clear_package_size();
  s->clear_seconds();
  s->clear_worker_id();
  s->set_attempts(s->attempts() + 1);
  s->set_error(std::string(Utf8Prefix(
      EscapeControls(absl::StrCat("its package did not rebuild its target: ", *reason)),
      kMaxJobErrorBytes)));
  s->set_state(s->attempts() >= options_.max_attempts ? v1::JOB_STATE_FAILED
                                                      : v1::JOB_STATE_QUEUED);
  std::vector<std::string> children(redo.index_job_ids().begin(), redo.index_job_ids().end());
  children.insert(children.end(), redo.segment_job_ids().begin(), redo.segment_job_ids().end());
  redo.clear_index_job_ids();
  redo.clear_segment_job_ids();
  std::vector<StoreWrite> writes = {{kJobPrefix + job_id, redo.SerializeAsString()}};
  for (const std::string& child : children) {
    if (jobs_.count(child) != 0) writes.push_back({kJobPrefix + child, std::nullopt});
  }
  // The releases it made finished stay so (not others sharing the job).
  std::map<std::string, v1::StoredRelease> still_finished;
  for (const auto& [id, r] : releases_) {
    const bool lists =
        std::find(r.job_ids().begin(), r.job_ids().end(), job_id) != r.job_ids().end();
    const bool marked = std::find(r.rerun_job_ids().begin(), r.rerun_job_ids().end(), job_id) !=
                        r.rerun_job_ids().end();
    if (!lists || marked || !FinishedLocked(r)) continue;
    v1::StoredRelease copy = r;
    copy.add_rerun_job_ids(job_id);
    writes.push_back({kReleasePrefix + id, copy.SerializeAsString()});
    still_finished.emplace(id, std::move(copy));
  }
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/true));
  LogLocked(absl::StrCat("event=result_rejected job=", job_id, " worker=", worker_id,
                         " error=\"", EscapeControls(*reason), "\""));
  for (auto& [id, r] : still_finished) releases_[id] = std::move(r);
  for (const std::string& child : children) {  // Their blobs go as orphans.
    queue_.Remove(child);
    EndLeaseLocked(child);
    retry_at_.erase(child);
    jobs_.erase(child);
  }
  jobs_[job_id] = redo;
  if (s->state() == v1::JOB_STATE_QUEUED) QueueLocked(redo);
  LogLocked(absl::StrCat("event=", s->state() == v1::JOB_STATE_FAILED ? "job_failed" : "job_retry",
                         " job=", job_id, " from=", s->from_version(), " to=", s->to_version(),
                         " attempts=", s->attempts(), " error=\"", s->error(), "\""));
  ChangedLocked();
  v1::RejectResultResponse response;
  *response.mutable_job() = JobStatusLocked(redo);
  response.set_reason(*std::move(reason));
  return response;
}

void Coordinator::RequeueLocked(v1::StoredJob* job, absl::Duration delay) {
  job->mutable_status()->set_state(v1::JOB_STATE_QUEUED);
  job->mutable_status()->clear_worker_id();
  if (delay <= absl::ZeroDuration()) {
    QueueLocked(*job);
    return;
  }
  queue_.Remove(job->status().job_id());
  retry_at_[job->status().job_id()] = clock_->Monotonic() + delay;
}

v1::Job Coordinator::JobForWorkerLocked(const v1::StoredJob& job,
                                        const v1::StoredManifest& old_manifest,
                                        const v1::StoredManifest& new_manifest) const {
  v1::Job out;
  out.set_job_id(job.status().job_id());
  out.set_kind(job.kind());
  out.set_old_manifest_digest(job.old_manifest_digest());
  out.set_new_manifest_digest(job.new_manifest_digest());
  if (job.parent_job_id().empty() || job.split_path().empty()) {
    *out.mutable_old_manifest() = old_manifest.entries();
    *out.mutable_new_manifest() = new_manifest.entries();
  } else {
    *out.mutable_old_manifest() = PathEntries(old_manifest, job.split_path());
    *out.mutable_new_manifest() = PathEntries(new_manifest, job.split_path());
  }
  out.set_engine_format(kEngineFormat);
  DescribeSegmentsLocked(job, &out);
  return out;
}

void Coordinator::EndLeaseLocked(const std::string& job_id) {
  auto lease = leases_.find(job_id);
  if (lease == leases_.end()) return;
  if (auto worker = workers_.find(lease->second.worker_id); worker != workers_.end()) {
    worker->second.jobs.erase(job_id);
  }
  leases_.erase(lease);
}

void Coordinator::FailAttemptLocked(v1::StoredJob* job, const std::string& error,
                                    bool for_good, absl::Duration retry_delay) {
  v1::JobStatus* s = job->mutable_status();
  s->set_attempts(s->attempts() + 1);
  // Escaped (a worker's text is shown by status, submit --wait and request)
  // and cut whole: a cut inside a character makes a record Load cannot parse.
  s->set_error(std::string(Utf8Prefix(EscapeControls(error), kMaxJobErrorBytes)));
  leases_.erase(s->job_id());
  if (for_good || s->attempts() >= options_.max_attempts) {
    s->set_state(v1::JOB_STATE_FAILED);
    queue_.Remove(s->job_id());
  } else {
    RequeueLocked(job, retry_delay);
  }
  LogLocked(absl::StrCat("event=", s->state() == v1::JOB_STATE_FAILED ? "job_failed" : "job_retry",
                         " job=", s->job_id(), " from=", s->from_version(), " to=", s->to_version(),
                         " attempts=", s->attempts(), " error=\"", s->error(), "\""));
  PersistJobLocked(*job, false).IgnoreError();  // Reloaded as it was; retried then.
  if (s->state() == v1::JOB_STATE_FAILED && !job->parent_job_id().empty()) {
    SegmentFinishedLocked(*job);
  }
  ChangedLocked();
}

absl::Status Coordinator::Fail(const v1::FailRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_ASSIGN_OR_RETURN(WorkerState * worker, SeenLocked(request.worker_id()));
  auto lease = leases_.find(request.job_id());
  if (lease == leases_.end() || lease->second.worker_id != request.worker_id() ||
      lease->second.lease_id != request.lease_id()) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", ShortPath(request.job_id()), ": this worker no longer holds its lease"));
  }
  worker->jobs.erase(request.job_id());
  v1::StoredJob& job = jobs_[request.job_id()];
  if (request.hand_back() && request.error().empty()) {  // No attempt.
    leases_.erase(lease);
    RequeueLocked(&job);
    PF_RETURN_IF_ERROR(PersistJobLocked(job, false));
    ChangedLocked();
    return absl::OkStatus();
  }
  if (request.hand_back()) {
    // Handed back for a reason (no room here for its result): an attempt,
    // so that room never made fails the job, but tried again after a delay,
    // not at once by the next worker to ask.
    FailAttemptLocked(&job,
                      absl::StrCat(request.worker_id(), " (handed back): ",
                                   Utf8Prefix(request.error(), kMaxJobErrorBytes)),
                      /*for_good=*/false, kHandOutRetryDelay);
    return absl::OkStatus();
  }
  FailAttemptLocked(&job, absl::StrCat(request.worker_id(), ": ",
                                       Utf8Prefix(request.error(), kMaxJobErrorBytes)));
  return absl::OkStatus();
}

void Coordinator::ExpireLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  const absl::Duration now = clock_->Monotonic();
  std::vector<std::string> expired;
  for (const auto& [id, lease] : leases_) {
    if (lease.expiry < now) expired.push_back(id);
  }
  for (const std::string& id : expired) {
    ++lease_expiries_;
    std::string worker = leases_[id].worker_id;
    workers_[worker].jobs.erase(id);
    FailAttemptLocked(&jobs_[id],
                      absl::StrCat("lease expired: worker ", worker, " stopped heartbeating"));
  }
  bool requeued = false;
  for (auto it = retry_at_.begin(); it != retry_at_.end();) {
    if (it->second > now) {
      ++it;
      continue;
    }
    // Dropped meanwhile, or taken otherwise (a one-off request): as it is.
    auto job = jobs_.find(it->first);
    if (job != jobs_.end() && job->second.status().state() == v1::JOB_STATE_QUEUED) {
      QueueLocked(job->second);
      requeued = true;
    }
    it = retry_at_.erase(it);
  }
  if (requeued) ChangedLocked();
}

size_t Coordinator::QueueDepth(uint32_t priority) {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size(priority);
}

}  // namespace patchfarm
