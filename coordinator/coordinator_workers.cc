// The coordinator's workers (coordinator.h): each call's worker recorded as
// seen, the workers listed and drained, and the metrics /metrics reports.
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "core/release/version.h"
#include "core/tree/tree_path.h"

namespace patchfarm {

absl::StatusOr<Coordinator::WorkerState*> Coordinator::SeenLocked(const std::string& worker_id) {
  PF_RETURN_IF_ERROR(ValidateName("worker id", worker_id));
  const absl::Duration now = clock_->Monotonic();
  if (workers_.count(worker_id) == 0 && workers_.size() >= options_.max_workers) {
    for (auto it = workers_.begin(); it != workers_.end();) {
      bool stale = it->second.jobs.empty() && now - it->second.last_seen > 10 * options_.lease;
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

v1::WorkerInfo Coordinator::WorkerInfoLocked(const std::string& id, const WorkerState& w) const {
  v1::WorkerInfo info;
  info.set_worker_id(id);
  info.set_draining(w.draining);
  info.set_seconds_since_seen(absl::ToDoubleSeconds(clock_->Monotonic() - w.last_seen));
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
  if (it == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("no worker ", ShortPath(worker_id)));
  }
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
  for (const auto& [id, job] : jobs_) ++m.jobs_by_state[job.status().state()];
  m.job_seconds = job_seconds_;
  m.package_bytes = package_bytes_;
  m.lease_expiries = lease_expiries_;
  m.blobs_dropped = dropper_.blobs_dropped();
  m.blob_bytes_dropped = dropper_.bytes_dropped();
  const absl::Duration now = clock_->Monotonic();
  m.workers_seen = workers_.size();
  for (const auto& [id, w] : workers_) {
    if (now - w.last_seen <= options_.lease) ++m.workers_connected;
  }
  return m;
}

}  // namespace patchfarm
