#include "coordinator/coordinator.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/policy_proto_convert.h"
#include "coordinator/store_keys.h"
#include "core/release/version.h"
#include "common/file.h"
#include "core/tree/manifest.h"
#include "core/tree/result_binding.h"
#include "core/tree/tree_path.h"
#include "proto/patchfarm/v1/manifest_convert.h"

namespace patchfarm {
namespace {

using coordinator_keys::Hex;
using coordinator_keys::kJobPrefix;
using coordinator_keys::kManifestPrefix;
using coordinator_keys::kNextSeqKey;
using coordinator_keys::kPolicyPrefix;
using coordinator_keys::kReleasePrefix;
using coordinator_keys::ReleaseId;

std::string JobId(const std::string& old_digest, const std::string& new_digest) {
  return coordinator_keys::JobId(kEngineFormat, old_digest, new_digest);
}

}  // namespace

Coordinator::Coordinator(Store* store, BlobStore* blobs, const Clock* clock,
                         CoordinatorOptions options)
    : store_(store),
      blobs_(blobs),
      clock_(clock),
      options_(std::move(options)),
      dropper_(blobs, DefaultFileSystem(), [this](const std::string& line) { LogLocked(line); }) {
  static const SystemWallClock system_wall_clock;
  if (options_.wall_clock == nullptr) options_.wall_clock = &system_wall_clock;
}

absl::StatusOr<std::unique_ptr<Coordinator>> Coordinator::Create(Store* store, BlobStore* blobs,
                                                                 const Clock* clock,
                                                                 CoordinatorOptions options) {
  if (!options.lease_ids) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}() ^
                                                 (uint64_t{std::random_device{}()} << 32));
    options.lease_ids = [rng] { return (*rng)(); };
  }
  std::unique_ptr<Coordinator> c(new Coordinator(store, blobs, clock, options));
  PF_RETURN_IF_ERROR(c->Load());
  return c;
}

absl::Status Coordinator::Load() {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status parse = absl::OkStatus();
  PF_RETURN_IF_ERROR(store_->Scan(kReleasePrefix, [&](absl::string_view key, absl::string_view value) {
    v1::StoredRelease r;
    if (!r.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
      return false;
    }
    releases_[std::string(key.substr(sizeof(kReleasePrefix) - 1))] = std::move(r);
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  const double now = clock_->Now();
  PF_RETURN_IF_ERROR(store_->Scan(kJobPrefix, [&](absl::string_view key, absl::string_view value) {
    v1::StoredJob j;
    if (!j.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
      return false;
    }
    const std::string& id = j.status().job_id();
    if (j.status().state() == v1::JOB_STATE_QUEUED) {
      queue_.Push(id, j.priority(), j.seq(), j.old_manifest_digest());
    } else if (j.status().state() == v1::JOB_STATE_LEASED) {
      // Its worker may still finish it; if it stays silent the lease runs out.
      leases_[id] = Lease{j.status().worker_id(), j.lease_id(), now + options_.lease_seconds};
    }
    jobs_[id] = std::move(j);
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  PF_RETURN_IF_ERROR(store_->Scan(kPolicyPrefix, [&](absl::string_view key, absl::string_view value) {
    v1::PolicyRequest p;
    if (!p.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      parse = absl::DataLossError(absl::StrCat("unreadable record ", key));
      return false;
    }
    // Fields a record from before they existed lacks take the default.
    absl::StatusOr<Policy> policy = MergePolicy(options_.policy, p);
    if (!policy.ok()) {
      parse = absl::DataLossError(absl::StrCat("record ", key, ": ", policy.status().message()));
      return false;
    }
    policies_[p.product()] = *policy;
    return true;
  }));
  PF_RETURN_IF_ERROR(parse);
  PF_ASSIGN_OR_RETURN(std::optional<std::string> seq, store_->Get(kNextSeqKey));
  if (seq && !absl::SimpleAtoi(*seq, &next_seq_)) return absl::DataLossError("bad meta/next_seq");
  ApplyRetentionLocked("");  // The policies may have aged things out while it was down.
  return absl::OkStatus();
}

void Coordinator::ChangedLocked() {
  ++generation_;
  changed_.notify_all();
}

void Coordinator::WaitForChange(uint64_t* generation, double timeout_seconds) {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait_for(lock, std::chrono::duration<double>(timeout_seconds),
                    [&] { return generation_ != *generation; });
  *generation = generation_;
}

absl::StatusOr<std::shared_ptr<const v1::StoredManifest>> Coordinator::ManifestLocked(
    const std::string& digest) {
  auto it = manifests_.find(digest);
  if (it != manifests_.end()) return it->second;
  PF_ASSIGN_OR_RETURN(std::optional<std::string> value, store_->Get(kManifestPrefix + Hex(digest)));
  auto m = std::make_shared<v1::StoredManifest>();
  if (!value || !m->ParseFromString(*value)) {
    return absl::DataLossError(absl::StrCat("manifest ", Hex(digest), " missing or unreadable"));
  }
  manifests_[digest] = m;
  return std::shared_ptr<const v1::StoredManifest>(m);
}

absl::Status Coordinator::PersistJobLocked(const v1::StoredJob& job, bool sync) {
  return store_->Write({{kJobPrefix + job.status().job_id(), job.SerializeAsString()}}, sync);
}

v1::JobStatus Coordinator::JobStatusLocked(const v1::StoredJob& job) const { return job.status(); }

v1::ReleaseStatus Coordinator::ReleaseStatusLocked(const v1::StoredRelease& r) const {
  v1::ReleaseStatus s;
  s.set_release_id(ReleaseId(r.release()));
  *s.mutable_release() = r.release();
  s.set_intermediate(r.intermediate());
  s.set_kind(r.kind());
  s.set_manifest_digest(r.manifest_digest());
  s.set_total_size(r.total_size());
  *s.mutable_hotfix_files() = r.hotfix_files();
  for (const std::string& id : r.job_ids()) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) *s.add_jobs() = JobStatusLocked(it->second);
  }
  s.set_submitted_unix_seconds(r.submitted_unix_seconds());
  for (const std::string& id : r.chain_job_ids()) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) *s.add_chain_jobs() = JobStatusLocked(it->second);
  }
  s.set_full_package_size(r.full_package_size());
  s.set_full_package_digest(r.full_package_digest());
  return s;
}

v1::StoredJob Coordinator::NewJobLocked(const v1::StoredRelease& from, const v1::StoredRelease& to,
                                        uint32_t priority, uint64_t* seq) const {
  v1::StoredJob job;
  v1::JobStatus* s = job.mutable_status();
  s->set_job_id(JobId(from.manifest_digest(), to.manifest_digest()));
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
  if (job.status().state() == v1::JOB_STATE_QUEUED) {
    queue_.Push(id, job.priority(), job.seq(), job.old_manifest_digest());
  }
  jobs_[id] = std::move(job);
}

absl::StatusOr<v1::SubmitResponse> Coordinator::Submit(const v1::SubmitRequest& request) {
  v1::ReleaseKey key = request.release();
  if (key.channel().empty()) key.set_channel("stable");
  PF_RETURN_IF_ERROR(ValidateName("product", key.product()));
  PF_RETURN_IF_ERROR(ValidateName("platform", key.platform()));
  PF_RETURN_IF_ERROR(ValidateName("channel", key.channel()));
  PF_RETURN_IF_ERROR(ValidateName("version", key.version()));
  if (request.kind() != v1::RELEASE_KIND_FILE && request.kind() != v1::RELEASE_KIND_TREE) {
    return absl::InvalidArgumentError("release kind must be file or tree");
  }
  PF_ASSIGN_OR_RETURN(Manifest manifest, FromProto(request.manifest()));
  if (request.kind() == v1::RELEASE_KIND_FILE &&
      (manifest.size() != 1 || manifest[0].type != EntryType::kFile)) {
    return absl::InvalidArgumentError("a file release has exactly one file entry");
  }
  uint64_t total = 0;
  for (const ManifestEntry& e : manifest) {
    if (e.type != EntryType::kFile) continue;
    // The blob store holds only verified content, so the digest is the
    // content; the declared size must be the blob's too.
    absl::StatusOr<std::string> path = blobs_->PathOf(e.digest);
    if (!path.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "manifest: blob ", DigestToHex(e.digest), " of ", ShortPath(e.path), " is not uploaded"));
    }
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> blob, FileSource::Open(*path));
    if (blob->size() != e.size) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: size of ", ShortPath(e.path), " is ",
                                                     e.size, " but its blob holds ", blob->size(),
                                                     " bytes"));
    }
    total += e.size;
  }
  Digest digest = ManifestDigest(manifest);
  std::string raw_digest(reinterpret_cast<const char*>(digest.data()), digest.size());
  const std::string id = ReleaseId(key);

  std::lock_guard<std::mutex> lock(mu_);
  v1::SubmitResponse response;
  response.set_release_id(id);
  auto existing = releases_.find(id);
  if (existing != releases_.end()) {
    const v1::StoredRelease& r = existing->second;
    if (r.manifest_digest() != raw_digest || r.kind() != request.kind() ||
        r.intermediate() != request.intermediate()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "release ", id, " was submitted already with other content; use a new version"));
    }
    response.set_already_submitted(true);
    for (const std::string& job : r.job_ids()) response.add_job_ids(job);
    return response;
  }
  v1::StoredRelease release;
  *release.mutable_release() = key;
  release.set_intermediate(request.intermediate());
  release.set_kind(request.kind());
  release.set_manifest_digest(raw_digest);
  release.set_total_size(total);
  release.set_submitted_unix_seconds(NowUnixSeconds());
  uint64_t seq = next_seq_;
  release.set_seq(seq++);

  std::vector<StoreWrite> writes;
  // Written with every release that has it: cheap, and never lost to a failed write.
  auto stored = std::make_shared<v1::StoredManifest>();
  *stored->mutable_entries() = request.manifest();
  writes.push_back({kManifestPrefix + Hex(raw_digest), stored->SerializeAsString()});
  std::vector<PlannedRelease> candidates;
  const std::string prefix = absl::StrCat(key.product(), "/", key.platform(), "/", key.channel(), "/");
  for (auto it = releases_.lower_bound(prefix);
       it != releases_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.kind() != request.kind()) continue;
    candidates.push_back({it->first, it->second.release().version(), it->second.intermediate()});
  }
  const Policy& plan = PolicyForLocked(key.product());
  std::vector<v1::StoredJob> new_jobs;
  for (const std::string& from_id : PlanSources(plan, key.version(),
                                                request.intermediate(), candidates)) {
    const v1::StoredRelease& from = releases_.at(from_id);
    if (from.manifest_digest() == raw_digest) continue;  // Same content: no patch.
    std::string job_id = JobId(from.manifest_digest(), raw_digest);
    if (jobs_.count(job_id) == 0) {
      new_jobs.push_back(NewJobLocked(from, release, 1, &seq));
      writes.push_back({kJobPrefix + job_id, new_jobs.back().SerializeAsString()});
    }
    release.add_job_ids(job_id);
    response.add_job_ids(job_id);
  }
  writes.push_back({kReleasePrefix + id, release.SerializeAsString()});
  writes.push_back({kNextSeqKey, std::to_string(seq)});
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/true));
  // Stored: now the jobs may be leased.
  next_seq_ = seq;
  for (v1::StoredJob& job : new_jobs) AdoptJobLocked(std::move(job));
  manifests_[raw_digest] = stored;
  LogLocked(absl::StrCat("event=release_submitted release=", id, " jobs=", response.job_ids_size(),
                         " intermediate=", request.intermediate()));
  releases_[id] = std::move(release);
  ApplyRetentionLocked(key.product());
  ChangedLocked();
  return response;
}

absl::StatusOr<v1::ReleaseStatus> Coordinator::GetReleaseStatus(const std::string& release_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(release_id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", ShortPath(release_id)));
  return ReleaseStatusLocked(it->second);
}

absl::StatusOr<v1::GetManifestResponse> Coordinator::GetManifest(const std::string& release_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(release_id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", ShortPath(release_id)));
  PF_ASSIGN_OR_RETURN(std::shared_ptr<const v1::StoredManifest> manifest,
                      ManifestLocked(it->second.manifest_digest()));
  v1::GetManifestResponse response;
  response.set_kind(it->second.kind());
  *response.mutable_entries() = manifest->entries();
  return response;
}

absl::StatusOr<v1::HotfixResponse> Coordinator::AddHotfix(const v1::HotfixRequest& request) {
  v1::ReleaseKey key = request.release();
  if (key.channel().empty()) key.set_channel("stable");
  PF_ASSIGN_OR_RETURN(Manifest files, FromProto(request.files()));
  for (const ManifestEntry& e : files) {
    PF_RETURN_IF_ERROR(ValidateHotfixName(e.path));
    if (e.type != EntryType::kFile) {
      return absl::InvalidArgumentError(absl::StrCat("hotfix ", ShortPath(e.path), ": files only"));
    }
    absl::StatusOr<std::string> path = blobs_->PathOf(e.digest);
    if (!path.ok()) {
      return absl::FailedPreconditionError(absl::StrCat("blob of hotfix ", ShortPath(e.path), " is not uploaded"));
    }
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> blob, FileSource::Open(*path));
    if (blob->size() != e.size) {
      return absl::InvalidArgumentError(absl::StrCat("hotfix ", ShortPath(e.path), ": size ", e.size,
                                                     " but its blob holds ", blob->size(), " bytes"));
    }
  }
  const std::string id = ReleaseId(key);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", id));
  v1::StoredRelease updated = it->second;
  *updated.mutable_hotfix_files() = request.files();
  PF_RETURN_IF_ERROR(store_->Write({{kReleasePrefix + id, updated.SerializeAsString()}}, /*sync=*/true));
  it->second = std::move(updated);
  ChangedLocked();
  v1::HotfixResponse response;
  response.set_files(static_cast<uint32_t>(files.size()));
  return response;
}

v1::StatusResponse Coordinator::Status(const std::string& product) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const v1::StoredRelease*> list;
  for (const auto& [id, r] : releases_) {
    if (product.empty() || r.release().product() == product) list.push_back(&r);
  }
  std::sort(list.begin(), list.end(), [](const v1::StoredRelease* a, const v1::StoredRelease* b) {
    return a->seq() < b->seq();
  });
  v1::StatusResponse response;
  for (const v1::StoredRelease* r : list) *response.add_releases() = ReleaseStatusLocked(*r);
  if (!product.empty()) *response.mutable_policy() = PolicyToProto(PolicyForLocked(product));
  response.set_now_unix_seconds(NowUnixSeconds());
  return response;
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
  auto existing = jobs_.find(JobId(from->second.manifest_digest(), to->second.manifest_digest()));
  v1::StoredJob job = existing == jobs_.end() ? NewJobLocked(from->second, to->second, 0, &seq)
                                              : existing->second;
  v1::JobStatus* s = job.mutable_status();
  if (s->state() == v1::JOB_STATE_FAILED) {  // Asked again: try again.
    s->set_state(v1::JOB_STATE_QUEUED);
    s->set_attempts(0);
    s->clear_error();
  }
  if (s->state() == v1::JOB_STATE_QUEUED) {
    job.set_priority(0);
    s->set_one_off(true);
    PF_RETURN_IF_ERROR(store_->Write({{kJobPrefix + s->job_id(), job.SerializeAsString()},
                                      {kNextSeqKey, std::to_string(seq)}},
                                     /*sync=*/true));
    next_seq_ = seq;
    AdoptJobLocked(job);
    ChangedLocked();
  }
  return job.status();
}

absl::StatusOr<v1::JobStatus> Coordinator::GetJobStatus(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::NotFoundError(absl::StrCat("no job ", job_id));
  return it->second.status();
}

absl::StatusOr<Coordinator::WorkerState*> Coordinator::SeenLocked(const std::string& worker_id) {
  PF_RETURN_IF_ERROR(ValidateName("worker id", worker_id));
  const double now = clock_->Now();
  if (workers_.count(worker_id) == 0 && workers_.size() >= options_.max_workers) {
    for (auto it = workers_.begin(); it != workers_.end();) {
      bool stale = it->second.jobs.empty() && now - it->second.last_seen > 10 * options_.lease_seconds;
      it = stale ? workers_.erase(it) : std::next(it);
    }
    if (workers_.size() >= options_.max_workers) {
      return absl::ResourceExhaustedError(
          absl::StrCat("the coordinator already knows ", workers_.size(), " workers"));
    }
  }
  WorkerState& w = workers_[worker_id];
  w.last_seen = now;
  return &w;
}

absl::StatusOr<v1::AcquireResponse> Coordinator::Acquire(const v1::AcquireRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_ASSIGN_OR_RETURN(WorkerState * seen, SeenLocked(request.worker_id()));
  WorkerState& worker = *seen;
  v1::AcquireResponse response;
  response.set_lease_seconds(options_.lease_seconds);
  if (worker.draining) {
    response.set_drain(true);
    return response;
  }
  std::set<std::string> held = worker.held;
  for (const std::string& d : request.cached_manifests()) held.insert(d);
  const double now = clock_->Now();
  for (const std::string& id : queue_.Pop(std::min<uint32_t>(request.max_jobs(), 64), held)) {
    v1::StoredJob& job = jobs_[id];
    auto old_manifest = ManifestLocked(job.old_manifest_digest());
    auto new_manifest = ManifestLocked(job.new_manifest_digest());
    if (!old_manifest.ok() || !new_manifest.ok()) {
      FailAttemptLocked(&job, "manifest missing in the coordinator's store");
      continue;
    }
    job.set_lease_id(options_.lease_ids());
    job.mutable_status()->set_state(v1::JOB_STATE_LEASED);
    job.mutable_status()->set_worker_id(request.worker_id());
    leases_[id] = Lease{request.worker_id(), job.lease_id(), now + options_.lease_seconds};
    worker.jobs.insert(id);
    LogLocked(absl::StrCat("event=job_leased job=", id, " from=", job.status().from_version(),
                           " to=", job.status().to_version(), " worker=", request.worker_id(),
                           " lease=", job.lease_id()));
    // If this write fails the job is still leased in memory; an unfinished
    // lease runs out and the job is queued again.
    PersistJobLocked(job, false).IgnoreError();
    v1::Job* out = response.add_jobs();
    out->set_job_id(id);
    out->set_lease_id(job.lease_id());
    out->set_kind(job.kind());
    out->set_old_manifest_digest(job.old_manifest_digest());
    *out->mutable_old_manifest() = (*old_manifest)->entries();
    out->set_new_manifest_digest(job.new_manifest_digest());
    *out->mutable_new_manifest() = (*new_manifest)->entries();
    out->set_engine_format(kEngineFormat);
  }
  if (response.jobs_size() > 0) ChangedLocked();
  return response;
}

absl::StatusOr<v1::HeartbeatResponse> Coordinator::Heartbeat(const v1::HeartbeatRequest& request) {
  std::lock_guard<std::mutex> lock(mu_);
  PF_ASSIGN_OR_RETURN(WorkerState * seen, SeenLocked(request.worker_id()));
  WorkerState& worker = *seen;
  v1::HeartbeatResponse response;
  response.set_drain(worker.draining);
  const double now = clock_->Now();
  for (const std::string& id : request.job_ids()) {
    auto it = leases_.find(id);
    if (it == leases_.end() || it->second.worker_id != request.worker_id()) {
      response.add_lost_job_ids(id);
      worker.jobs.erase(id);
      continue;
    }
    it->second.expiry = now + options_.lease_seconds;
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
  if (job.kind() == v1::RELEASE_KIND_FILE) {
    if (old_entries.size() != 1 || new_entries.size() != 1) {
      return absl::InternalError("a file job's manifests hold one entry each");
    }
    PF_RETURN_IF_ERROR(CheckFilePatchBinding(*package, old_entries[0], new_entries[0]));
  } else {
    PF_RETURN_IF_ERROR(CheckPackageBinding(*package, old_entries, ManifestDigest(new_entries)));
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
    job = it->second;
    PF_ASSIGN_OR_RETURN(old_manifest, ManifestLocked(job.old_manifest_digest()));
    PF_ASSIGN_OR_RETURN(new_manifest, ManifestLocked(job.new_manifest_digest()));
  }
  // 2. The package must be this job's result (read without the lock).
  absl::StatusOr<uint64_t> size = CheckResult(job, *old_manifest, *new_manifest, digest);
  std::lock_guard<std::mutex> lock(mu_);
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
  v1::StoredJob done = jobs_.at(job_id);
  v1::JobStatus* s = done.mutable_status();
  s->set_state(v1::JOB_STATE_DONE);
  s->set_worker_id(request.worker_id());
  s->set_package_digest(request.package_digest());
  s->set_package_size(*size);
  s->set_seconds(request.seconds() >= 0 && request.seconds() < 1e9 ? request.seconds() : 0);
  s->clear_error();
  PF_RETURN_IF_ERROR(PersistJobLocked(done, false));
  jobs_[job_id] = done;
  queue_.Remove(job_id);
  leases_.erase(lease);
  WorkerState& worker = workers_[request.worker_id()];
  worker.jobs.erase(job_id);
  ++worker.done;
  worker.held.insert(done.old_manifest_digest());
  LogLocked(absl::StrCat("event=job_done job=", job_id, " from=", s->from_version(),
                         " to=", s->to_version(), " worker=", request.worker_id(),
                         " bytes=", *size, " seconds=", s->seconds()));
  ChangedLocked();
  return absl::OkStatus();
}

void Coordinator::RequeueLocked(v1::StoredJob* job) {
  job->mutable_status()->set_state(v1::JOB_STATE_QUEUED);
  job->mutable_status()->clear_worker_id();
  queue_.Push(job->status().job_id(), job->priority(), job->seq(), job->old_manifest_digest());
}

void Coordinator::FailAttemptLocked(v1::StoredJob* job, const std::string& error) {
  v1::JobStatus* s = job->mutable_status();
  s->set_attempts(s->attempts() + 1);
  s->set_error(error);
  leases_.erase(s->job_id());
  if (s->attempts() >= options_.max_attempts) {
    s->set_state(v1::JOB_STATE_FAILED);
    queue_.Remove(s->job_id());
  } else {
    RequeueLocked(job);
  }
  LogLocked(absl::StrCat("event=", s->state() == v1::JOB_STATE_FAILED ? "job_failed" : "job_retry",
                         " job=", s->job_id(), " from=", s->from_version(), " to=", s->to_version(),
                         " attempts=", s->attempts(), " error=\"", s->error(), "\""));
  PersistJobLocked(*job, false).IgnoreError();  // Reloaded as it was; retried then.
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
  if (request.hand_back()) {
    leases_.erase(lease);
    RequeueLocked(&job);
    PF_RETURN_IF_ERROR(PersistJobLocked(job, false));
    ChangedLocked();
    return absl::OkStatus();
  }
  FailAttemptLocked(&job, absl::StrCat(request.worker_id(), ": ", request.error().substr(0, 2000)));
  return absl::OkStatus();
}

void Coordinator::ExpireLeases() {
  std::lock_guard<std::mutex> lock(mu_);
  const double now = clock_->Now();
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
}

v1::WorkerInfo Coordinator::WorkerInfoLocked(const std::string& id, const WorkerState& w) const {
  v1::WorkerInfo info;
  info.set_worker_id(id);
  info.set_draining(w.draining);
  info.set_seconds_since_seen(clock_->Now() - w.last_seen);
  for (const std::string& job : w.jobs) info.add_job_ids(job);
  info.set_jobs_done(w.done);
  return info;
}

v1::ListWorkersResponse Coordinator::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  v1::ListWorkersResponse response;
  for (const auto& [id, w] : workers_) *response.add_workers() = WorkerInfoLocked(id, w);
  return response;
}

absl::StatusOr<v1::WorkerInfo> Coordinator::Drain(const std::string& worker_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return absl::NotFoundError(absl::StrCat("no worker ", worker_id));
  it->second.draining = true;
  LogLocked(absl::StrCat("event=worker_draining worker=", worker_id));
  ChangedLocked();
  return WorkerInfoLocked(worker_id, it->second);
}

Coordinator::Metrics Coordinator::GetMetrics() {
  std::lock_guard<std::mutex> lock(mu_);
  Metrics m;
  m.queued_one_off = queue_.size(0);
  m.queued_release = queue_.size(1);
  for (const auto& [id, job] : jobs_) {
    ++m.jobs_by_state[job.status().state()];
    if (job.status().state() == v1::JOB_STATE_DONE) {
      m.done_seconds.push_back(job.status().seconds());
      m.done_package_bytes.push_back(job.status().package_size());
    }
  }
  m.lease_expiries = lease_expiries_;
  m.blobs_dropped = dropper_.blobs_dropped();
  m.blob_bytes_dropped = dropper_.bytes_dropped();
  const double now = clock_->Now();
  m.workers_seen = workers_.size();
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen <= options_.lease_seconds) ++m.workers_connected;
  }
  return m;
}

size_t Coordinator::QueueDepth(uint32_t priority) {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size(priority);
}

}  // namespace patchfarm
