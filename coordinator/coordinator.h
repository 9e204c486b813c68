// The coordinator's logic, without gRPC: releases and their manifests,
// planning jobs per policy, the job queue, leases, retries and workers. State
// lives in a Store (RocksDB in production) and survives a restart: every
// unfinished job is resumed. The gRPC adapters (grpc_services.h) call these
// methods. Thread-safe (one mutex).
//
// Jobs are keyed by content: (old manifest digest, new manifest digest,
// engine format). A pair is never computed twice, whichever releases or
// requests ask for it. Job state changes are written without fsync (they
// survive a killed process; after power loss a finished job may run again,
// which is harmless); releases are written with fsync. Nothing is changed in
// memory before the write that records it has succeeded.
//
// Results are bound to jobs: a worker may complete only a job it holds a live
// lease on (worker id and lease id, which is random), and only with a package
// whose header names the job's old and new content
// (core/tree/result_binding.h); its size is read from the blob store. A
// refused result leaves the job as it was and logs event=result_refused.
//
// Huge file pairs (CoordinatorOptions::segment_bytes) are split when first
// acquired into index jobs (<job id>.i<k>, each a part of old's chunk index:
// core/delta/index_parts.h) and segment jobs (<job id>.s<k>, each a range of
// new, queued once every index job is done, with the index parts to join),
// which workers run at once in the pair's place; a lost worker loses only
// its part or segment. When every segment is done the pair's job is queued
// again as a join job, whose result is the pair's patch (one patch, method
// 6); the parts' and segments' results are dropped then. An index or segment
// job that fails for good fails the pair's job. A tree pair's job splits
// each file of the new tree over the size whose same-path old file differs
// (<job id>.e<n>.i<k> and .e<n>.s<k>, naming the file's path); when they are
// all done the tree job runs, with each file's segments to join into its
// block of the package.
//
// Retention (core/release/retention.h, coordinator_retention.cc): after each
// Submit and SetPolicy (and at start) the coordinator plans the chained
// patches its product's policy keeps that have no job yet, and drops the
// results of release jobs no policy keeps any more: their job records go
// and their package blobs leave the blob store (BlobDropper, logged as
// event=blob_dropped, counted in Metrics), unless any release's manifest,
// any hotfix or any other job still names the blob. One-off jobs' results
// are kept. Blobs that nothing names a week after they were written
// (uploads whose submit or Complete never came) are dropped too
// (DropOrphanBlobs, hourly).
#ifndef PATCHFARM_COORDINATOR_COORDINATOR_H_
#define PATCHFARM_COORDINATOR_COORDINATOR_H_

#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "coordinator/blob_dropper.h"
#include "coordinator/histogram.h"
#include "coordinator/job_queue.h"
#include "coordinator/manifest_cache.h"
#include "coordinator/planner.h"
#include "core/release/retention.h"
#include "core/tree/manifest.h"
#include "proto/patchfarm/v1/farm.pb.h"
#include "proto/patchfarm/v1/state.pb.h"
#include "storage/blob_store.h"
#include "storage/store.h"

namespace patchfarm {

inline constexpr uint32_t kEngineFormat = 2;  // Delta format v2 (predicted methods), tree package v1.
// A job sent to a worker takes at most this many bytes, the farm's 64 MiB
// message limit (farm.proto) less room for the rest of the answer: a tree's
// job carries both manifests, and a larger one is failed. An Acquire answer
// takes a second job only while all fit kMaxAcquireReplyBytes.
inline constexpr size_t kMaxJobMessageBytes = (size_t{64} << 20) - (size_t{64} << 10);
inline constexpr size_t kMaxAcquireReplyBytes = size_t{48} << 20;
// A job's stored error keeps at most this many bytes (whole UTF-8 characters).
inline constexpr size_t kMaxJobErrorBytes = 2000;
// What a worker's calls may name, checked before the coordinator's lock is
// taken: Acquire looks at this many cached manifests (a hint), a Heartbeat
// names at most as many jobs as a worker may run (its --jobs).
inline constexpr size_t kMaxCachedManifests = 1024;
inline constexpr int kMaxHeldJobs = 1024;
// Results (Complete) checked at once. Each reads its package's tables, up
// to the format's limits for a hostile one: more at once would only share
// the cores, and multiply that memory. Each result is checked by one call at
// a time; another call for it meanwhile gets Aborted.
inline constexpr int kConcurrentResultChecks = 2;
// How long a Complete waits for a check to end before it answers Unavailable
// (which workers retry, keeping their lease): well within their deadline.
inline constexpr absl::Duration kResultCheckWait = absl::Seconds(20);
// Hotfix files, and replacements, a release may have (each list): a release's
// record, and every status answer naming it, carries them, and each is a
// file of every publish. A million (the manifest limit) made 60 MB records
// and status answers past gRPC's message limit.
inline constexpr int kMaxHotfixFiles = 4096;
// And the bytes of their paths together (a replaced path may be 4 KiB long).
inline constexpr size_t kMaxHotfixPathBytes = size_t{1} << 20;
// One-off patches queued at once (they run ahead of release jobs): a new one
// past this is refused, so that requests cannot hold the releases back.
inline constexpr size_t kMaxQueuedOneOffs = 256;
// An Acquire reads at most this much of new files for samples that order the
// segments of the pairs it splits, under the coordinator's lock, which every
// heartbeat waits on (a disk that seeks takes about 10 ms a 64 KiB sample:
// a tree of 50 changed 8 GiB files in segments of 512 MiB would otherwise
// read 6,400 of them).
inline constexpr uint64_t kSampleBytesPerAcquire = uint64_t{32} << 20;
// A job the coordinator failed to hand out (its split could not be written,
// its manifest read) is held out of the queue this long: with workers
// asking five times a second, requeued at once it used up its attempts in
// under a second, and a passing fault failed it for good.
inline constexpr absl::Duration kHandOutRetryDelay = absl::Minutes(1);
// Blobs nothing names are removed once this old (DropOrphanBlobs, hourly).
inline constexpr absl::Duration kOrphanBlobAge = absl::Hours(24 * 7);

struct CoordinatorOptions {
  absl::Duration lease = absl::Seconds(30);  // A worker silent this long loses its jobs.
  // Lease ids (unguessable, so that one worker cannot complete another's
  // job). Default: a random 64-bit number from OpenSSL's RAND_bytes.
  std::function<uint64_t()> lease_ids;
  // Workers remembered at once; those silent for 10 lease periods with no
  // jobs are forgotten to make room. Default: 10,000.
  size_t max_workers = 10000;
  uint32_t max_attempts = 3;  // Failures (or lost leases) before a job fails.
  // Parsed release manifests kept in memory, in entries (about 300 bytes
  // each); the others are read from the store when needed
  // (coordinator/manifest_cache.h). Default: 1M (about 300 MB).
  uint64_t cached_manifest_entries = uint64_t{1} << 20;
  // File pairs whose new file is larger (a file release's, or a tree
  // release's file at the same path in both trees) are split into segment
  // jobs of about this many bytes of new (at most kMaxSegments: larger
  // files get larger segments), which workers run at once and a join job
  // makes one patch of (coordinator_segments.cc). 0: never split. Default: 0.
  uint64_t segment_bytes = 0;
  // A split pair's old file is indexed in parts of this many bytes (1 MiB
  // at least: less is taken as 1 MiB), one index job each. Default: 1 GiB
  // (DiffOptions::index_part_bytes).
  uint64_t index_part_bytes = uint64_t{1} << 30;
  Policy policy;  // For products without a policy of their own.
  // Gets one structured line ("event=... release=... job=...") per release,
  // job and worker event. Called with the coordinator's lock held: keep it
  // quick (a buffered write). Default: none.
  std::function<void(const std::string&)> log;
};

class Coordinator {
 public:
  // Loads the state in `store`; `blobs` holds uploaded files and packages.
  // `clock` dates releases (Now) and times leases (Monotonic).
  static absl::StatusOr<std::unique_ptr<Coordinator>> Create(Store* store, BlobStore* blobs,
                                                             const Clock* clock,
                                                             CoordinatorOptions options);

  // CI: registers a release (with its submit time) and plans its jobs: the
  // cumulative window, and any chained patch the policy keeps that has no
  // job yet. InvalidArgument for bad names or manifests; FailedPrecondition
  // if a file's blob was not uploaded; AlreadyExists for the same release
  // with other content.
  absl::StatusOr<v1::SubmitResponse> Submit(const v1::SubmitRequest& request);
  absl::StatusOr<v1::ReleaseStatus> GetReleaseStatus(const std::string& release_id);
  absl::StatusOr<v1::GetManifestResponse> GetManifest(const std::string& release_id);
  // Sets the fields of a product's policy that `request` sets (the others
  // keep their value; a product without a policy starts from
  // options.policy), stores it, and returns the policy in effect. A request
  // setting nothing changes nothing. InvalidArgument for a bad product name
  // or a field out of range (core/release/policy.h).
  absl::StatusOr<v1::PolicyResponse> SetPolicy(const v1::PolicyRequest& request);
  // Records the size and digest of a release's full package, as a publish
  // built it. NotFound for an unknown release; InvalidArgument for a digest
  // that is not 32 bytes.
  absl::Status RecordFullPackage(const v1::RecordFullPackageRequest& request);
  // Sets a release's hotfix: its files and its replacements of files of the
  // tree (both replacing earlier ones; none clears). NotFound for an unknown
  // release; InvalidArgument for names that are not flat file names, a
  // replacement that is not of a regular file of the release's tree (or a
  // file release); FailedPrecondition for blobs not uploaded.
  absl::StatusOr<v1::HotfixResponse> AddHotfix(const v1::HotfixRequest& request);
  // Every release of `product` (all if empty), oldest first, the wall
  // clock's time, and with a product its policy in effect.
  v1::StatusResponse Status(const std::string& product);

  // Developers: queues (ahead of release jobs) or finds the patch between two
  // stored releases. NotFound for unknown releases.
  absl::StatusOr<v1::JobStatus> RequestOneOff(const v1::OneOffRequest& request);
  absl::StatusOr<v1::JobStatus> GetJobStatus(const std::string& job_id);

  // Blocks until some job changes or `timeout` passes; `*generation` is the
  // caller's last seen value, updated.
  void WaitForChange(uint64_t* generation, double timeout_seconds);

  // Workers.
  absl::StatusOr<v1::AcquireResponse> Acquire(const v1::AcquireRequest& request);
  // Every worker call: InvalidArgument for a worker id that is not 1-128
  // bytes of [A-Za-z0-9._+-]; ResourceExhausted when max_workers are known.
  // Heartbeat renews the leases it names by job and lease id (InvalidArgument
  // unless each job has its lease id) and reports the others lost.
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  // Records a job's result. NotFound for an unknown job; FailedPrecondition
  // if this worker does not hold the job's live lease, or the package blob is
  // missing; PermissionDenied if the package is not this job's result
  // (another old or new side); DataLoss or InvalidArgument if it is not a
  // readable package; Aborted while another call's result for the job is
  // being checked; Unavailable if no check ended within kResultCheckWait. On error the job is unchanged. Completing a done job
  // again with the same package is OK.
  absl::Status Complete(const v1::CompleteRequest& request);
  // FailedPrecondition if the worker no longer holds the lease.
  absl::Status Fail(const v1::FailRequest& request);
  // Publishers: runs a done tree job again, counted as a failed attempt (so
  // failed for good after max_attempts), if its package, the one `request`
  // names, does not rebuild its new release from its old one's files
  // (core/tree/tree_apply.h WhyNotRebuilt, in a check slot as Complete's),
  // and logs event=result_rejected; a job split into segments is split
  // again (its split jobs and their results are dropped). The releases
  // listing it that were finished keep counting as finished for
  // publishing (StoredRelease.rerun_job_ids; JobStatus.rerun in their
  // status). NotFound for an unknown job; InvalidArgument for an index or
  // segment job, a file job or a digest that is not 32 bytes;
  // FailedPrecondition if the job's result
  // is not that package (any more) or if the package rebuilds its target
  // (the job stays done; such a package is not checked again); Unavailable
  // as Complete; the check's errors (a missing blob, I/O) and a failed
  // write leave the job as it was.
  absl::StatusOr<v1::RejectResultResponse> RejectResult(const v1::RejectResultRequest& request);
  // Requeues (or fails, after max_attempts) jobs whose lease ran out, and
  // the jobs held out of the queue whose retry delay has passed.
  void ExpireLeases();
  // Removes the blobs that nothing names (no release's manifest, hotfix or
  // full package, no job) and that did not change after `now - age`
  // (StoredBlob::changed: written, found by FindMissing, restored):
  // uploads whose submit, hotfix or Complete never came (a CI job that
  // failed after uploading, a result whose lease ran out meanwhile). Each is
  // logged as event=blob_dropped (with no job) and counted in Metrics.
  // Returns how many were removed. Nothing is removed if any manifest
  // cannot be read or there is no release; FailedPrecondition (logged as
  // event=blob_drop_refused), removing nothing, if they hold more than half
  // of the store's bytes (a database older than its blobs). The server runs
  // it hourly with kOrphanBlobAge. A Submit, AddHotfix or Complete that
  // checked its blobs before a removal checks them again under the lock.
  absl::StatusOr<uint64_t> DropOrphanBlobs(absl::Time now, absl::Duration age);

  v1::ListWorkersResponse ListWorkers();
  absl::StatusOr<v1::WorkerInfo> Drain(const std::string& worker_id);

  // Queue depth by priority (0 one-off, 1 release), for benchmarks and metrics.
  size_t QueueDepth(uint32_t priority);

  // What /metrics reports (coordinator/metrics_page.h).
  struct Metrics {
    size_t queued_one_off = 0;
    size_t queued_release = 0;
    std::map<v1::JobState, uint64_t> jobs_by_state;
    Histogram job_seconds;    // Worker time of jobs finished since start.
    Histogram package_bytes;  // Their packages' sizes.
    uint64_t lease_expiries = 0;
    size_t workers_seen = 0;       // Ever.
    size_t workers_connected = 0;  // Seen within a lease period.
    uint64_t blobs_dropped = 0;       // Since start: packages, orphans (DropOrphanBlobs).
    uint64_t blob_bytes_dropped = 0;
  };
  Metrics GetMetrics();

 private:
  // InvalidArgument unless `e` is a file whose blob is stored with its size
  // (FailedPrecondition if not uploaded).
  absl::Status CheckHotfixBlob(const ManifestEntry& e);
  struct Lease {
    std::string worker_id;
    uint64_t lease_id = 0;
    absl::Duration expiry;  // Clock::Monotonic() when it ends.
    bool checking = false;  // A Complete is checking its result (one at a time).
  };
  struct WorkerState {
    absl::Duration last_seen;  // Clock::Monotonic() at its last call.
    bool draining = false;
    std::set<std::string> jobs;
    std::set<std::string> held;  // Old manifest digests (raw) it worked on.
    uint64_t done = 0;
  };

  Coordinator(Store* store, BlobStore* blobs, const Clock* clock, CoordinatorOptions options);
  // The id of the job from manifest `old_digest` to `new_digest` under this
  // engine format (coordinator_keys::JobId).
  static std::string JobIdOf(const std::string& old_digest, const std::string& new_digest);
  absl::Status Load();
  // Whether every job of `r` is done, dropped (done before), or run again
  // after its package was refused while `r` was finished (rerun_job_ids):
  // as publishing sees it.
  bool FinishedLocked(const v1::StoredRelease& r) const;
  // The manifest stored under `digest`, from the cache or the store; with
  // `cache`, one read from the store is cached and a cached one becomes the
  // most recently used (a pass over every release's manifest does neither:
  // it would push out the ones jobs use).
  absl::StatusOr<std::shared_ptr<const v1::StoredManifest>> ManifestLocked(
      const std::string& digest, bool cache = true);
  absl::Status PersistJobLocked(const v1::StoredJob& job, bool sync);
  // `job`'s status as clients see it: with its split jobs counted.
  v1::JobStatus JobStatusLocked(const v1::StoredJob& job) const;
  v1::ReleaseStatus ReleaseStatusLocked(const v1::StoredRelease& release) const;
  // Creates (queued) or finds the job from release `from` to release `to`.
  // A new queued job from release `from` to release `to` (not yet stored nor
  // queued); `*seq` is the next sequence number, advanced.
  v1::StoredJob NewJobLocked(const v1::StoredRelease& from, const v1::StoredRelease& to,
                             uint32_t priority, uint64_t* seq) const;
  // Records `job` in memory (and queues it if queued), after it was stored.
  void AdoptJobLocked(v1::StoredJob job);
  // Checks that `package_digest` is the result of `job` (outside the lock).
  absl::StatusOr<uint64_t> CheckResult(const v1::StoredJob& job,
                                       const v1::StoredManifest& old_manifest,
                                       const v1::StoredManifest& new_manifest,
                                       const Digest& package_digest) const;
  // Marks `job` queued and queues it, or, with a `delay`, holds it out of
  // the queue until then (retry_at_, ExpireLeases).
  void RequeueLocked(v1::StoredJob* job, absl::Duration delay = absl::ZeroDuration());
  // One-off pairs queued (not their split jobs, nor release jobs asked for).
  size_t QueuedOneOffsLocked() const;
  // Puts a queued job in the queue if RunnableLocked (coordinator_jobs.cc).
  void QueueLocked(const v1::StoredJob& job);
  bool RunnableLocked(const v1::StoredJob& job) const;

  // Segments (coordinator_segments.cc).
  // True if `job` may hold file pairs to split into segment jobs now: a
  // pair's job (file or tree) whose new side exceeds the segment size.
  bool SplitsLocked(const v1::StoredJob& job) const;
  // Creates (stores and queues) the index and segment jobs of `*job`'s file
  // pair, or of each file of its tree pair over the segment size (same path,
  // other content); `*job` stays queued but out of the queue. Reuses those
  // already done. False, and `*job` unchanged, if there is none. Segments
  // queue costliest first, judged by samples of the new files, of which it
  // reads at most `*sample_bytes` (lessened by what it reads): with fewer
  // samples a segment as segments add up, and by offset past that.
  absl::StatusOr<bool> SplitLocked(v1::StoredJob* job, uint64_t* sample_bytes);
  // The queue places of the segments `ranges` (ranges of the new file
  // `new_digest`): the costliest-looking first, judged by `samples` samples
  // of its blob a segment.
  absl::StatusOr<std::vector<uint64_t>> SegmentQueuePartsLocked(
      const Digest& new_digest, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
      int samples);
  // True if the index or segment job `child` is one of its pair's current
  // split (not of an earlier one, before a failure and a retry).
  bool ListedLocked(const v1::StoredJob& child) const;
  // True if every segment job of the split pair `job` is done.
  bool SegmentsDoneLocked(const v1::StoredJob& job) const {
    return AllDoneLocked(job.segment_job_ids());
  }
  // True if every index job of the file pair of the segment job `segment` is
  // done.
  bool IndexDoneLocked(const v1::StoredJob& segment) const;
  // True if every job of `ids` (of the file pair at *path only, if given) is
  // done.
  bool AllDoneLocked(const google::protobuf::RepeatedPtrField<std::string>& ids,
                     const std::string* path = nullptr) const;
  // The Job a worker gets for `job`: its index or segment range (and the
  // index parts to join), or the segment results to join (per file, for a
  // tree pair's job).
  void DescribeSegmentsLocked(const v1::StoredJob& job, v1::Job* out) const;
  // After an index or segment job is done or failed for good: queues its
  // pair's segments (once every index job is done) or join (once every
  // segment is), or fails the pair.
  void SegmentFinishedLocked(const v1::StoredJob& child);
  // Checks a segment job's result: a whole segment (CheckSegment) of the
  // job's pair and range.
  static absl::Status CheckSegmentResult(const v1::StoredJob& job, const ManifestEntry& old_file,
                                         const ManifestEntry& new_file, const ByteSource& package);
  // Checks an index job's result: the index part of the job's old and range.
  static absl::Status CheckIndexResult(const v1::StoredJob& job, const ManifestEntry& old_file,
                                       const ByteSource& package);
  // Counts a failed attempt: requeues (after `retry_delay`, by
  // ExpireLeases), or fails the job for good (at once if `for_good`: an
  // attempt again would fail the same way).
  void FailAttemptLocked(v1::StoredJob* job, const std::string& error, bool for_good = false,
                         absl::Duration retry_delay = absl::ZeroDuration());
  // Forgets `job_id`'s lease, if any, and its worker's hold of it: the
  // worker learns at its next heartbeat that the job is gone.
  void EndLeaseLocked(const std::string& job_id);
  // The Job a worker gets for the queued `job` (lease id apart): an index or
  // segment job of a tree's file gets only that file and the directories
  // above it of each manifest, which is all it reads.
  v1::Job JobForWorkerLocked(const v1::StoredJob& job, const v1::StoredManifest& old_manifest,
                             const v1::StoredManifest& new_manifest) const;
  absl::StatusOr<WorkerState*> SeenLocked(const std::string& worker_id);
  v1::WorkerInfo WorkerInfoLocked(const std::string& id, const WorkerState& w) const;
  void ChangedLocked();

  // Retention (coordinator_retention.cc).
  const Policy& PolicyForLocked(const std::string& product) const;
  int64_t NowUnixSeconds() const;
  // The releases of `product` (every product if empty) by release line
  // (product/platform/channel/kind).
  std::map<std::string, std::vector<const v1::StoredRelease*>> LinesLocked(
      const std::string& product) const;
  std::vector<LineRelease> LineReleasesLocked(const std::vector<const v1::StoredRelease*>& line) const;
  // Plans (stores and queues) the chained patches that `product`'s policy
  // keeps for its newest formal versions and that have no job yet.
  absl::Status PlanChainLocked(const std::string& product);
  // Drops the jobs and package blobs no policy keeps (see the top comment),
  // and finishes drops a crash interrupted. Errors are logged.
  void DropExpiredLocked();
  // Plans and drops after a change to `product`'s releases or policy.
  void ApplyRetentionLocked(const std::string& product);
  // The digests of `wanted` that a job (but those of `ignored_jobs`), a
  // hotfix, a full package or a release's manifest names. An error (logged
  // as event=blob_drop_failed) if a manifest cannot be read.
  absl::StatusOr<std::set<Digest>> NamedLocked(const std::set<Digest>& wanted,
                                               const std::set<std::string>& ignored_jobs);
  // Blobs are checked without the lock, then named under it. If blobs were
  // removed since the check (`removals_seen` is blob_removals_ then),
  // FailedPrecondition naming the first of `digests` that is gone.
  absl::Status CheckStillStoredLocked(uint64_t removals_seen, const std::vector<Digest>& digests) const;
  // Removes the blobs of `candidates` that `referenced` does not name
  // (BlobDropper), counting the removal for CheckStillStoredLocked.
  std::vector<DropCandidate> DropBlobsLocked(const std::vector<DropCandidate>& candidates,
                                             const std::set<Digest>& referenced);
  // Logs `line` with its control bytes escaped (\xNN): one line whatever the
  // paths and errors it quotes hold.
  void LogLocked(const std::string& line);

  Store* store_;
  BlobStore* blobs_;
  const Clock* clock_;
  CoordinatorOptions options_;

  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t generation_ = 0;
  uint64_t next_seq_ = 1;
  uint64_t lease_expiries_ = 0;
  std::map<std::string, v1::StoredRelease> releases_;
  std::map<std::string, Policy> policies_;  // By product; others use options_.policy.
  std::map<std::string, v1::StoredJob> jobs_;
  ManifestCache manifests_;
  // Packages RejectResult found to rebuild their targets: not checked again.
  std::set<std::string> rebuilt_here_;
  std::map<std::string, Lease> leases_;  // By job id.
  // Queued jobs held out of the queue until then (kHandOutRetryDelay).
  std::map<std::string, absl::Duration> retry_at_;
  std::map<std::string, WorkerState> workers_;
  JobQueue queue_;
  BlobDropper dropper_;
  std::atomic<uint64_t> blob_removals_{0};  // Passes that removed blobs; read without the lock.
  // Results checked at once (CheckResult, without mu_): a hostile package
  // may take up to its format's limits to read (core/tree/package.h).
  // One of kConcurrentResultChecks slots, waiting up to kResultCheckWait:
  // false if none freed meanwhile. Each taken slot is returned once.
  bool TakeCheckSlot();
  void ReturnCheckSlot();
  std::mutex checks_mu_;
  std::condition_variable check_ended_;
  int checks_running_ = 0;
  // Jobs finished (Complete, and those done at Load): kept when retention
  // drops the jobs.
  Histogram job_seconds_{{0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800}};
  Histogram package_bytes_{{1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}};
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_COORDINATOR_H_
