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
  LetTheWatchLook();
  EXPECT_EQ(slow_cancels, 1);
  EXPECT_TRUE(slow.stalled());
  EXPECT_EQ(busy_cancels, 0);
  EXPECT_FALSE(busy.stalled());
  clock.Advance(absl::Seconds(5));
  LetTheWatchLook();
  EXPECT_EQ(slow_cancels, 1) << "cancelled once";
  EXPECT_EQ(busy_cancels, 1);
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
  LetTheWatchLook();
  EXPECT_EQ(cancels, 1);
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
