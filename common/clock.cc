#include "common/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace patchfarm {
namespace {

class SystemClockImpl : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  absl::Duration Monotonic() const override {
    return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
  }
  void SleepFor(absl::Duration duration) const override { absl::SleepFor(duration); }
};

}  // namespace

const Clock& SystemClock() {
  static const SystemClockImpl clock;
  return clock;
}

}  // namespace patchfarm
