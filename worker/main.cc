// patchfarm-worker --coordinator HOST:PORT --cache DIR [flags; --help lists them]
// With --http-listen it serves /metrics (Prometheus).
// Works for the coordinator until SIGTERM or SIGINT, then finishes the jobs it
// holds and exits (drain). This is how a Kubernetes pod or a systemd unit is
// drained: no admin token is needed on the worker's machine.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/flags.h"
#include "common/log_writer.h"
#include "common/malloc_tuning.h"
#include "common/open_file_limit.h"
#include "worker/worker.h"

using Jobs = patchfarm::Count<1, 1024>;
using Threads = patchfarm::Count<1, 256>;
using CacheGib = patchfarm::Count<1, (1 << 20)>;

namespace {

// The machine's cores, but at most one job per GiB the worker may use (half
// of it the jobs' budget): a container on a node of many cores would
// otherwise give each job a sliver of its memory limit.
int DefaultJobs() {
  const uint64_t by_memory = patchfarm::MemoryLimitBytes() >> 30;
  return static_cast<int>(std::max<uint64_t>(
      1, std::min<uint64_t>(std::thread::hardware_concurrency(), by_memory)));
}

}  // namespace

ABSL_FLAG(std::string, coordinator, "", "host:port of the coordinator");
ABSL_FLAG(std::string, cache, "", "directory of the blob cache and the index cache");
ABSL_FLAG(std::string, id, "", "this worker's name (default: hostname-pid-<4 random hex digits>)");
ABSL_FLAG(Jobs, jobs, Jobs{DefaultJobs()},
          "jobs at once (default: the machine's cores, at most one per GiB of the memory the "
          "worker may use)");
ABSL_FLAG(Threads, threads, Threads{2}, "engine threads per job");
ABSL_FLAG(CacheGib, cache_gib, CacheGib{8}, "GiB of blobs kept in --cache, least recently used evicted");
ABSL_FLAG(patchfarm::ByteSize, job_memory, patchfarm::ByteSize{0},
          "memory of one job, bytes or with K/M/G (default: half the memory the worker may use, "
          "the machine's or its container's limit, divided by --jobs); larger file pairs are "
          "diffed in bounded memory");
ABSL_FLAG(patchfarm::ByteSize, index_cache, patchfarm::ByteSize{uint64_t{4} << 30},
          "indexes of old files kept under DIR/index, least recently used evicted first");
ABSL_FLAG(bool, no_index_cache, false, "keep no indexes of old files");
ABSL_FLAG(std::string, http_listen, "", "host:port to serve /metrics (Prometheus) on; plaintext");
ABSL_FLAG(std::string, token_file, "", "file holding this worker's bearer token (mode 600 or 400)");
ABSL_FLAG(std::string, tls_ca, "", "CA (PEM) the coordinator's certificate must chain to");
ABSL_FLAG(std::string, tls_cert, "", "client certificate (PEM) for mutual TLS; with --tls-key");
ABSL_FLAG(std::string, tls_key, "", "client private key (PEM)");

namespace {

const patchfarm::DaemonFlags kFlags{
    "patchfarm-worker",
    "usage: patchfarm-worker --coordinator HOST:PORT --cache DIR [--token-file FILE]\n"
    "       [--tls-ca FILE [--tls-cert FILE --tls-key FILE]] [flags below]\n",
    "worker/main.cc"};

}  // namespace

int main(int argc, char** argv) {
  if (std::optional<int> exit_code = kFlags.Parse(argc, argv)) return *exit_code;
  patchfarm::TuneMallocForStreaming();
  patchfarm::RaiseOpenFileLimit();
  patchfarm::WorkerOptions options;
  options.coordinator = absl::GetFlag(FLAGS_coordinator);
  options.cache_dir = absl::GetFlag(FLAGS_cache);
  options.worker_id = absl::GetFlag(FLAGS_id);
  options.jobs = static_cast<int>(absl::GetFlag(FLAGS_jobs).value);
  options.diff.delta.threads = static_cast<int>(absl::GetFlag(FLAGS_threads).value);
  options.cache_bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_cache_gib).value) << 30;
  options.diff.delta.max_memory = absl::GetFlag(FLAGS_job_memory).bytes;
  options.index_cache_bytes = absl::GetFlag(FLAGS_index_cache).bytes;
  options.index_cache = !absl::GetFlag(FLAGS_no_index_cache);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.token_file = absl::GetFlag(FLAGS_token_file);
  options.tls_ca_file = absl::GetFlag(FLAGS_tls_ca);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  // The worker logs under its lock, which heartbeats take: never on a
  // stalled stdout.
  patchfarm::LogWriter log_writer(stdout, "patchfarm-worker ");
  options.log = [&log_writer](const std::string& line) { log_writer.Write(line); };
  if (options.coordinator.empty() || options.cache_dir.empty()) {
    return kFlags.UsageError("--coordinator and --cache are required");
  }
  if (options.diff.delta.max_memory == 0) {  // Half the machine, shared by the jobs.
    options.diff.delta.max_memory = patchfarm::MemoryLimitBytes() / 2 / options.jobs;
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
  // The drain: Kubernetes and systemd stop a worker with SIGTERM. Its line
  // goes through the log writer: a stalled stdout must not hold the drain.
  std::thread waiter([w, signals, &log_writer] {
    int sig = 0;
    sigwait(&signals, &sig);
    log_writer.Write(absl::StrCat("signal ", sig, ": finishing held jobs, then exiting"));
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
