// Scheduler throughput: trivial jobs through a real coordinator (RocksDB state,
// gRPC on loopback): a submitter registers releases (each planning up to 10
// jobs) while 50 simulated workers acquire jobs and complete them with a
// pre-uploaded package, until every job is done. Prints jobs per second for
// the whole pipeline and for acquire -> complete alone.
// With 0 workers it instead times GET /metrics with every job still queued.
// Usage: bazel run //bench:scheduler_throughput -- [RELEASES] [WORKERS]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "transfer/blob_transfer.h"
#include "common/directory.h"
#include "coordinator/server.h"
#include "grpcpp/create_channel.h"

namespace patchfarm {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Milliseconds for one GET of `url`'s path on `address` (plain HTTP).
double GetMillis(const std::string& address) {
  const double start = Now();
  std::string cmd = absl::StrCat("curl -sf -o /dev/null http://", address, "/metrics");
  if (std::system(cmd.c_str()) != 0) return -1;
  return (Now() - start) * 1000;
}

int Main(int releases, int workers) {
  char dir[] = "/tmp/pf-scheduler-bench-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = dir;
  options.http_listen = "127.0.0.1:0";
  auto server = CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto blobs = v1::BlobService::NewStub(channel);
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  // Release contents and one package, uploaded before timing starts.
  char scratch[] = "/tmp/pf-scheduler-blob-XXXXXX";
  int fd = mkstemp(scratch);
  std::map<Digest, std::string> files;
  std::vector<Digest> contents;
  for (int r = 0; r <= releases; ++r) {
    std::string data = absl::StrCat("release content ", r);
    std::string path = absl::StrCat(scratch, "-", r);
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(data.data(), 1, data.size(), f);
    std::fclose(f);
    contents.push_back(Sha256Of(data));
    files[contents.back()] = path;
  }
  if (!UploadMissing(blobs.get(), files).ok()) return 1;
  close(fd);
  const Digest package = contents.back();  // Any stored blob does as a trivial result.

  // /metrics latency with every job queued: submit first, scrape, then work.
  std::atomic<int> done{0};
  const bool measure_metrics = workers == 0;
  std::atomic<int> planned{0};
  std::atomic<bool> submitted{false};
  const double start = Now();
  double first_complete = 0;
  std::atomic<bool> started_completing{false};
  std::thread submitter([&] {
    for (int r = 0; r < releases; ++r) {
      v1::SubmitRequest request;
      request.mutable_release()->set_product("bench");
      request.mutable_release()->set_platform("linux-x64");
      request.mutable_release()->set_version(absl::StrCat("1.", r));
      request.set_kind(v1::RELEASE_KIND_FILE);
      v1::ManifestEntry* e = request.add_manifest();
      e->set_path("app");
      e->set_type(1);
      e->set_size(absl::StrCat("release content ", r).size());
      e->set_digest(DigestBytes(contents[r]));
      grpc::ClientContext context;
      v1::SubmitResponse response;
      if (coordinator->Submit(&context, request, &response).ok()) planned += response.job_ids_size();
    }
    submitted = true;
  });
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      auto stub = v1::WorkerService::NewStub(channel);
      while (!(submitted && done.load() >= planned.load())) {
        grpc::ClientContext context;
        v1::AcquireRequest request;
        request.set_worker_id(absl::StrCat("sim", w));
        request.set_max_jobs(4);
        v1::AcquireResponse response;
        if (!stub->Acquire(&context, request, &response).ok() || response.jobs_size() == 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
          continue;
        }
        if (!started_completing.exchange(true)) first_complete = Now();
        for (const v1::Job& job : response.jobs()) {
          grpc::ClientContext c;
          v1::CompleteRequest complete;
          complete.set_worker_id(request.worker_id());
          complete.set_job_id(job.job_id());
          complete.set_lease_id(job.lease_id());
          complete.set_package_digest(DigestBytes(package));
          complete.set_package_size(1);
          v1::CompleteResponse ok;
          if (stub->Complete(&c, complete, &ok).ok()) ++done;
        }
      }
    });
  }
  submitter.join();
  const double submit_end = Now();
  if (measure_metrics) {
    std::vector<double> ms;
    for (int i = 0; i < 21; ++i) ms.push_back(GetMillis((*server)->http_address()));
    std::sort(ms.begin(), ms.end());
    std::printf("/metrics with %d jobs queued: median %.1f ms, max %.1f ms (21 GETs with curl,"
                " including curl's own start)\n", planned.load(), ms[10], ms.back());
    server->reset();
    RemoveTree(dir).IgnoreError();
    for (const auto& [digest, path] : files) unlink(path.c_str());
    unlink(scratch);
    return 0;
  }
  for (auto& t : threads) t.join();
  const double end = Now();
  std::printf("releases %d, jobs %d, simulated workers %d\n", releases, planned.load(), workers);
  std::printf("submit: %.2f s (%.0f jobs planned/s)\n", submit_end - start,
              planned / (submit_end - start));
  std::printf("pipeline submit -> acquire -> complete: %.2f s, %.0f jobs/s\n", end - start,
              planned / (end - start));
  std::printf("acquire -> complete from the first acquisition: %.0f jobs/s\n",
              planned / (end - first_complete));
  server->reset();
  RemoveTree(dir).IgnoreError();
  for (const auto& [digest, path] : files) unlink(path.c_str());
  unlink(scratch);
  return done.load() == planned.load() ? 0 : 1;
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  int releases = 500, workers = 50;
  if (argc > 1) absl::SimpleAtoi(argv[1], &releases);
  if (argc > 2) absl::SimpleAtoi(argv[2], &workers);
  return patchfarm::Main(releases, workers);
}
