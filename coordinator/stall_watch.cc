#include "coordinator/stall_watch.h"

#include <algorithm>
#include <chrono>

namespace patchfarm {

StallWatch::StallWatch(absl::Duration patience, const Clock* clock)
    : patience_(patience), clock_(clock), thread_([this] { Loop(); }) {}

StallWatch::~StallWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void StallWatch::Loop() {
  // A stalled call ends within a hundredth of the patience after its
  // deadline (10 ms to a second).
  const auto period = absl::ToChronoMilliseconds(
      std::clamp(patience_ / 100, absl::Milliseconds(10), absl::Seconds(1)));
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, period);
    const absl::Duration now = clock_->Monotonic();
    for (Entry& entry : calls_) {
      if (entry.stalled || now < entry.deadline) continue;
      entry.stalled = true;
      entry.cancel();  // TryCancel: quick, and takes none of our locks.
    }
  }
}

StallWatch::Call::Call(StallWatch* watch, std::function<void()> cancel) : watch_(watch) {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  entry_ = watch_->calls_.insert(
      watch_->calls_.end(),
      Entry{std::move(cancel), watch_->clock_->Monotonic() + watch_->patience_});
}

StallWatch::Call::~Call() {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  watch_->calls_.erase(entry_);
}

void StallWatch::Call::Progress() {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  entry_->deadline = watch_->clock_->Monotonic() + watch_->patience_;
}

void StallWatch::Call::Extend(absl::Duration wait) {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  entry_->deadline += wait;
}

bool StallWatch::Call::stalled() const {
  std::lock_guard<std::mutex> lock(watch_->mu_);
  return entry_->stalled;
}

}  // namespace patchfarm
