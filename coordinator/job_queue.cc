#include "coordinator/job_queue.h"

namespace patchfarm {

void JobQueue::Push(const std::string& job_id, uint32_t priority, uint64_t seq,
                    const std::string& old_key, uint64_t part) {
  Remove(job_id);
  Key key{priority, seq, part, job_id};
  items_[key] = old_key;
  index_[job_id] = key;
}

void JobQueue::Remove(const std::string& job_id) {
  auto it = index_.find(job_id);
  if (it == index_.end()) return;
  items_.erase(it->second);
  index_.erase(it);
}

std::vector<std::string> JobQueue::Pop(size_t n, const std::set<std::string>& held) {
  std::vector<std::string> out;
  while (out.size() < n && !items_.empty()) {
    auto chosen = items_.begin();
    const uint32_t priority = std::get<0>(chosen->first);
    size_t looked = 0;
    for (auto it = items_.begin();
         it != items_.end() && looked < kAffinityScan && std::get<0>(it->first) == priority;
         ++it, ++looked) {
      if (held.count(it->second) != 0) {
        chosen = it;
        break;
      }
    }
    const std::string& job_id = std::get<3>(chosen->first);
    out.push_back(job_id);
    index_.erase(job_id);
    items_.erase(chosen);
  }
  return out;
}

size_t JobQueue::size(uint32_t priority) const {
  size_t count = 0;
  for (auto it = items_.lower_bound(Key{priority, 0, 0, std::string()});
       it != items_.end() && std::get<0>(it->first) == priority; ++it) {
    ++count;
  }
  return count;
}

}  // namespace patchfarm
