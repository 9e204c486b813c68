// A Clock for tests: both readings move only when Advance (or SleepFor, which
// does not wait) moves them. Thread-safe.
#ifndef PATCHFARM_COMMON_FAKE_CLOCK_H_
#define PATCHFARM_COMMON_FAKE_CLOCK_H_

#include <mutex>

#include "common/clock.h"

namespace patchfarm {

class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  absl::Duration Monotonic() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return elapsed_;
  }
  void SleepFor(absl::Duration duration) const override { Advance(duration); }
  void Advance(absl::Duration duration) const {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += duration;
    elapsed_ += duration;
  }

 private:
  mutable std::mutex mu_;
  mutable absl::Time now_;
  mutable absl::Duration elapsed_ = absl::Seconds(1000);
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_FAKE_CLOCK_H_
