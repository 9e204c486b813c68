#include "common/interrupt_paths.h"

#include <map>
#include <mutex>

namespace patchfarm {
namespace {

struct Registry {
  std::mutex mu;
  uint64_t next_id = 0;
  std::map<uint64_t, std::string> paths;
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;  // Never destroyed: used until exit.
  return *registry;
}

}  // namespace

RemoveOnInterrupt::RemoveOnInterrupt(const std::string& path) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  id_ = r.next_id++;
  r.paths.emplace(id_, path);
}

RemoveOnInterrupt::~RemoveOnInterrupt() {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.paths.erase(id_);
}

void RemoveInterruptedPathsAndHold(void (*remove)(const std::string& path)) {
  Registry& r = TheRegistry();
  r.mu.lock();  // Not unlocked: see the header.
  for (const auto& [id, path] : r.paths) remove(path);
}

}  // namespace patchfarm
