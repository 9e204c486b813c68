// Ends calls that stall: a client that keeps a stream open and sends
// nothing holds a server thread and what its call holds (an upload's room
// promise on the coordinator's disk, its slot), and keepalive pings, which
// any live client answers, never end it. A call registers while it runs
// (StallWatch::Call) and pushes its deadline on as it makes progress; a
// thread looks every hundredth of `patience` (10 ms to 1 s) and runs the
// `cancel` of each call whose deadline has passed
// (grpc::ServerContext::TryCancel), once. Thread-safe.
#ifndef PATCHFARM_COORDINATOR_STALL_WATCH_H_
#define PATCHFARM_COORDINATOR_STALL_WATCH_H_

#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "common/clock.h"

namespace patchfarm {

class StallWatch {
  struct Entry {
    std::function<void()> cancel;
    absl::Duration deadline;  // A Monotonic() reading.
    bool stalled = false;
  };

 public:
  StallWatch(absl::Duration patience, const Clock* clock = &SystemClock());
  ~StallWatch();  // Stops the thread; calls must have ended.
  StallWatch(const StallWatch&) = delete;
  StallWatch& operator=(const StallWatch&) = delete;

  // One call, watched from construction (deadline: now + patience) to
  // destruction. `cancel` runs on the watch's thread, at most once, while the
  // Call lives.
  class Call {
   public:
    Call(StallWatch* watch, std::function<void()> cancel);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;
    // The deadline becomes now + patience.
    void Progress();
    // The deadline moves on by `wait` (time the server itself made the call wait).
    void Extend(absl::Duration wait);
    // Whether the watch cancelled the call.
    bool stalled() const;

   private:
    StallWatch* watch_;
    std::list<Entry>::iterator entry_;
  };

 private:
  void Loop();

  const absl::Duration patience_;
  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::list<Entry> calls_;
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_STALL_WATCH_H_
