// patchfarm-worker --coordinator HOST:PORT --cache DIR [--jobs N] [--id ID]
//     [--threads N] [--cache-gib N] [--job-memory SIZE] [--index-cache SIZE]
//     [--no-index-cache] [--http-listen HOST:PORT]
// With --http-listen it serves /metrics (Prometheus).
// Works for the coordinator until SIGTERM or SIGINT, then finishes the jobs it
// holds and exits (drain). This is how a Kubernetes pod or a systemd unit is
// drained: no admin token is needed on the worker's machine.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "common/byte_size.h"
#include "worker/worker.h"

namespace {

constexpr char kUsage[] =
    "usage: patchfarm-worker --coordinator HOST:PORT --cache DIR [--jobs N] [--id ID]\n"
    "       [--threads N] [--cache-gib N] [--job-memory SIZE] [--index-cache SIZE]\n"
    "       [--no-index-cache] [--http-listen HOST:PORT] [--token-file FILE]\n"
    "       [--tls-ca FILE [--tls-cert FILE --tls-key FILE]]\n"
    "  --jobs N     jobs at once (default: cores); --threads N: engine threads per job (2)\n"
    "  --job-memory SIZE  memory of one job, bytes or with K/M/G (default: half the\n"
    "               machine's memory divided by --jobs); larger file pairs are diffed\n"
    "               in bounded memory\n"
    "  --index-cache SIZE  indexes of old files kept under DIR/index (default 4G),\n"
    "               least recently used evicted first; --no-index-cache keeps none\n";

}  // namespace

int main(int argc, char** argv) {
  patchfarm::WorkerOptions options;
  options.jobs = static_cast<int>(std::thread::hardware_concurrency());
  if (options.jobs < 1) options.jobs = 1;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--no-index-cache") {
      options.index_cache = false;
      continue;
    }
    std::string value = i + 1 < argc ? argv[i + 1] : "";
    bool ok = !value.empty();
    if (arg == "--coordinator") {
      options.coordinator = value;
    } else if (arg == "--cache") {
      options.cache_dir = value;
    } else if (arg == "--id") {
      options.worker_id = value;
    } else if (arg == "--jobs") {
      ok = absl::SimpleAtoi(value, &options.jobs) && options.jobs > 0;
    } else if (arg == "--tls-ca") {
      options.tls_ca_file = value;
    } else if (arg == "--tls-cert") {
      options.tls_cert_file = value;
    } else if (arg == "--tls-key") {
      options.tls_key_file = value;
    } else if (arg == "--token-file") {
      options.token_file = value;
    } else if (arg == "--http-listen") {
      options.http_listen = value;
    } else if (arg == "--threads") {
      ok = absl::SimpleAtoi(value, &options.diff.delta.threads) && options.diff.delta.threads > 0;
    } else if (arg == "--job-memory") {
      ok = patchfarm::ParseByteSize(value, &options.diff.delta.max_memory);
    } else if (arg == "--index-cache") {
      ok = patchfarm::ParseByteSize(value, &options.index_cache_bytes);
    } else if (arg == "--cache-gib") {
      uint64_t gib = 0;
      ok = absl::SimpleAtoi(value, &gib) && gib > 0 && gib <= (uint64_t{1} << 20);
      options.cache_bytes = gib << 30;
    } else {
      std::fprintf(stderr, "patchfarm-worker: unknown flag '%.64s'\n", arg.c_str());
      std::fputs(kUsage, stderr);
      return 2;
    }
    if (!ok) {
      std::fprintf(stderr, "patchfarm-worker: bad value for %s: '%.64s'\n", arg.c_str(),
                   value.c_str());
      std::fputs(kUsage, stderr);
      return 2;
    }
    ++i;
  }
  if (options.coordinator.empty() || options.cache_dir.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (options.diff.delta.max_memory == 0) {  // Half the machine, shared by the jobs.
    options.diff.delta.max_memory = patchfarm::PhysicalMemoryBytes() / 2 / options.jobs;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto worker = patchfarm::Worker::Create(options);
  if (!worker.ok()) {
    std::fprintf(stderr, "patchfarm-worker: %s\n", std::string(worker.status().message()).c_str());
    return 1;
  }
  patchfarm::Worker* w = worker->get();
  if (!options.http_listen.empty()) {
    std::printf("patchfarm-worker: metrics on http://%s/metrics\n", w->http_address().c_str());
    std::fflush(stdout);
  }
  std::thread waiter([w, signals] {  // The drain: Kubernetes and systemd stop a worker with SIGTERM.
    int sig = 0;
    sigwait(&signals, &sig);
    std::printf("patchfarm-worker: signal %d: finishing held jobs, then exiting\n", sig);
    std::fflush(stdout);
    w->Stop();
  });
  waiter.detach();
  absl::Status status = w->Run();
  if (!status.ok()) {
    std::fprintf(stderr, "patchfarm-worker: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  return 0;
}
