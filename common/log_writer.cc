#include "common/log_writer.h"

#include <pthread.h>
#include <signal.h>

#include <utility>

namespace patchfarm {

LogWriter::LogWriter(FILE* out, std::string prefix, size_t max_waiting)
    : out_(out), prefix_(std::move(prefix)), max_waiting_(max_waiting) {
  // Signals are for the threads the program meant to take them (a daemon's
  // sigwait for SIGTERM): one unblocked here would be delivered here and end
  // the process by its default action. The thread starts with every signal
  // blocked (it inherits the mask in force while it is made).
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  thread_ = std::thread([this] { Run(); });
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

LogWriter::~LogWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void LogWriter::Write(std::string line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (waiting_.size() >= max_waiting_) {
      ++dropped_;
      return;
    }
    waiting_.push_back(std::move(line));
  }
  changed_.notify_all();
}

void LogWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (waiting_.empty()) return;  // Stopping, and nothing left.
    std::deque<std::string> lines;
    lines.swap(waiting_);
    const uint64_t dropped = dropped_;
    dropped_ = 0;
    lock.unlock();
    for (const std::string& line : lines) {
      std::fprintf(out_, "%s%s\n", prefix_.c_str(), line.c_str());
    }
    if (dropped > 0) {
      std::fprintf(out_, "%s%llu log lines dropped: the log was not read fast enough\n",
                   prefix_.c_str(), static_cast<unsigned long long>(dropped));
    }
    std::fflush(out_);
    lock.lock();
  }
}

}  // namespace patchfarm
