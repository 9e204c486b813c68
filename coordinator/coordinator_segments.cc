// The coordinator's segment jobs (coordinator.h): huge file pairs split into
// ranges of new that workers diff at once, and the join of their results.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "coordinator/store_keys.h"
#include "core/delta/segments.h"

namespace patchfarm {

bool Coordinator::SplitsLocked(const v1::StoredJob& job) const {
  return options_.segment_bytes > 0 && job.kind() == v1::RELEASE_KIND_FILE &&
         job.parent_job_id().empty() && job.segment_job_ids().empty() &&
         job.status().new_size() > options_.segment_bytes;
}

absl::Status Coordinator::SplitLocked(v1::StoredJob* job) {
  const uint64_t size = job->status().new_size();
  const uint64_t count = std::min<uint64_t>((size + options_.segment_bytes - 1) / options_.segment_bytes,
                                            kMaxSegments);
  const uint64_t step = (size + count - 1) / count;
  const std::string& id = job->status().job_id();
  std::vector<v1::StoredJob> segments;
  std::vector<StoreWrite> writes;
  for (uint64_t k = 0, begin = 0; begin < size; ++k, begin += step) {
    const std::string segment_id = absl::StrCat(id, ".s", k);
    job->add_segment_job_ids(segment_id);
    auto existing = jobs_.find(segment_id);
    if (existing != jobs_.end() && existing->second.status().state() == v1::JOB_STATE_DONE &&
        existing->second.segment_begin() == begin) {
      continue;  // Done before a failure of another segment: kept.
    }
    v1::StoredJob segment;
    *segment.mutable_status() = job->status();
    v1::JobStatus* s = segment.mutable_status();
    s->set_job_id(segment_id);
    s->set_state(v1::JOB_STATE_QUEUED);
    s->set_attempts(0);
    s->clear_error();
    s->clear_worker_id();
    s->set_new_size(std::min(step, size - begin));
    segment.set_kind(job->kind());
    segment.set_old_manifest_digest(job->old_manifest_digest());
    segment.set_new_manifest_digest(job->new_manifest_digest());
    segment.set_priority(job->priority());
    segment.set_seq(job->seq());
    segment.set_parent_job_id(id);
    segment.set_segment_begin(begin);
    segment.set_segment_end(begin + std::min(step, size - begin));
    writes.push_back({coordinator_keys::kJobPrefix + segment_id, segment.SerializeAsString()});
    segments.push_back(std::move(segment));
  }
  writes.push_back({coordinator_keys::kJobPrefix + id, job->SerializeAsString()});
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/false));
  for (v1::StoredJob& segment : segments) {
    const std::string segment_id = segment.status().job_id();
    QueueLocked(segment);
    jobs_[segment_id] = std::move(segment);
  }
  LogLocked(absl::StrCat("event=job_split job=", id, " segments=", job->segment_job_ids_size(),
                         " segment_bytes=", step));
  QueueLocked(*job);  // Joined at once if every segment was done already.
  return absl::OkStatus();
}

bool Coordinator::SegmentsDoneLocked(const v1::StoredJob& job) const {
  for (const std::string& id : job.segment_job_ids()) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.status().state() != v1::JOB_STATE_DONE) return false;
  }
  return true;
}

void Coordinator::DescribeSegmentsLocked(const v1::StoredJob& job, v1::Job* out) const {
  if (!job.parent_job_id().empty()) {
    out->set_segment_begin(job.segment_begin());
    out->set_segment_end(job.segment_end());
  }
  for (const std::string& id : job.segment_job_ids()) {
    out->add_segment_digests(jobs_.at(id).status().package_digest());
  }
}

void Coordinator::SegmentFinishedLocked(const v1::StoredJob& segment) {
  auto parent = jobs_.find(segment.parent_job_id());
  if (parent == jobs_.end() || parent->second.status().state() != v1::JOB_STATE_QUEUED) return;
  v1::StoredJob& job = parent->second;
  if (segment.status().state() == v1::JOB_STATE_FAILED) {
    job.mutable_status()->set_state(v1::JOB_STATE_FAILED);
    job.mutable_status()->set_error(
        absl::StrCat("segment ", segment.status().job_id(), ": ", segment.status().error()));
    job.clear_segment_job_ids();  // Asked again, it is split again.
    LogLocked(absl::StrCat("event=job_failed job=", job.status().job_id(),
                           " error=\"", job.status().error(), "\""));
    PersistJobLocked(job, false).IgnoreError();
  } else if (SegmentsDoneLocked(job)) {
    LogLocked(absl::StrCat("event=job_join_queued job=", job.status().job_id()));
    QueueLocked(job);
  }
}

absl::Status Coordinator::CheckSegmentResult(const v1::StoredJob& job,
                                             const ManifestEntry& old_file,
                                             const ManifestEntry& new_file,
                                             const ByteSource& package) {
  PF_ASSIGN_OR_RETURN(SegmentHeader header, ReadSegmentHeader(package));
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
