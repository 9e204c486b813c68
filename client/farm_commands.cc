#include "client/farm_commands.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transfer/blob_transfer.h"
#include "client/farm_flags.h"
#include "client/retention_commands.h"
#include "common/directory.h"
#include "common/file.h"
#include "common/flags.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "coordinator/server.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "worker/worker.h"

namespace patchfarm {
namespace {

using farm_cli::Connect;
using farm_cli::Context;
using farm_cli::Fail;
using farm_cli::Flags;
using farm_cli::Run;
using farm_cli::Usage;
using farm_cli::WithWhere;

const char* StateName(v1::JobState state) {
  switch (state) {
    case v1::JOB_STATE_QUEUED:
      return "queued";
    case v1::JOB_STATE_LEASED:
      return "running";
    case v1::JOB_STATE_DONE:
      return "done";
    case v1::JOB_STATE_FAILED:
      return "FAILED";
    default:
      return "unknown";
  }
}

// The manifest entry of the single file at `path`, named by its base name.
absl::StatusOr<ManifestEntry> FileEntry(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", path);
  ManifestEntry e;
  e.path = path.substr(path.find_last_of('/') + 1);
  e.type = EntryType::kFile;
  e.mode = st.st_mode & kModeMask;
  PF_ASSIGN_OR_RETURN(e.digest, HashFile(path, &e.size));
  PF_RETURN_IF_ERROR(ValidateTreePath(e.path));
  return e;
}

// The farm carries names as protobuf strings, which must be UTF-8: a name
// that is not (a Latin-1 file name) is refused here, naming it, rather than
// by the coordinator's parser.
absl::Status CheckUtf8Names(const Manifest& manifest) {
  for (const ManifestEntry& e : manifest) {
    for (absl::string_view name : {absl::string_view(e.path), absl::string_view(e.target)}) {
      if (Utf8Prefix(name, name.size()).size() != name.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            QuotePath(name), " is not UTF-8: the farm carries names as UTF-8; rename it"));
      }
    }
  }
  return absl::OkStatus();
}

// --product, --platform, --channel (default stable) and --version.
void SetReleaseKey(const Flags& f, v1::ReleaseKey* key) {
  key->set_product(f.Get("--product"));
  key->set_platform(f.Get("--platform"));
  key->set_channel(f.Get("--channel", "stable"));
  key->set_version(f.Get("--version"));
}

// The release at `path` as a manifest, and where its files are.
absl::Status Describe(const std::string& path, v1::SubmitRequest* request,
                      std::map<Digest, std::string>* files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", path);
  Manifest manifest;
  if (S_ISDIR(st.st_mode)) {
    PF_ASSIGN_OR_RETURN(manifest, ScanTree(path));
    request->set_kind(v1::RELEASE_KIND_TREE);
    for (const ManifestEntry& e : manifest) {
      if (e.type == EntryType::kFile) (*files)[e.digest] = JoinPath(path, e.path);
    }
  } else {
    PF_ASSIGN_OR_RETURN(ManifestEntry e, FileEntry(path));
    (*files)[e.digest] = path;
    manifest.push_back(std::move(e));
    request->set_kind(v1::RELEASE_KIND_FILE);
  }
  PF_RETURN_IF_ERROR(CheckUtf8Names(manifest));
  ToProto(manifest, request->mutable_manifest());
  return absl::OkStatus();
}

// Follows a release until every job is done or failed, printing progress.
absl::Status WaitForRelease(v1::CoordinatorService::Stub* stub, const std::string& release_id) {
  const bool tty = isatty(STDOUT_FILENO);
  v1::WatchRequest request;
  request.set_release_id(release_id);
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader(stub->Watch(&context, request));
  v1::WatchResponse response;
  v1::ReleaseStatus last;
  std::string last_line;
  while (reader->Read(&response)) {
    last = response.status();
    int done = 0, failed = 0, total = last.jobs_size();
    uint32_t parts = 0, parts_done = 0;
    double progress = 0;  // In jobs: a split job counts its parts done.
    for (const v1::JobStatus& j : last.jobs()) {
      done += j.state() == v1::JOB_STATE_DONE;
      failed += j.state() == v1::JOB_STATE_FAILED;
      parts += j.split_jobs();
      parts_done += j.split_jobs_done();
      progress += j.state() == v1::JOB_STATE_DONE || j.state() == v1::JOB_STATE_FAILED ? 1
                  : j.split_jobs() > 0 ? 0.95 * j.split_jobs_done() / j.split_jobs()
                                       : 0;
    }
    std::string line = absl::StrCat(done, "/", total, " jobs done, ", failed, " failed");
    if (parts > 0) {
      absl::StrAppend(&line, " (huge files: ", parts_done, "/", parts,
                      " index and segment jobs done)");
    }
    if (tty) {
      int width = 30, filled = total == 0 ? width : static_cast<int>(width * progress / total);
      std::printf("\r[%s%s] %s", std::string(filled, '#').c_str(),
                  std::string(width - filled, ' ').c_str(), line.c_str());
      std::fflush(stdout);
    } else if (line != last_line) {
      std::printf("progress: %s\n", line.c_str());
      std::fflush(stdout);
    }
    last_line = line;
  }
  if (tty) std::printf("\n");
  PF_RETURN_IF_ERROR(WithWhere("watching " + release_id, FromGrpcStatus(reader->Finish())));
  std::string failures;
  for (const v1::JobStatus& j : last.jobs()) {
    if (j.state() == v1::JOB_STATE_FAILED) {
      absl::StrAppend(&failures, "\n  job ", j.job_id(), " (", j.from_version(), " -> ",
                      j.to_version(), "): ", EscapeControls(j.error()));
    }
  }
  if (!failures.empty()) return absl::AbortedError(absl::StrCat("failed jobs:", failures));
  return absl::OkStatus();
}

// Uploads what the coordinator lacks of `files`, then makes `call`. A blob
// the coordinator had when asked may be removed before the call (an upload
// nothing named for a week: Coordinator::DropOrphanBlobs); the call then
// fails "not uploaded", and both are made once more.
absl::Status UploadThen(v1::BlobService::Stub* blobs, const std::map<Digest, std::string>& files,
                        UploadStats* stats, const std::string& what,
                        const std::function<grpc::Status()>& call) {
  for (int attempt = 0;; ++attempt) {
    if (stats != nullptr) stats->blobs = 0;  // Asked about again: counted once.
    PF_RETURN_IF_ERROR(WithWhere("uploading", UploadMissing(blobs, files, stats)));
    grpc::Status status = call();
    if (attempt == 0 && status.error_code() == grpc::StatusCode::FAILED_PRECONDITION &&
        status.error_message().find("not uploaded") != std::string::npos) {
      continue;
    }
    return WithWhere(what, FromGrpcStatus(status));
  }
}

absl::Status Submit(const Flags& f) {
  v1::SubmitRequest request;
  v1::ReleaseKey* key = request.mutable_release();
  SetReleaseKey(f, key);
  request.set_intermediate(f.Has("--intermediate"));
  std::map<Digest, std::string> files;
  PF_RETURN_IF_ERROR(Describe(f.positional[0], &request, &files));
  PF_ASSIGN_OR_RETURN(auto channel, Connect(f));
  auto blobs = v1::BlobService::NewStub(channel);
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  UploadStats stats;
  v1::SubmitResponse response;
  PF_RETURN_IF_ERROR(UploadThen(blobs.get(), files, &stats, "submit", [&] {
    return coordinator->Submit(Context(300).get(), request, &response);
  }));
  std::printf("uploaded %llu of %llu blobs (%llu bytes)\n",
              static_cast<unsigned long long>(stats.uploaded),
              static_cast<unsigned long long>(stats.blobs),
              static_cast<unsigned long long>(stats.bytes_sent));
  std::printf("release %s: %d jobs%s\n", response.release_id().c_str(), response.job_ids_size(),
              response.already_submitted() ? " (already submitted: nothing new)" : "");
  std::fflush(stdout);
  if (!f.Has("--wait")) return absl::OkStatus();
  PF_RETURN_IF_ERROR(WaitForRelease(coordinator.get(), response.release_id()));
  std::printf("release %s: every job done\n", response.release_id().c_str());
  return absl::OkStatus();
}

absl::Status PrintStatus(const Flags& f) {
  if (f.Has("--sizes")) return SizesCommand(f);
  PF_ASSIGN_OR_RETURN(auto channel, Connect(f));
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  v1::StatusRequest request;
  request.set_product(f.Get("--product"));
  v1::StatusResponse response;
  PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator->Status(Context(60).get(), request, &response)));
  if (f.Has("--json")) {
    std::string json;
    google::protobuf::util::JsonPrintOptions options;
    options.add_whitespace = true;
    google::protobuf::util::MessageToJsonString(response, &json, options);
    std::printf("%s", json.c_str());
    return absl::OkStatus();
  }
  for (const v1::ReleaseStatus& r : response.releases()) {
    int done = 0, failed = 0;
    for (const v1::JobStatus& j : r.jobs()) {
      done += j.state() == v1::JOB_STATE_DONE;
      failed += j.state() == v1::JOB_STATE_FAILED;
    }
    std::printf("%s  %s%s  %llu bytes  %d jobs: %d done, %d failed\n", r.release_id().c_str(),
                r.kind() == v1::RELEASE_KIND_TREE ? "tree" : "file",
                r.intermediate() ? " intermediate" : "",
                static_cast<unsigned long long>(r.total_size()), r.jobs_size(), done, failed);
    for (const v1::JobStatus& j : r.jobs()) {
      const std::string split = j.split_jobs() == 0 ? "" : absl::StrCat(
          " (split: ", j.split_jobs_done(), "/", j.split_jobs(), " done)");
      // Versions and worker ids are checked by the coordinator; an error is
      // any worker's text, escaped again here for a coordinator from before.
      std::printf("  %s -> %s  %s%s  %llu bytes  %.2f s  %s%s%s\n", j.from_version().c_str(),
                  j.to_version().c_str(), StateName(j.state()), split.c_str(),
                  static_cast<unsigned long long>(j.package_size()), j.seconds(),
                  j.worker_id().c_str(), j.error().empty() ? "" : "  ",
                  EscapeControls(j.error()).c_str());
    }
  }
  return absl::OkStatus();
}

absl::Status Request(const Flags& f) {
  PF_ASSIGN_OR_RETURN(auto channel, Connect(f));
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  v1::OneOffRequest request;
  request.set_product(f.Get("--product"));
  request.set_platform(f.Get("--platform"));
  request.set_channel(f.Get("--channel", "stable"));
  request.set_from_version(f.Get("--from"));
  request.set_to_version(f.Get("--to"));
  v1::OneOffResponse response;
  PF_RETURN_IF_ERROR(WithWhere(
      "request", FromGrpcStatus(coordinator->RequestPatch(Context(0).get(), request, &response))));
  const v1::JobStatus& job = response.job();
  if (job.state() != v1::JOB_STATE_DONE) {
    return absl::AbortedError(
        absl::StrCat("job ", job.job_id(), " failed: ", EscapeControls(job.error())));
  }
  Digest digest;
  PF_RETURN_IF_ERROR(ParseDigest(job.package_digest(), &digest));
  // Download into a private store beside the output (a later run resumes
  // it), check it, then move it into place. The store must be this user's
  // alone: in a shared directory another user could have put a package in.
  const std::string out = f.Get("-o");
  const std::string scratch = out + ".download";
  if (mkdir(scratch.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, "mkdir", scratch);
  }
  struct stat st;
  if (lstat(scratch.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 022) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        scratch, " is not a directory of this user's that others cannot write: remove it"));
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> store, BlobStore::Open(scratch));
  auto blobs = v1::BlobService::NewStub(channel);
  PF_RETURN_IF_ERROR(WithWhere("download", DownloadToStore(blobs.get(), digest, store.get())));
  PF_ASSIGN_OR_RETURN(std::string path, store->PathOf(digest));
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest stored, HashFile(path, &size));
  if (stored != digest) {
    return absl::DataLossError(absl::StrCat(path, " is not the package the coordinator names"));
  }
  if (rename(path.c_str(), out.c_str()) != 0) return ErrnoToStatus(errno, "rename to", out);
  PF_RETURN_IF_ERROR(RemoveTree(scratch));
  std::printf("%s: %llu bytes (%s -> %s, job %s)\n", out.c_str(),
              static_cast<unsigned long long>(job.package_size()), job.from_version().c_str(),
              job.to_version().c_str(), job.job_id().c_str());
  return absl::OkStatus();
}

// A file of the release's tree to replace (hotfix --replace) and the local
// file with its new content.
struct Replacement {
  std::string tree_path;
  std::string file;
};

// Uploads the files and sets them, and the replacements, as the release's hotfix.
absl::Status Hotfix(const Flags& f, const std::vector<Replacement>& replacements) {
  v1::HotfixRequest request;
  v1::ReleaseKey* key = request.mutable_release();
  SetReleaseKey(f, key);
  std::map<Digest, std::string> files;
  Manifest manifest;
  for (const std::string& path : f.positional) {
    PF_ASSIGN_OR_RETURN(ManifestEntry e, FileEntry(path));
    PF_RETURN_IF_ERROR(ValidateNewHotfixName(e.path));
    files[e.digest] = path;
    manifest.push_back(std::move(e));
  }
  std::sort(manifest.begin(), manifest.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  ToProto(manifest, request.mutable_files());
  Manifest replaced;
  for (const Replacement& r : replacements) {
    PF_RETURN_IF_ERROR(ValidateTreePath(r.tree_path));
    PF_ASSIGN_OR_RETURN(ManifestEntry e, FileEntry(r.file));
    e.path = r.tree_path;
    files[e.digest] = r.file;
    replaced.push_back(std::move(e));
  }
  PF_RETURN_IF_ERROR(CheckUtf8Names(replaced));
  ToProto(replaced, request.mutable_replacements());
  PF_ASSIGN_OR_RETURN(auto channel, Connect(f));
  auto blobs = v1::BlobService::NewStub(channel);
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  v1::HotfixResponse response;
  PF_RETURN_IF_ERROR(UploadThen(blobs.get(), files, nullptr, "hotfix", [&] {
    return coordinator->AddHotfix(Context(60).get(), request, &response);
  }));
  std::printf("hotfix for %s %s %s: %d file(s) added, %zu replaced; publish to ship it\n",
              key->product().c_str(), key->platform().c_str(), key->version().c_str(),
              request.files_size(), replacements.size());
  return absl::OkStatus();
}

absl::Status Workers(const Flags& f) {
  PF_ASSIGN_OR_RETURN(auto channel, Connect(f));
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  if (!f.Get("--drain").empty()) {
    v1::DrainRequest request;
    request.set_worker_id(f.Get("--drain"));
    v1::DrainResponse response;
    PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator->Drain(Context(60).get(), request, &response)));
    std::printf("%s: draining (%d jobs held)\n", request.worker_id().c_str(),
                response.worker().job_ids_size());
    return absl::OkStatus();
  }
  v1::ListWorkersResponse response;
  PF_RETURN_IF_ERROR(FromGrpcStatus(
      coordinator->ListWorkers(Context(60).get(), v1::ListWorkersRequest(), &response)));
  for (const v1::WorkerInfo& w : response.workers()) {
    std::printf("%s  %s  seen %.1f s ago  %d jobs running  %llu done\n", w.worker_id().c_str(),
                w.draining() ? "draining" : "active", w.seconds_since_seen(), w.job_ids_size(),
                static_cast<unsigned long long>(w.jobs_done()));
  }
  return absl::OkStatus();
}

// Coordinator and workers in this process, until SIGTERM or SIGINT.
absl::Status Serve(const Flags& f) {
  ServerOptions options;
  options.data_dir = f.Get("--data");
  options.listen = f.Get("--listen", "127.0.0.1:0");
  options.plaintext = true;  // serve is the one-machine farm: loopback only, no TLS.
  int64_t workers = std::thread::hardware_concurrency();
  std::string error;
  if (!f.Get("--workers").empty() && !ParseCount(f.Get("--workers"), 0, 1024, &workers, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad value for --workers: '", f.Get("--workers"), "': ", error));
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  PF_ASSIGN_OR_RETURN(std::unique_ptr<CoordinatorServer> server, CoordinatorServer::Start(options));
  std::printf("patchfarm serve: listening on %s, data in %s, %lld workers\n",
              server->address().c_str(), options.data_dir.c_str(), static_cast<long long>(workers));
  std::fflush(stdout);
  if (!f.Get("--port-file").empty()) {
    PF_RETURN_IF_ERROR(WriteFileAtomically(f.Get("--port-file"), server->address() + "\n"));
  }
  std::unique_ptr<Worker> worker;
  std::thread worker_thread;
  if (workers > 0) {
    WorkerOptions wo;
    wo.coordinator = server->address();
    wo.cache_dir = options.data_dir + "/worker-cache";
    wo.jobs = static_cast<int>(workers);
    wo.worker_id = "embedded";
    wo.log = [](const std::string& line) {
      std::printf("patchfarm-worker %s\n", line.c_str());
      std::fflush(stdout);
    };
    PF_ASSIGN_OR_RETURN(worker, Worker::Create(wo));
    worker_thread = std::thread([&worker] { worker->Run().IgnoreError(); });
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("patchfarm serve: signal %d, finishing held jobs\n", sig);
  if (worker) {
    worker->Stop();
    worker_thread.join();
  }
  server->Shutdown();
  return absl::OkStatus();
}

}  // namespace

int RunSubmitCommand(const std::vector<std::string>& args) {
  return Run(args,
             "submit --coordinator HOST:PORT --product P --platform X --version V "
             "[--channel C] [--intermediate] [--wait] PATH",
             {"--coordinator", "--product", "--platform", "--version", "--channel"},
             {"--intermediate", "--wait"},
             {"--coordinator", "--product", "--platform", "--version"}, 1, Submit);
}

int RunStatusCommand(const std::vector<std::string>& args) {
  if (std::find(args.begin(), args.end(), "--sizes") != args.end() &&
      std::find(args.begin(), args.end(), "--product") == args.end()) {
    return Usage("status --coordinator HOST:PORT --product P --sizes [--json]");
  }
  return Run(args, "status --coordinator HOST:PORT [--product P] [--json] | --product P --sizes [--json]",
             {"--coordinator", "--product"}, {"--json", "--sizes"}, {"--coordinator"}, 0, PrintStatus);
}

int RunRequestCommand(const std::vector<std::string>& args) {
  return Run(args,
             "request --coordinator HOST:PORT --product P --platform X [--channel C] "
             "--from A --to B -o PACKAGE",
             {"--coordinator", "--product", "--platform", "--channel", "--from", "--to", "-o"}, {},
             {"--coordinator", "--product", "--platform", "--from", "--to", "-o"}, 0, Request);
}

int RunWorkersCommand(const std::vector<std::string>& args) {
  return Run(args, "workers --coordinator HOST:PORT [--drain WORKER_ID]",
             {"--coordinator", "--drain"}, {}, {"--coordinator"}, 0, Workers);
}

int RunHotfixCommand(const std::vector<std::string>& args) {
  static const char* kUsage =
      "hotfix --coordinator HOST:PORT --product P --platform X --version V [--channel C]\n"
      "       [--replace RELATIVE_PATH FILE]... [PATH...]\n"
      "  PATH: a file installed as <install>/hotfix/<its name>; --replace: FILE\n"
      "  replaces the release's file RELATIVE_PATH (the original is kept and restored\n"
      "  before the next update). Sets the release's whole hotfix (files and replacements).";
  std::vector<Replacement> replacements;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] != "--replace") {
      rest.push_back(args[i]);
      continue;
    }
    if (i + 2 >= args.size() || args[i + 1].empty() || args[i + 2].empty()) {
      std::fprintf(stderr, "patchfarm: --replace takes RELATIVE_PATH FILE\n");
      return Usage(kUsage);
    }
    replacements.push_back({args[i + 1], args[i + 2]});
    i += 2;
  }
  Flags f;
  if (!f.Parse(rest, {"--coordinator", "--product", "--platform", "--version", "--channel", "--token-file",
                        "--tls-ca", "--tls-cert", "--tls-key"},
               {}) ||
      (f.positional.empty() && replacements.empty()) || f.Get("--coordinator").empty() ||
      f.Get("--product").empty() || f.Get("--platform").empty() || f.Get("--version").empty()) {
    return Usage(kUsage);
  }
  absl::Status status = Hotfix(f, replacements);
  return status.ok() ? 0 : Fail(status);
}

int RunPolicyCommand(const std::vector<std::string>& args) {
  return Run(args,
             "policy --coordinator HOST:PORT --product P [--window N] [--keep-chain N] "
             "[--keep-days D] [--max-patch-ratio R]",
             {"--coordinator", "--product", "--window", "--keep-chain", "--keep-days", "--max-patch-ratio"},
             {}, {"--coordinator", "--product"}, 0, PolicyCommand);
}

int RunServeCommand(const std::vector<std::string>& args) {
  return Run(args, "serve --data DIR [--listen HOST:PORT] [--workers N] [--port-file FILE]",
             {"--data", "--listen", "--workers", "--port-file"}, {}, {"--data"}, 0, Serve);
}

}  // namespace patchfarm
