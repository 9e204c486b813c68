// A farm worker: pulls up to `jobs` delta jobs at a time from the coordinator,
// fetches the blobs it lacks into a bounded local cache, runs the engine
// (core/delta for file releases, core/tree for trees), uploads the package and
// reports it. Segment jobs of a huge pair read old and new by ranged
// downloads instead (nothing cached) and report a segment; join jobs fetch
// the segments and report the pair's patch (core/delta/segments.h).
// Heartbeats keep its leases (every lease/3, answered within lease/6 but
// 2-10 s, or tried again a second later); a lost coordinator is retried with backoff;
// Stop() (SIGTERM) or a drain from the coordinator makes it finish the jobs
// it holds, report them (a result is retried for about a minute) and
// return. A job leased to it again while it runs (its lease ran out) runs
// anew; the earlier run's result is dropped.
#ifndef PATCHFARM_WORKER_WORKER_H_
#define PATCHFARM_WORKER_WORKER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "common/file.h"
#include "common/http_server.h"
#include "core/delta/bounded_diff.h"
#include "core/tree/tree_diff.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "storage/blob_store.h"
#include "storage/store.h"
#include "common/clock.h"
#include "worker/index_store.h"

namespace patchfarm {

// How long a computed result waits for room on the coordinator's disk (its
// uploads refused ResourceExhausted, --min-free-disk) before the job is
// handed back (an attempt, tried again after a delay): long enough for an
// operator to free space.
inline constexpr absl::Duration kFullDiskRetry = absl::Minutes(30);

struct WorkerOptions {
  std::string coordinator;  // host:port
  std::string cache_dir;
  int jobs = 2;             // Jobs at once.
  std::string worker_id;    // Default: hostname-pid-<4 random hex digits>.
  // The cache's bound: room is made before a job downloads (least recently
  // used first), so it is exceeded only by the blobs running jobs use.
  uint64_t cache_bytes = uint64_t{8} << 30;  // Default: 8 GiB.
  TreeDiffOptions diff;     // delta.threads: engine threads per job; delta.max_memory:
                            // a job's memory (file jobs above it are diffed bounded).
  bool index_cache = true;  // Keep indexes of old files in <cache>/index,
  uint64_t index_cache_bytes = uint64_t{4} << 30;  // up to this many bytes (default: 4 GiB).
  // Gets one line per job and event, after the worker's id
  // ("host-12: job 12ab...: 5123 bytes in 1.20 s"). Default: none.
  std::function<void(const std::string&)> log;
  std::string http_listen;  // If set, serves /metrics (Prometheus) here.
  std::string token_file;   // If set, its bearer token goes with every call.
  std::string tls_ca_file, tls_cert_file, tls_key_file;  // TLS to the coordinator.
  const Clock* clock = &SystemClock();  // Times jobs and paces retries.
};

class Worker {
 public:
  static absl::StatusOr<std::unique_ptr<Worker>> Create(WorkerOptions options);
  ~Worker();

  // Works until Stop() or a drain, then finishes held jobs and returns.
  absl::Status Run();
  void Stop() { stop_ = true; }
  const std::string& id() const { return options_.worker_id; }
  // The Prometheus text of /metrics.
  std::string MetricsText();
  // The HTTP address bound ("" without http_listen).
  std::string http_address() const { return http_ ? http_->address() : ""; }

 private:
  struct Active {
    std::thread thread;
    std::set<Digest> blobs;  // Its files: kept in the cache while it runs,
    std::vector<BlobStore::Pin> pins;  // by these pins (and its result, if cached).
    uint64_t lease_id = 0;  // Named in heartbeats.
    std::atomic<bool> finished{false};
    std::atomic<bool> lost{false};
  };

  explicit Worker(WorkerOptions options) : options_(std::move(options)) {}
  void Execute(const v1::Job& job, Active* active);
  // Makes `call` (a download or an upload of `active`'s job, which resume
  // where they stopped) until it fails other than Unavailable, for about a
  // minute or until the job is lost: a coordinator restarting costs no job
  // an attempt. With `while_full`, also while it fails ResourceExhausted
  // (the coordinator's disk cannot take an upload), for up to
  // kFullDiskRetry unless the worker is stopping or draining: the result is
  // kept, not computed again.
  absl::Status RetryUnavailable(const Active& active, bool while_full,
                                const std::function<absl::Status()>& call) const;
  // Writes the job's package (a file patch or a tree package) to `out`.
  absl::Status Compute(const v1::Job& job, Active* active, ByteSink* out);
  // The engine's options for an index or segment job (its part size).
  DiffOptions SegmentOptions(const v1::Job& job) const;
  // An index job: the index part, reading old by ranges.
  absl::Status ComputeIndexPart(const v1::Job& job, const ManifestEntry& old_file,
                                ByteSink* out);
  // Joins the index parts a segment job names into the index cache, once per
  // set of parts; where they cannot be joined, logs why and leaves the
  // segment to index old itself. Errors of the downloads.
  absl::Status JoinIndexParts(const v1::Job& job, Active* active, const Digest& old_digest);
  // A segment job: the segment, reading old and new by ranges.
  absl::Status ComputeSegment(const v1::Job& job, Active* active, const ManifestEntry& old_file,
                              const ManifestEntry& new_file, ByteSink* out);
  // Blobs of the coordinator, fetched whole into the cache (pinned for the job).
  absl::StatusOr<std::vector<std::unique_ptr<FileSource>>> FetchWhole(
      const google::protobuf::RepeatedPtrField<std::string>& raw_digests, Active* active);
  // The patch joining the segments `digests` (of one file pair, in order),
  // fetched whole: a file pair's join job, or a split file of a tree pair's.
  absl::Status ComputeJoin(const google::protobuf::RepeatedPtrField<std::string>& digests,
                           Active* active, ByteSink* out);
  void HeartbeatLoop();
  void Log(const std::string& line);

  WorkerOptions options_;
  std::unique_ptr<BlobStore> cache_;
  std::unique_ptr<Store> index_db_;
  std::unique_ptr<StoreIndexStore> index_store_;
  // The chunk index of the old file its last bounded diff or segment job
  // used: the next segment jobs of that pair do not restore it again.
  ChunkIndexCache chunk_indexes_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> draining_{false};
  std::atomic<double> lease_seconds_{30};
  std::atomic<uint64_t> jobs_done_{0}, jobs_failed_{0}, blobs_cached_{0}, blobs_fetched_{0};
  std::atomic<uint64_t> bytes_uploaded_{0};
  std::unique_ptr<HttpServer> http_;
  std::mutex join_mu_;  // Held while index parts are joined.
  std::set<std::string> joined_indexes_;  // The parts joined (their digests), under join_mu_.

  std::mutex download_mu_;  // One download at a time: jobs often share blobs.
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Active>> active_;  // By job id.
  // Runs of jobs leased to this worker again while they ran (their lease had
  // run out): lost, joined once finished.
  std::vector<std::unique_ptr<Active>> retired_;
  // Old sides worked on, the most recent first, at most kHeldManifests: the
  // coordinator looks at the first 1024 an Acquire names.
  static constexpr size_t kHeldManifests = 1024;
  std::deque<std::string> held_manifests_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_WORKER_WORKER_H_
