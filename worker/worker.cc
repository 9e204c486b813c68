#include "worker/worker.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transfer/blob_transfer.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/spooled_source.h"
#include "common/status_macros.h"
#include "core/delta/bounded_diff.h"
#include "core/delta/diff_files.h"
#include "core/delta/index_parts.h"
#include "core/delta/segments.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_path.h"
#include "core/tree/result_binding.h"
#include "grpcpp/create_channel.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "storage/rocksdb_store.h"

namespace patchfarm {
namespace {

// Fails once `lost` is set (the job's lease went to another worker): the
// engine stops at its next write instead of finishing a result nobody takes.
class UnlessLost : public ByteSink {
 public:
  UnlessLost(ByteSink* out, const std::atomic<bool>* lost) : out_(out), lost_(lost) {}
  absl::Status Append(absl::string_view data) override {
    if (*lost_) return absl::CancelledError("the job's lease was lost");
    return out_->Append(data);
  }

 private:
  ByteSink* out_;
  const std::atomic<bool>* lost_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Worker>> Worker::Create(WorkerOptions options) {
  if (options.worker_id.empty()) {
    // A drain is kept per id, so each start is another worker: in a
    // container the pid is 1 and the hostname stays across restarts.
    char host[256] = "worker";
    gethostname(host, sizeof(host) - 1);
    std::random_device random;
    options.worker_id = absl::StrCat(host, "-", getpid(), "-",
                                     absl::Hex(random() & 0xffff, absl::kZeroPad4));
  }
  if (options.jobs < 1) return absl::InvalidArgumentError("--jobs must be at least 1");
  std::unique_ptr<Worker> w(new Worker(std::move(options)));
  PF_ASSIGN_OR_RETURN(w->cache_, BlobStore::Open(w->options_.cache_dir));
  if (w->options_.index_cache) {
    // Entries are written a piece at a time (kIndexPieceBytes): 16 MiB
    // memtables took a worker's peak on biome 2.5.4 -> 2.5.15 from 637-659
    // to 553-571 MiB (bench/worker_memory.sh).
    RocksDbStore::Options index_db;
    index_db.compress = false;
    index_db.write_buffer_bytes = 16 << 20;
    PF_ASSIGN_OR_RETURN(w->index_db_,
                        RocksDbStore::Open(w->options_.cache_dir + "/index", index_db));
    PF_ASSIGN_OR_RETURN(w->index_store_,
                        StoreIndexStore::Open(w->index_db_.get(), /*max_entry_bytes=*/uint64_t{1} << 30,
                                              w->options_.index_cache_bytes));
    w->options_.diff.delta.index_store = w->index_store_.get();
    w->options_.diff.delta.chunk_index_cache = &w->chunk_indexes_;
  }
  ChannelOptions channel;
  if (!w->options_.token_file.empty()) {
    PF_ASSIGN_OR_RETURN(channel.token, ReadTokenFile(w->options_.token_file));
  }
  PF_RETURN_IF_ERROR(LoadTlsFiles(w->options_.tls_ca_file, w->options_.tls_cert_file,
                                  w->options_.tls_key_file, &channel));
  w->channel_ = MakeChannel(w->options_.coordinator, channel);
  if (!w->options_.http_listen.empty()) {
    Worker* raw = w.get();
    PF_ASSIGN_OR_RETURN(w->http_, HttpServer::Start(w->options_.http_listen,
                                                    {{"/metrics", [raw] {
                                                        return HttpResponse{
                                                            200, "text/plain; version=0.0.4; charset=utf-8",
                                                            raw->MetricsText()};
                                                      }}}));
  }
  w->workers_ = v1::WorkerService::NewStub(w->channel_);
  w->blobs_ = v1::BlobService::NewStub(w->channel_);
  return w;
}

Worker::~Worker() {
  std::map<std::string, std::unique_ptr<Active>> active;
  {
    std::lock_guard<std::mutex> lock(mu_);
    active.swap(active_);
  }
  for (auto& [id, a] : active) {
    if (a->thread.joinable()) a->thread.join();
  }
}

std::string Worker::MetricsText() {
  size_t active = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, a] : active_) active += !a->finished;
  }
  uint64_t hits = index_store_ ? index_store_->hits() + chunk_indexes_.hits() : 0;
  uint64_t misses = index_store_ ? index_store_->misses() : 0;
  uint64_t evicted = index_store_ ? index_store_->evicted() : 0;
  uint64_t index_bytes = index_store_ ? index_store_->bytes() : 0;
  return absl::StrCat(
      "# HELP patchfarm_worker_jobs_active Jobs running now.\n"
      "# TYPE patchfarm_worker_jobs_active gauge\npatchfarm_worker_jobs_active ", active, "\n",
      "# HELP patchfarm_worker_jobs_total Jobs finished, by result.\n"
      "# TYPE patchfarm_worker_jobs_total counter\n"
      "patchfarm_worker_jobs_total{result=\"done\"} ", jobs_done_.load(), "\n",
      "patchfarm_worker_jobs_total{result=\"failed\"} ", jobs_failed_.load(), "\n",
      "# HELP patchfarm_worker_blob_cache_total Blobs a job needed, found in the cache or fetched.\n"
      "# TYPE patchfarm_worker_blob_cache_total counter\n"
      "patchfarm_worker_blob_cache_total{result=\"hit\"} ", blobs_cached_.load(), "\n",
      "patchfarm_worker_blob_cache_total{result=\"miss\"} ", blobs_fetched_.load(), "\n",
      "# HELP patchfarm_worker_index_cache_total Indexes of old files (suffix arrays, chunk\n"
      "# indexes) loaded from the index cache (or the chunk index kept in memory) or built.\n"
      "# TYPE patchfarm_worker_index_cache_total counter\n"
      "patchfarm_worker_index_cache_total{result=\"hit\"} ", hits, "\n",
      "patchfarm_worker_index_cache_total{result=\"miss\"} ", misses, "\n",
      "# HELP patchfarm_worker_index_cache_evicted_total Indexes evicted (least recently used).\n"
      "# TYPE patchfarm_worker_index_cache_evicted_total counter\n"
      "patchfarm_worker_index_cache_evicted_total ", evicted, "\n",
      "# HELP patchfarm_worker_index_cache_bytes Bytes of indexes kept.\n"
      "# TYPE patchfarm_worker_index_cache_bytes gauge\n"
      "patchfarm_worker_index_cache_bytes ", index_bytes, "\n",
      "# HELP patchfarm_worker_bytes_uploaded_total Package bytes produced.\n"
      "# TYPE patchfarm_worker_bytes_uploaded_total counter\n"
      "patchfarm_worker_bytes_uploaded_total ", bytes_uploaded_.load(), "\n");
}

void Worker::Log(const std::string& line) {
  if (options_.log) options_.log(absl::StrCat(options_.worker_id, ": ", line));
}

DiffOptions Worker::SegmentOptions(const v1::Job& job) const {
  DiffOptions delta = options_.diff.delta;
  if (job.index_part_bytes() > 0) delta.index_part_bytes = job.index_part_bytes();
  return delta;
}

absl::Status Worker::ComputeIndexPart(const v1::Job& job, const ManifestEntry& old_file,
                                      ByteSink* out) {
  RemoteBlobSource old_source(blobs_.get(), old_file.digest, old_file.size);
  PF_RETURN_IF_ERROR(
      MakeIndexPart(old_source, old_file.digest, job.index_begin(), SegmentOptions(job), out));
  Log(absl::StrCat("job ", job.job_id(), ": index part [", job.index_begin(), ", ",
                   job.index_end(), ") read ", old_source.bytes_read(), " bytes of old"));
  return absl::OkStatus();
}

absl::Status Worker::JoinIndexParts(const v1::Job& job, Active* active, const Digest& old_digest) {
  std::string parts;  // What identifies the parts: their digests.
  for (const std::string& digest : job.index_digests()) parts += digest;
  std::lock_guard<std::mutex> joining(join_mu_);
  if (joined_indexes_.count(parts) != 0) return absl::OkStatus();
  PF_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<FileSource>> files,
                      FetchWhole(job.index_digests(), active));
  std::vector<const ByteSource*> sources;
  for (const auto& file : files) sources.push_back(file.get());
  DiffOptions delta = SegmentOptions(job);
  delta.old_digest = old_digest;
  absl::Status joined = SaveJoinedIndex(sources, delta);
  if (!joined.ok()) {  // Costs this worker a read of old, not the job.
    Log(absl::StrCat("job ", job.job_id(), ": index parts not joined (", joined.message(),
                     "); indexing old here"));
    return absl::OkStatus();
  }
  joined_indexes_.insert(parts);
  return absl::OkStatus();
}

absl::Status Worker::ComputeSegment(const v1::Job& job, Active* active,
                                    const ManifestEntry& old_file, const ManifestEntry& new_file,
                                    ByteSink* out) {
  if (job.index_digests_size() > 0 && index_store_ != nullptr) {
    PF_RETURN_IF_ERROR(JoinIndexParts(job, active, old_file.digest));
  }
  RemoteBlobSource old_remote(blobs_.get(), old_file.digest, old_file.size);
  RemoteBlobSource new_remote(blobs_.get(), new_file.digest, new_file.size);
  SegmentSpec spec{old_file.digest, new_file.digest, job.segment_begin(), job.segment_end()};
  // Matching and then coding read the same ranges: the second time from disk.
  const uint64_t spool_bytes = 2 * (spec.end > spec.begin ? spec.end - spec.begin : 0);
  PF_ASSIGN_OR_RETURN(std::unique_ptr<SpooledSource> old_source,
                      SpooledSource::Create(&old_remote, options_.cache_dir, spool_bytes));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<SpooledSource> new_source,
                      SpooledSource::Create(&new_remote, options_.cache_dir, spool_bytes));
  PF_RETURN_IF_ERROR(
      DiffSegment(*old_source, *new_source, spec, options_.cache_dir, out, SegmentOptions(job)));
  Log(absl::StrCat("job ", job.job_id(), ": segment [", spec.begin, ", ", spec.end, ") read ",
                   old_remote.bytes_read(), " bytes of old and ", new_remote.bytes_read(),
                   " of new (", old_source->bytes_reread(), " and ",
                   new_source->bytes_reread(), " again from disk)"));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::unique_ptr<FileSource>>> Worker::FetchWhole(
    const google::protobuf::RepeatedPtrField<std::string>& raw_digests, Active* active) {
  std::vector<Digest> digests;
  for (const std::string& raw : raw_digests) {
    Digest digest{};
    PF_RETURN_IF_ERROR(ParseDigest(raw, &digest));
    digests.push_back(digest);
    std::lock_guard<std::mutex> lock(mu_);
    if (active->blobs.insert(digest).second) active->pins.push_back(cache_->PinBlob(digest));
  }
  std::vector<std::unique_ptr<FileSource>> files;
  for (const Digest& digest : digests) {
    {
      std::lock_guard<std::mutex> lock(download_mu_);
      PF_RETURN_IF_ERROR(RetryUnavailable(*active, /*while_full=*/false, [&] {
        return DownloadToStore(blobs_.get(), digest, cache_.get());
      }));
    }
    PF_ASSIGN_OR_RETURN(std::string path, cache_->PathOf(digest));
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> file, FileSource::Open(path));
    files.push_back(std::move(file));
  }
  return files;
}

absl::Status Worker::ComputeJoin(const google::protobuf::RepeatedPtrField<std::string>& digests,
                                 Active* active, ByteSink* out) {
  PF_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<FileSource>> files, FetchWhole(digests, active));
  std::vector<const ByteSource*> segments;
  for (const auto& file : files) segments.push_back(file.get());
  return JoinSegments(segments, options_.cache_dir, out, options_.diff.delta.level);
}

absl::Status Worker::Compute(const v1::Job& job, Active* active, ByteSink* out) {
  PF_ASSIGN_OR_RETURN(Manifest old_tree, FromProto(job.old_manifest()));
  PF_ASSIGN_OR_RETURN(Manifest new_tree, FromProto(job.new_manifest()));
  if (job.segment_end() > 0 || job.segment_digests_size() > 0 || job.index_end() > 0) {
    if (job.segment_digests_size() > 0 && job.kind() != v1::RELEASE_KIND_FILE) {
      return absl::InvalidArgumentError("a join job of a tree pair");
    }
    const std::string path = job.kind() == v1::RELEASE_KIND_FILE ? "" : job.split_path();
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_tree, new_tree, path));
    if (job.segment_digests_size() > 0) return ComputeJoin(job.segment_digests(), active, out);
    if (job.index_end() > 0) return ComputeIndexPart(job, files.first, out);
    return ComputeSegment(job, active, files.first, files.second, out);
  }
  // A tree pair's huge files were diffed by segment jobs: their joined
  // patches are given to the tree diff, and the files are not fetched.
  std::map<std::string, std::unique_ptr<ScratchFile>> joined;
  TreeDiffOptions diff = options_.diff;
  for (const v1::SplitFile& file : job.split_files()) {
    if (job.kind() != v1::RELEASE_KIND_TREE || joined.count(file.path()) != 0) {
      return absl::InvalidArgumentError("split files of a job that is not a tree pair's");
    }
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_tree, new_tree, file.path()));
    PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> patch,
                        ScratchFile::Create(options_.cache_dir));
    PF_RETURN_IF_ERROR(ComputeJoin(file.segment_digests(), active, patch.get()));
    PF_RETURN_IF_ERROR(CheckFilePatchBinding(*patch, files.first, files.second));
    diff.given_patches[file.path()] = patch.get();
    joined[file.path()] = std::move(patch);
  }
  std::map<Digest, uint64_t> sizes;  // This job's blobs.
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Manifest* m : {&old_tree, &new_tree}) {
      for (const ManifestEntry& e : *m) {
        if (e.type != EntryType::kFile || joined.count(e.path) != 0) continue;
        sizes[e.digest] = e.size;
        if (active->blobs.insert(e.digest).second) active->pins.push_back(cache_->PinBlob(e.digest));
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(download_mu_);
    // Room first, so that the cache stays within its bound while jobs run
    // (blobs that running jobs pinned stay).
    uint64_t missing = 0;
    for (const auto& [digest, size] : sizes) missing += cache_->Has(digest) ? 0 : size;
    if (missing > 0) {
      cache_->EvictTo(options_.cache_bytes > missing ? options_.cache_bytes - missing : 0, {})
          .IgnoreError();
    }
    for (const Digest& digest : active->blobs) {
      ++(cache_->Has(digest) ? blobs_cached_ : blobs_fetched_);
      PF_RETURN_IF_ERROR(RetryUnavailable(*active, /*while_full=*/false, [&] {
        return DownloadToStore(blobs_.get(), digest, cache_.get());
      }));
    }
  }
  FileLocator locate = [this](const ManifestEntry& e) {
    absl::StatusOr<std::string> path = cache_->PathOf(e.digest);
    return path.ok() ? *path : std::string("/nonexistent/blob");
  };
  if (job.kind() == v1::RELEASE_KIND_FILE) {
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_tree, new_tree, ""));
    DiffOptions delta = options_.diff.delta;
    delta.old_digest = files.first.digest;  // Its blob's name, checked when downloaded.
    return DiffFiles(locate(files.first), locate(files.second), options_.cache_dir, out, delta);
  }
  diff.scratch_dir = options_.cache_dir;
  return MakePackageFromManifests(old_tree, locate, new_tree, locate, diff, out);
}

absl::Status Worker::RetryUnavailable(const Active& active, bool while_full,
                                      const std::function<absl::Status()>& call) const {
  absl::Status status;
  double backoff = 0.5;
  const absl::Duration full_until = options_.clock->Monotonic() + kFullDiskRetry;
  for (int tries = 0; tries < 12;) {
    status = call();
    if (active.lost) return status;
    if (absl::IsUnavailable(status)) {
      ++tries;
    } else if (!while_full || !absl::IsResourceExhausted(status) || stop_ || draining_ ||
               options_.clock->Monotonic() >= full_until) {
      return status;  // A stopping worker hands the job back at once.
    }
    options_.clock->SleepFor(absl::Seconds(backoff));
    backoff = std::min(backoff * 2, absl::IsResourceExhausted(status) ? 60.0 : 8.0);
  }
  return status;
}

void Worker::Execute(const v1::Job& job, Active* active) {
  const absl::Duration start = options_.clock->Monotonic();
  // The package goes to a scratch file, not memory: a huge pair's patch may
  // exceed the job's memory.
  absl::StatusOr<std::unique_ptr<ScratchFile>> package = ScratchFile::Create(options_.cache_dir);
  absl::Status status = package.status();
  if (status.ok()) {
    UnlessLost output(package->get(), &active->lost);
    status = Compute(job, active, &output);
  }
  // Every result is sent from the scratch file. Parts that a join job
  // fetches whole (segments, index parts) go to the cache too, where a
  // worker joining them finds its own; no job reads other results here, and
  // copying a huge pair's joined patch into the cache cost a write, a sync
  // and a hash of all of it.
  const bool cached = job.segment_end() > 0 || job.index_end() > 0;
  bool no_room = false;  // The coordinator could not take the result.
  Digest digest{};
  uint64_t package_size = 0;
  if (status.ok()) {
    absl::StatusOr<Digest> hashed = HashSource(**package, &package_size);
    status = hashed.status();
    if (status.ok()) {
      digest = *hashed;
      if (cached) active->pins.push_back(cache_->PinBlob(digest));  // Kept until uploaded.
    }
  }
  if (status.ok() && cached) status = cache_->PutSource(**package, digest, package_size);
  if (status.ok()) {
    status = RetryUnavailable(*active, /*while_full=*/true, [&] {
      return UploadSourceIfMissing(blobs_.get(), digest, **package);
    });
    no_room = absl::IsResourceExhausted(status);
  }
  const double seconds = absl::ToDoubleSeconds(options_.clock->Monotonic() - start);
  if (active->lost) {
    Log(absl::StrCat("job ", job.job_id(), ": lease lost, result dropped"));
  } else if (status.ok()) {
    v1::CompleteRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_job_id(job.job_id());
    request.set_lease_id(job.lease_id());
    request.set_package_digest(DigestBytes(digest));
    request.set_package_size(package_size);
    request.set_seconds(seconds);
    v1::CompleteResponse response;
    absl::Status sent;
    // The result is worth retrying: for good, or while stopping for about a
    // minute (a coordinator restarting during a rolling drain).
    int tries = 0;
    for (double backoff = 0.2;; backoff = std::min(backoff * 2, 5.0)) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      sent = FromGrpcStatus(workers_->Complete(&context, request, &response));
      // Aborted: an earlier try is still being checked (its answer was lost).
      const bool again = sent.code() == absl::StatusCode::kUnavailable ||
                         sent.code() == absl::StatusCode::kAborted;
      if (!again || (stop_ && ++tries >= 15)) break;
      options_.clock->SleepFor(absl::Seconds(backoff));
    }
    ++(sent.ok() ? jobs_done_ : jobs_failed_);
    bytes_uploaded_ += package_size;
    Log(absl::StrCat("job ", job.job_id(), ": ", package_size, " bytes in ",
                     absl::StrFormat("%.2f", seconds), " s",
                     sent.ok() ? "" : absl::StrCat(" (report failed: ", sent.message(), ")")));
    std::lock_guard<std::mutex> lock(mu_);
    auto held = std::find(held_manifests_.begin(), held_manifests_.end(), job.old_manifest_digest());
    if (held != held_manifests_.end()) held_manifests_.erase(held);
    held_manifests_.push_front(job.old_manifest_digest());
    if (held_manifests_.size() > kHeldManifests) held_manifests_.pop_back();
  } else {
    v1::FailRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_job_id(job.job_id());
    request.set_lease_id(job.lease_id());
    request.set_error(std::string(Utf8Prefix(status.message(), 4000)));  // A string field.
    // A coordinator without room for the result: tried again after a delay,
    // not at once by the next worker (coordinator_jobs.cc, Fail).
    request.set_hand_back(no_room);
    v1::FailResponse response;
    for (int attempt = 0; attempt < 5; ++attempt) {  // Else the lease runs out.
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      if (workers_->Fail(&context, request, &response).error_code() != grpc::StatusCode::UNAVAILABLE) break;
      options_.clock->SleepFor(absl::Seconds(0.2 * (attempt + 1)));
    }
    ++jobs_failed_;
    Log(absl::StrCat("job ", job.job_id(), " failed: ", status.message()));
  }
  active->finished = true;
}

void Worker::HeartbeatLoop() {
  bool failed = false;  // The last heartbeat: tried again within a second.
  while (true) {
    for (int i = 0; i < (failed ? 1 : 10); ++i) {
      options_.clock->SleepFor(absl::Seconds(failed ? 1.0 : lease_seconds_ / 30));
      std::lock_guard<std::mutex> lock(mu_);
      if (active_.empty() && (stop_ || draining_)) return;
    }
    v1::HeartbeatRequest request;
    request.set_worker_id(options_.worker_id);
    std::map<std::string, const Active*> named;  // A job leased anew meanwhile is another run.
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, a] : active_) {
        if (a->finished) continue;
        request.add_job_ids(id);
        request.add_lease_ids(a->lease_id);
        named[id] = a.get();
      }
    }
    // Answered within a sixth of the lease (2-10 s), or tried again.
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(absl::Seconds(
                             std::max(2.0, std::min(10.0, lease_seconds_ / 6)))));
    v1::HeartbeatResponse response;
    failed = !workers_->Heartbeat(&context, request, &response).ok();
    if (failed) continue;
    if (response.drain()) draining_ = true;
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& id : response.lost_job_ids()) {
      auto it = active_.find(id);
      if (it != active_.end() && named[id] == it->second.get()) it->second->lost = true;
    }
  }
}

absl::Status Worker::Run() {
  Log(absl::StrCat("working for ", options_.coordinator, " with ", options_.jobs, " jobs at once"));
  std::thread heartbeat([this] { HeartbeatLoop(); });
  double backoff = 0.5;
  while (true) {
    std::vector<std::unique_ptr<Active>> done;
    size_t running = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = active_.begin(); it != active_.end();) {
        if (it->second->finished) {
          done.push_back(std::move(it->second));
          it = active_.erase(it);
        } else {
          ++it;
        }
      }
      for (auto it = retired_.begin(); it != retired_.end();) {
        if ((*it)->finished) {
          done.push_back(std::move(*it));
          it = retired_.erase(it);
        } else {
          ++it;
        }
      }
      running = active_.size() + retired_.size();
    }
    for (auto& a : done) a->thread.join();
    if (!done.empty()) {
      std::set<Digest> pinned;
      {
        std::lock_guard<std::mutex> lock(mu_);
        for (const auto& [id, a] : active_) pinned.insert(a->blobs.begin(), a->blobs.end());
        for (const auto& a : retired_) pinned.insert(a->blobs.begin(), a->blobs.end());
      }
      cache_->EvictTo(options_.cache_bytes, pinned).IgnoreError();
      // Downloads of lost jobs; file times are the wall clock's.
      cache_->DropStalePartials(absl::Now(), kStalePartialAge).IgnoreError();
    }
    if (stop_ || draining_) {
      if (running == 0) break;
      options_.clock->SleepFor(absl::Seconds(0.1));
      continue;
    }
    int free = options_.jobs - static_cast<int>(running);
    if (free <= 0) {
      options_.clock->SleepFor(absl::Seconds(0.05));
      continue;
    }
    v1::AcquireRequest request;
    request.set_worker_id(options_.worker_id);
    request.set_max_jobs(free);
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const std::string& d : held_manifests_) request.add_cached_manifests(d);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::AcquireResponse response;
    grpc::Status status = workers_->Acquire(&context, request, &response);
    if (!status.ok()) {
      Log(absl::StrCat("coordinator: ", status.error_message(), "; retrying in ", backoff, " s"));
      options_.clock->SleepFor(absl::Seconds(backoff));
      backoff = std::min(backoff * 2, 10.0);
      continue;
    }
    backoff = 0.5;
    lease_seconds_ = response.lease_seconds() > 0 ? response.lease_seconds() : 30;
    if (response.drain()) {
      Log("draining: finishing held jobs");
      draining_ = true;
      continue;
    }
    if (response.jobs_size() == 0) {
      options_.clock->SleepFor(absl::Seconds(0.2));
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const v1::Job& job : response.jobs()) {
      auto running_before = active_.find(job.job_id());
      if (running_before != active_.end()) {  // Its lease ran out, and it came back here.
        Log(absl::StrCat("job ", job.job_id(),
                         ": leased again while its earlier lease ran; that run is dropped"));
        running_before->second->lost = true;
        retired_.push_back(std::move(running_before->second));
        active_.erase(running_before);
      }
      auto active = std::make_unique<Active>();
      active->lease_id = job.lease_id();
      Active* raw = active.get();
      active->thread = std::thread([this, job, raw] { Execute(job, raw); });
      active_[job.job_id()] = std::move(active);
    }
  }
  heartbeat.join();
  Log("stopped");
  return absl::OkStatus();
}

}  // namespace patchfarm
