// Time as the farm reads it, injected so that tests move it by hand
// (FakeClock, common/fake_clock.h). One interface, two readings: calendar
// time, which dates stored records, and a monotonic reading for leases,
// timeouts and durations, which no change of the system's time can move
// backwards. Implementations are thread-safe. (gRPC deadlines, which gRPC
// measures against the system's clock, are set from std::chrono directly.)
#ifndef PATCHFARM_COMMON_CLOCK_H_
#define PATCHFARM_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace patchfarm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Calendar time (a release's submit time, an index's expiry).
  virtual absl::Time Now() const = 0;
  // Time since an arbitrary origin (the process's start, say), never going
  // back: compare readings of one process only.
  virtual absl::Duration Monotonic() const = 0;
  virtual void SleepFor(absl::Duration duration) const = 0;
};

// The system's clocks (absl::Now, std::chrono::steady_clock, absl::SleepFor).
const Clock& SystemClock();

// Seconds from `start`, a Monotonic() reading of `clock`, to now.
inline double SecondsSince(absl::Duration start, const Clock& clock = SystemClock()) {
  return absl::ToDoubleSeconds(clock.Monotonic() - start);
}

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_CLOCK_H_
