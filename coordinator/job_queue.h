// The queue of jobs waiting for a worker: one-off requests (priority 0) before
// release jobs (priority 1), first in first out within a priority (the parts
// of one job, its segment jobs, in the order of their `part`). A worker is
// given the first job, among the next kAffinityScan of the leading priority,
// whose old side it already holds, else the head. Not thread-safe (the
// coordinator locks).
#ifndef PATCHFARM_COORDINATOR_JOB_QUEUE_H_
#define PATCHFARM_COORDINATOR_JOB_QUEUE_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace patchfarm {

class JobQueue {
 public:
  static constexpr size_t kAffinityScan = 64;

  // Adds `job_id`, or moves it if queued already.
  void Push(const std::string& job_id, uint32_t priority, uint64_t seq, const std::string& old_key,
            uint64_t part = 0);
  void Remove(const std::string& job_id);
  bool Contains(const std::string& job_id) const { return index_.count(job_id) != 0; }
  // Up to `n` jobs for a worker holding the old sides in `held`.
  std::vector<std::string> Pop(size_t n, const std::set<std::string>& held);
  size_t size() const { return items_.size(); }
  size_t size(uint32_t priority) const;

 private:
  // (priority, seq, part, job id): the id keeps keys unique should two
  // jobs come with the same part (a pair split again while stale parts of
  // its first split are still queued).
  using Key = std::tuple<uint32_t, uint64_t, uint64_t, std::string>;
  std::map<Key, std::string> items_;  // Each job's old_key.
  std::unordered_map<std::string, Key> index_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_JOB_QUEUE_H_
