#include "client/interrupt.h"

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "common/directory.h"
#include "common/interrupt_paths.h"

namespace patchfarm {
namespace {

void RemoveQuietly(const std::string& path) {
  // A directory may still be written to by a thread that has not ended: a
  // second pass removes what it added during the first.
  for (int pass = 0; pass < 3 && !RemoveTree(path).ok(); ++pass) {
  }
}

}  // namespace

void RemoveTemporariesOnInterrupt(const char* program) {
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    // A signal the process was started ignoring (nohup, a script's
    // background job) stays ignored: blocked, it would reach sigwait.
    struct sigaction action;
    if (sigaction(sig, nullptr, &action) == 0 && action.sa_handler != SIG_IGN) {
      sigaddset(&signals, sig);
    }
  }
  if (sigisemptyset(&signals)) return;
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // The waiting thread starts with every signal blocked: a write to a closed
  // stderr then fails (EPIPE) instead of ending the process by SIGPIPE, and a
  // background job's write to its terminal is not stopped (SIGTTOU).
  sigset_t all, before;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &before);
  std::thread([signals, program] {
    int sig = 0;
    if (sigwait(&signals, &sig) != 0) return;
    RemoveInterruptedPathsAndHold(RemoveQuietly);  // First: whatever stderr does.
    const std::string message = std::string(program) + ": interrupted\n";
    if (write(STDERR_FILENO, message.data(), message.size()) < 0) {
      // Nobody to tell.
    }
    // End the process as the signal would have: its default action, unblocked.
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    raise(sig);
  }).detach();
  pthread_sigmask(SIG_SETMASK, &before, nullptr);
}

}  // namespace patchfarm
