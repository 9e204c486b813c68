// Calendar time for the coordinator: when a release was submitted, and the
// "now" that the chain retention's keep-days counts back from. common/clock.h's
// Clock is monotonic seconds since an arbitrary start (it does not survive a
// restart), so it cannot date stored records; this is the wall clock, injected
// the same way so that tests can move it. Thread-safe.
#ifndef PATCHFARM_COORDINATOR_WALL_CLOCK_H_
#define PATCHFARM_COORDINATOR_WALL_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace patchfarm {

class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual absl::Time Now() const = 0;
};

class SystemWallClock : public WallClock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

class FakeWallClock : public WallClock {
 public:
  explicit FakeWallClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(absl::ToUnixNanos(start)) {}
  absl::Time Now() const override { return absl::FromUnixNanos(now_.load()); }
  void Advance(absl::Duration d) { now_.fetch_add(absl::ToInt64Nanoseconds(d)); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_WALL_CLOCK_H_
