// Paths that a command line tool removes when it is interrupted: temporary
// files and directories that only a finished command would move into place
// (AtomicFileWriter's temporary file, a tree apply's partial directory).
// client/interrupt.h removes them on SIGINT, SIGTERM and SIGHUP; a process
// that does not install that handling (the coordinator, a worker) only keeps
// the list. Thread-safe.
#ifndef PATCHFARM_COMMON_INTERRUPT_PATHS_H_
#define PATCHFARM_COMMON_INTERRUPT_PATHS_H_

#include <cstdint>
#include <string>

namespace patchfarm {

// Registers `path` for as long as it lives. A path that no longer exists when
// the process is interrupted (renamed into place, removed) is skipped.
class RemoveOnInterrupt {
 public:
  explicit RemoveOnInterrupt(const std::string& path);
  ~RemoveOnInterrupt();
  RemoveOnInterrupt(const RemoveOnInterrupt&) = delete;
  RemoveOnInterrupt& operator=(const RemoveOnInterrupt&) = delete;

 private:
  uint64_t id_;
};

// Calls `remove` on every registered path. The registry stays locked when it
// returns, so that no path is registered or unregistered after: the caller is
// about to end the process.
void RemoveInterruptedPathsAndHold(void (*remove)(const std::string& path));

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_INTERRUPT_PATHS_H_
