#include "common/log_writer.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

std::string ReadAll(FILE* file) {
  std::rewind(file);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) out.append(buf, n);
  return out;
}

TEST(LogWriterTest, WritesLinesInOrderWithThePrefix) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    LogWriter writer(file, "coordinator: ");
    for (const char* line : {"one", "two", "three"}) writer.Write(line);
  }  // The destructor writes what waits.
  EXPECT_EQ(ReadAll(file), "coordinator: one\ncoordinator: two\ncoordinator: three\n");
  std::fclose(file);
}

// The writer's thread takes no signal: a daemon that waits for SIGTERM with
// sigwait, having blocked it in its own threads, still gets it.
TEST(LogWriterTest, ItsThreadTakesNoSignal) {
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  {
    LogWriter writer(file, "");
    sigset_t usr1, before;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &usr1, &before);
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);  // Its default action ends the process.
    // Time for a thread that takes it to do so, before it is taken below.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const struct timespec wait = {5, 0};
    EXPECT_EQ(sigtimedwait(&usr1, nullptr, &wait), SIGUSR1);
    pthread_sigmask(SIG_SETMASK, &before, nullptr);
  }
  std::fclose(file);
}

// A stream nobody reads (a full pipe) does not hold up the callers: lines
// past the bound are dropped and counted, and the count is written once the
// stream moves again.
TEST(LogWriterTest, AStalledStreamDropsLinesInsteadOfBlocking) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  FILE* out = fdopen(fds[1], "w");
  ASSERT_NE(out, nullptr);
  std::string read;
  std::thread reader;
  {
    LogWriter writer(out, "", /*max_waiting=*/100);
    const std::string line(200, 'x');
    for (int i = 0; i < 5000; ++i) writer.Write(line);  // 1 MB: far past the pipe's 64 KiB.
    reader = std::thread([&] {
      char buf[65536];
      ssize_t n;
      while ((n = ::read(fds[0], buf, sizeof buf)) > 0) read.append(buf, n);
    });
  }  // The destructor writes what waits, as the reader reads.
  std::fclose(out);
  reader.join();
  close(fds[0]);
  // Every line is written, or counted as dropped (and notices are lines too).
  constexpr char kNotice[] = " log lines dropped";
  size_t lines = 0, notices = 0, dropped = 0;
  for (size_t at = 0; (at = read.find('\n', at)) != std::string::npos; ++at) ++lines;
  for (size_t at = 0; (at = read.find(kNotice, at)) != std::string::npos; ++at) {
    ++notices;
    const size_t start = read.rfind('\n', at) + 1;
    dropped += std::stoul(read.substr(start, at - start));
  }
  EXPECT_GT(dropped, 0u) << "the bound of 100 waiting lines was never reached";
  EXPECT_EQ(lines - notices + dropped, 5000u);
}

}  // namespace
}  // namespace patchfarm
