#include "coordinator/stall_watch.h"

#include <atomic>
#include <chrono>
#include <thread>

#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// Gives the watch's thread (which looks every 10 ms at this patience) time
// to look a few times; the fake clock does not move meanwhile.
void LetTheWatchLook() { std::this_thread::sleep_for(std::chrono::milliseconds(100)); }

// Waits (up to 10 s on a loaded machine) until `count` reaches `want`.
bool Reaches(const std::atomic<int>& count, int want) {
  for (int i = 0; i < 1000 && count < want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return count == want;
}

TEST(StallWatch, CancelsOnlyACallPastItsDeadlineAndOnlyOnce) {
  FakeClock clock;
  StallWatch watch(absl::Seconds(1), &clock);
  std::atomic<int> slow_cancels{0}, busy_cancels{0};
  StallWatch::Call slow(&watch, [&] { ++slow_cancels; });
  StallWatch::Call busy(&watch, [&] { ++busy_cancels; });
  clock.Advance(absl::Milliseconds(900));
  busy.Progress();
  LetTheWatchLook();
  EXPECT_EQ(slow_cancels, 0);
  clock.Advance(absl::Milliseconds(200));  // slow: 1.1 s silent; busy: 0.2 s.
  EXPECT_TRUE(Reaches(slow_cancels, 1));
  LetTheWatchLook();
  EXPECT_TRUE(slow.stalled());
  EXPECT_EQ(busy_cancels, 0);
  EXPECT_FALSE(busy.stalled());
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(Reaches(busy_cancels, 1));
  LetTheWatchLook();
  EXPECT_EQ(slow_cancels, 1) << "cancelled once";
}

// Time the server itself made the call wait (pacing) is not the client's.
TEST(StallWatch, ExtendMovesTheDeadlineOn) {
  FakeClock clock;
  StallWatch watch(absl::Seconds(1), &clock);
  std::atomic<int> cancels{0};
  StallWatch::Call paced(&watch, [&] { ++cancels; });
  paced.Extend(absl::Seconds(3));
  clock.Advance(absl::Seconds(3.5));
  LetTheWatchLook();
  EXPECT_EQ(cancels, 0);
  clock.Advance(absl::Seconds(1));
  EXPECT_TRUE(Reaches(cancels, 1));
}

// A call that ended is never cancelled, and the watch stops with no call left.
TEST(StallWatch, EndedCallsAreForgotten) {
  FakeClock clock;
  StallWatch watch(absl::Seconds(1), &clock);
  std::atomic<int> cancels{0};
  { StallWatch::Call call(&watch, [&] { ++cancels; }); }
  clock.Advance(absl::Seconds(10));
  LetTheWatchLook();
  EXPECT_EQ(cancels, 0);
}

}  // namespace
}  // namespace patchfarm
