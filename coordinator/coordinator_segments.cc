// The coordinator's segment jobs (coordinator.h): huge file pairs (a file
// release's, or the big files of a tree release's) split into index jobs
// (parts of old's chunk index), then ranges of new that workers diff at once,
// and the join of their results (the patch of a file pair; for a tree pair,
// the tree job itself, which takes each file's joined patch as its block).
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_keys.h"
#include "core/delta/index_parts.h"
#include "core/delta/segments.h"
#include "core/delta/zstd_codec.h"
#include "core/tree/tree_path.h"
#include "core/tree/manifest.h"
#include "proto/patchfarm/v1/manifest_convert.h"

namespace patchfarm {

bool Coordinator::SplitsLocked(const v1::StoredJob& job) const {
  return options_.segment_bytes > 0 && job.parent_job_id().empty() &&
         job.segment_job_ids().empty() && job.status().new_size() > options_.segment_bytes;
}

namespace {

// A queued job of `job`'s pair, with id `id`, made as part of its split.
v1::StoredJob ChildJob(const v1::StoredJob& job, const std::string& id) {
  v1::StoredJob child;
  *child.mutable_status() = job.status();
  v1::JobStatus* s = child.mutable_status();
  s->set_job_id(id);
  s->set_state(v1::JOB_STATE_QUEUED);
  s->set_attempts(0);
  s->clear_error();
  s->clear_worker_id();
  child.set_kind(job.kind());
  child.set_old_manifest_digest(job.old_manifest_digest());
  child.set_new_manifest_digest(job.new_manifest_digest());
  child.set_priority(job.priority());
  child.set_seq(job.seq());
  child.set_parent_job_id(job.status().job_id());
  return child;
}

bool IsIndexJob(const v1::StoredJob& job) { return job.index_end() > 0; }

// A file pair that a job's split makes index and segment jobs of: the one
// file a side of a file pair's job (path empty), or a huge file of a tree
// pair's.
struct SplitPair {
  std::string path;
  ManifestEntry old_file, new_file;
};

// The pairs of `job`'s manifests to split at `segment_bytes`: a file pair's
// one pair; a tree pair's changed files of more than segment_bytes at the
// same path in both trees (a file moved or renamed is diffed by the tree job
// against its most similar old file, on one worker), unless the old tree
// holds the new content elsewhere (the package copies it).
absl::StatusOr<std::vector<SplitPair>> SplitPairs(const v1::StoredJob& job,
                                                  const v1::StoredManifest& old_manifest,
                                                  const v1::StoredManifest& new_manifest,
                                                  uint64_t segment_bytes) {
  PF_ASSIGN_OR_RETURN(Manifest old_tree, FromProto(old_manifest.entries()));
  PF_ASSIGN_OR_RETURN(Manifest new_tree, FromProto(new_manifest.entries()));
  std::vector<SplitPair> pairs;
  if (job.kind() == v1::RELEASE_KIND_FILE) {
    PF_ASSIGN_OR_RETURN(auto files, SplitFilePair(old_tree, new_tree, ""));
    pairs.push_back({"", files.first, files.second});
    return pairs;
  }
  std::set<Digest> old_contents;
  for (const ManifestEntry& e : old_tree) {
    if (e.type == EntryType::kFile) old_contents.insert(e.digest);
  }
  for (const ManifestEntry& e : new_tree) {
    if (e.type != EntryType::kFile || e.size <= segment_bytes) continue;
    const ManifestEntry* old = FindEntry(old_tree, e.path);
    if (old == nullptr || old->type != EntryType::kFile || old_contents.count(e.digest) != 0) {
      continue;
    }
    pairs.push_back({e.path, *old, e});
  }
  return pairs;
}

// Whether `child` (an index or segment job) diffs the pair at `path`.
bool OfPair(const v1::StoredJob& child, const std::string& path) {
  return child.split_path() == path;
}

constexpr uint64_t kMinIndexPartBytes = uint64_t{1} << 20;

// Segment jobs are handed out costliest first, so that the last ones to run
// are short: on an 8 GiB game pack with two workers, the segment that held
// code of several builds (18 s, against 1-4 s for most) was taken last and
// ran alone. The cost is guessed from kCostSamples pieces of 64 KiB spread
// over each segment of new: those that zstd's fastest level shrinks (code,
// text, raw assets) are what the engine spends its time on; fresh random or
// compressed bytes it stores at once.
constexpr int kCostSamples = 8;
constexpr uint64_t kCostPiece = uint64_t{64} << 10;

// Samples a segment for a split into `segments` segments in all, with
// `budget` bytes of samples left (kSampleBytesPerAcquire).
int CostSamples(uint64_t segments, uint64_t budget) {
  return static_cast<int>(std::min<uint64_t>(kCostSamples, budget / kCostPiece / segments));
}

// The queue places (1 first) of the segments `ranges` of `new_file`: by the
// count of their compressible samples (`samples` a segment, spread over it),
// most first, then by offset.
absl::StatusOr<std::vector<uint64_t>> QueueParts(
    const ByteSource& new_file, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
    int samples) {
  std::vector<int> compressible(ranges.size(), 0);
  std::string piece;
  for (size_t k = 0; k < ranges.size(); ++k) {
    const auto [begin, end] = ranges[k];
    if (end - begin < kCostPiece) continue;
    for (int i = 0; i < samples; ++i) {
      const uint64_t at = samples == 1 ? begin + (end - begin - kCostPiece) / 2
                                       : begin + (end - begin - kCostPiece) * i / (samples - 1);
      piece.resize(kCostPiece);
      PF_ASSIGN_OR_RETURN(size_t got, new_file.ReadAt(at, piece.data(), piece.size()));
      piece.resize(got);
      PF_ASSIGN_OR_RETURN(bool incompressible, Incompressible(piece));
      compressible[k] += !incompressible;
    }
  }
  std::vector<size_t> order(ranges.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return compressible[a] > compressible[b]; });
  std::vector<uint64_t> parts(ranges.size());
  for (size_t place = 0; place < order.size(); ++place) parts[order[place]] = place + 1;
  return parts;
}

}  // namespace

absl::StatusOr<bool> Coordinator::SplitLocked(v1::StoredJob* job, uint64_t* sample_bytes) {
  PF_ASSIGN_OR_RETURN(std::shared_ptr<const v1::StoredManifest> old_manifest,
                      ManifestLocked(job->old_manifest_digest()));
  PF_ASSIGN_OR_RETURN(std::shared_ptr<const v1::StoredManifest> new_manifest,
                      ManifestLocked(job->new_manifest_digest()));
  PF_ASSIGN_OR_RETURN(std::vector<SplitPair> pairs,
                      SplitPairs(*job, *old_manifest, *new_manifest, options_.segment_bytes));
  if (pairs.empty()) return false;
  const std::string& id = job->status().job_id();
  std::vector<v1::StoredJob> children;
  // A child done before a failure of another is kept (the same range).
  auto kept = [&](const std::string& child_id, const std::string& path, uint64_t begin,
                  uint64_t end) {
    auto existing = jobs_.find(child_id);
    if (existing == jobs_.end() || existing->second.status().state() != v1::JOB_STATE_DONE) {
      return false;
    }
    const v1::StoredJob& child = existing->second;
    if (!OfPair(child, path)) return false;
    return IsIndexJob(child) ? child.index_begin() == begin && child.index_end() == end &&
                                   child.index_part_bytes() == job->index_part_bytes()
                             : child.segment_begin() == begin && child.segment_end() == end;
  };
  job->set_index_part_bytes(std::max<uint64_t>(options_.index_part_bytes, kMinIndexPartBytes));
  auto segment_count = [&](uint64_t size) {
    return std::min<uint64_t>((size + options_.segment_bytes - 1) / options_.segment_bytes,
                              kMaxSegments);
  };
  uint64_t all_segments = 0;
  for (const SplitPair& pair : pairs) all_segments += segment_count(pair.new_file.size);
  const int samples = CostSamples(all_segments, *sample_bytes);
  *sample_bytes -= samples * all_segments * kCostPiece;
  std::vector<std::string> logs;
  for (size_t p = 0; p < pairs.size(); ++p) {
    const SplitPair& pair = pairs[p];
    // A file pair's children are <id>.i<k> and <id>.s<k>; a tree's, per file,
    // <id>.e<p>.i<k> and <id>.e<p>.s<k>.
    const std::string prefix = pair.path.empty() ? id : absl::StrCat(id, ".e", p);
    auto child_of = [&](const std::string& child_id) {
      v1::StoredJob child = ChildJob(*job, child_id);
      child.set_split_path(pair.path);
      return child;
    };
    const uint64_t size = pair.new_file.size;
    const uint64_t count = segment_count(size);
    const uint64_t step = (size + count - 1) / count;
    uint64_t k = 0;
    const int index_jobs_before = job->index_job_ids_size();
    for (const auto& [begin, end] : IndexPartRanges(pair.old_file.size, job->index_part_bytes())) {
      const std::string index_id = absl::StrCat(prefix, ".i", k++);
      job->add_index_job_ids(index_id);
      if (kept(index_id, pair.path, begin, end)) continue;
      v1::StoredJob index = child_of(index_id);
      index.set_index_begin(begin);
      index.set_index_end(end);
      index.set_index_part_bytes(job->index_part_bytes());
      children.push_back(std::move(index));
    }
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    for (uint64_t begin = 0; begin < size; begin += step) {
      ranges.push_back({begin, begin + std::min(step, size - begin)});
    }
    // Without a readable new (or a sample), the segments queue by offset.
    absl::StatusOr<std::vector<uint64_t>> queue_parts =
        samples > 0 ? SegmentQueuePartsLocked(pair.new_file.digest, ranges, samples)
                    : absl::ResourceExhaustedError(
                          absl::StrCat(all_segments, " segments, ", *sample_bytes / kCostPiece,
                                       " samples left for this Acquire"));
    if (!queue_parts.ok()) {
      LogLocked(absl::StrCat("event=segments_by_offset job=", id, " error=\"",
                             queue_parts.status().message(), "\""));
    }
    for (size_t s = 0; s < ranges.size(); ++s) {
      const auto [begin, end] = ranges[s];
      const std::string segment_id = absl::StrCat(prefix, ".s", s);
      job->add_segment_job_ids(segment_id);
      if (kept(segment_id, pair.path, begin, end)) continue;
      v1::StoredJob segment = child_of(segment_id);
      segment.mutable_status()->set_new_size(end - begin);
      segment.set_segment_begin(begin);
      segment.set_segment_end(end);
      if (queue_parts.ok()) segment.set_queue_part((*queue_parts)[s]);
      children.push_back(std::move(segment));
    }
    logs.push_back(absl::StrCat("event=job_split job=", id, " segments=", ranges.size(),
                                " segment_bytes=", step, " index_parts=",
                                job->index_job_ids_size() - index_jobs_before,
                                pair.path.empty() ? "" : " file=", pair.path));
  }
  std::vector<StoreWrite> writes;
  for (const v1::StoredJob& child : children) {
    writes.push_back({coordinator_keys::kJobPrefix + child.status().job_id(),
                      child.SerializeAsString()});
  }
  writes.push_back({coordinator_keys::kJobPrefix + id, job->SerializeAsString()});
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/false));
  jobs_[id] = *job;  // Segments look their pair's index jobs up when queued.
  for (v1::StoredJob& child : children) {
    const std::string child_id = child.status().job_id();
    EndLeaseLocked(child_id);  // A lease of an earlier split's job by this id.
    jobs_[child_id] = std::move(child);
    QueueLocked(jobs_[child_id]);
  }
  for (const std::string& line : logs) LogLocked(line);
  QueueLocked(*job);  // Joined at once if every segment was done already.
  return true;
}

absl::StatusOr<std::vector<uint64_t>> Coordinator::SegmentQueuePartsLocked(
    const Digest& new_digest, const std::vector<std::pair<uint64_t, uint64_t>>& ranges,
    int samples) {
  PF_ASSIGN_OR_RETURN(std::string path, blobs_->PathOf(new_digest));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> new_file, FileSource::Open(path));
  return QueueParts(*new_file, ranges, samples);
}

bool Coordinator::IndexDoneLocked(const v1::StoredJob& segment) const {
  auto parent = jobs_.find(segment.parent_job_id());
  return parent == jobs_.end() ||
         AllDoneLocked(parent->second.index_job_ids(), &segment.split_path());
}

bool Coordinator::AllDoneLocked(const google::protobuf::RepeatedPtrField<std::string>& ids,
                                const std::string* path) const {
  for (const std::string& id : ids) {
    auto it = jobs_.find(id);
    if (it != jobs_.end() && path != nullptr && !OfPair(it->second, *path)) continue;
    if (it == jobs_.end() || it->second.status().state() != v1::JOB_STATE_DONE) return false;
  }
  return true;
}

void Coordinator::DescribeSegmentsLocked(const v1::StoredJob& job, v1::Job* out) const {
  auto result_of = [this](const std::string& id) {
    auto it = jobs_.find(id);
    return it == jobs_.end() ? std::string() : it->second.status().package_digest();
  };
  out->set_split_path(job.split_path());
  if (IsIndexJob(job)) {
    out->set_index_begin(job.index_begin());
    out->set_index_end(job.index_end());
    out->set_index_part_bytes(job.index_part_bytes());
  } else if (!job.parent_job_id().empty()) {
    out->set_segment_begin(job.segment_begin());
    out->set_segment_end(job.segment_end());
    auto parent = jobs_.find(job.parent_job_id());
    if (parent != jobs_.end() && parent->second.index_job_ids_size() > 0) {
      out->set_index_part_bytes(parent->second.index_part_bytes());
      for (const std::string& id : parent->second.index_job_ids()) {
        auto index = jobs_.find(id);
        if (index != jobs_.end() && OfPair(index->second, job.split_path())) {
          out->add_index_digests(result_of(id));
        }
      }
    }
  }
  if (job.kind() == v1::RELEASE_KIND_FILE) {
    for (const std::string& id : job.segment_job_ids()) out->add_segment_digests(result_of(id));
    return;
  }
  // A tree pair's job: the segments of each split file, in order.
  for (const std::string& id : job.segment_job_ids()) {
    auto segment = jobs_.find(id);
    if (segment == jobs_.end()) continue;
    const std::string& path = segment->second.split_path();
    if (out->split_files_size() == 0 || out->split_files().rbegin()->path() != path) {
      out->add_split_files()->set_path(path);
    }
    out->mutable_split_files()->rbegin()->add_segment_digests(result_of(id));
  }
}

bool Coordinator::ListedLocked(const v1::StoredJob& child) const {
  auto parent = jobs_.find(child.parent_job_id());
  if (parent == jobs_.end()) return false;
  const auto& siblings =
      IsIndexJob(child) ? parent->second.index_job_ids() : parent->second.segment_job_ids();
  return std::find(siblings.begin(), siblings.end(), child.status().job_id()) != siblings.end();
}

void Coordinator::SegmentFinishedLocked(const v1::StoredJob& child) {
  auto parent = jobs_.find(child.parent_job_id());
  if (parent == jobs_.end() || parent->second.status().state() != v1::JOB_STATE_QUEUED) return;
  v1::StoredJob& job = parent->second;
  if (!ListedLocked(child)) return;
  if (child.status().state() == v1::JOB_STATE_FAILED) {
    job.mutable_status()->set_state(v1::JOB_STATE_FAILED);
    const std::string error = absl::StrCat(IsIndexJob(child) ? "index job " : "segment ",
                                           child.status().job_id(), ": ", child.status().error());
    job.mutable_status()->set_error(std::string(Utf8Prefix(error, kMaxJobErrorBytes)));
    job.clear_segment_job_ids();  // Asked again, it is split again.
    job.clear_index_job_ids();
    LogLocked(absl::StrCat("event=job_failed job=", job.status().job_id(),
                           " error=\"", job.status().error(), "\""));
    PersistJobLocked(job, false).IgnoreError();
  } else if (IsIndexJob(child)) {
    const std::string& path = child.split_path();
    if (!AllDoneLocked(job.index_job_ids(), &path)) return;
    LogLocked(absl::StrCat("event=job_indexed job=", job.status().job_id(),
                           path.empty() ? "" : " file=", path));
    for (const std::string& id : job.segment_job_ids()) {
      auto segment = jobs_.find(id);
      if (segment != jobs_.end() && OfPair(segment->second, path)) QueueLocked(segment->second);
    }
  } else if (SegmentsDoneLocked(job)) {
    LogLocked(absl::StrCat("event=job_join_queued job=", job.status().job_id()));
    QueueLocked(job);
  }
}

absl::Status Coordinator::CheckIndexResult(const v1::StoredJob& job, const ManifestEntry& old_file,
                                           const ByteSource& package) {
  PF_ASSIGN_OR_RETURN(IndexPartHeader header, ReadIndexPartHeader(package));
  if (header.old_size != old_file.size || header.old_digest != old_file.digest) {
    return absl::PermissionDeniedError("the index part is of another old file");
  }
  if (header.begin != job.index_begin() || header.end != job.index_end() ||
      header.part_bytes != job.index_part_bytes()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the index part is old[", header.begin, ", ", header.end, ") in parts of ",
        header.part_bytes, " bytes, not [", job.index_begin(), ", ", job.index_end(), ") in parts of ",
        job.index_part_bytes()));
  }
  return absl::OkStatus();
}

absl::Status Coordinator::CheckSegmentResult(const v1::StoredJob& job,
                                             const ManifestEntry& old_file,
                                             const ManifestEntry& new_file,
                                             const ByteSource& package) {
  PF_ASSIGN_OR_RETURN(SegmentHeader header, CheckSegment(package));
  if (header.old_size != old_file.size || header.old_digest != old_file.digest ||
      header.new_size != new_file.size || header.new_digest != new_file.digest) {
    return absl::PermissionDeniedError("the segment is of another pair of files");
  }
  if (header.begin != job.segment_begin() || header.end != job.segment_end()) {
    return absl::PermissionDeniedError(absl::StrCat("the segment makes [", header.begin, ", ",
                                                    header.end, ") of new, not [",
                                                    job.segment_begin(), ", ",
                                                    job.segment_end(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
