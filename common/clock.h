// Time as the coordinator and workers see it, injected so that tests can move
// it by hand. RealClock is thread-safe; FakeClock too.
#ifndef PATCHFARM_COMMON_CLOCK_H_
#define PATCHFARM_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

namespace patchfarm {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic seconds since an arbitrary start.
  virtual double Now() const = 0;
};

class RealClock : public Clock {
 public:
  double Now() const override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock : public Clock {
 public:
  double Now() const override { return now_.load(); }
  void Advance(double seconds) { now_.store(now_.load() + seconds); }

 private:
  std::atomic<double> now_{1000.0};
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_CLOCK_H_
