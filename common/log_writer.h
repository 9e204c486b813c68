// Writes log lines to a stream on a thread of its own, so that a caller that
// logs while it holds a lock never waits on the stream. The coordinator logs
// under its state's lock, which every RPC takes: a stdout pipe whose reader
// stalls (a log shipper, a terminal paused with Ctrl-S) stalled them all.
// Up to `max_waiting` lines wait for the stream; past that, lines are dropped
// and counted, and a line saying how many follows once there is room. Its
// thread blocks every signal, so it may be made before or after a program
// blocks the signals it waits for. Thread-safe.
#ifndef PATCHFARM_COMMON_LOG_WRITER_H_
#define PATCHFARM_COMMON_LOG_WRITER_H_

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace patchfarm {

class LogWriter {
 public:
  // Each line is written as "<prefix><line>\n" and flushed.
  LogWriter(FILE* out, std::string prefix, size_t max_waiting = 10000);
  // Writes the lines waiting, then returns.
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Queues `line` (without its newline) and returns; never waits on the
  // stream.
  void Write(std::string line);

 private:
  void Run();

  FILE* const out_;
  const std::string prefix_;
  const size_t max_waiting_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::string> waiting_;
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_LOG_WRITER_H_
