// The worker tests' harness (worker_test.cc, worker_lifecycle_test.cc): a
// fake coordinator served in-process over real gRPC on loopback, which
// records every call, follows a script of Acquire answers and keeps blobs in
// memory; release data generators; and the fixture that runs a Worker on a
// thread. Tests hold a job in flight by gating the fake's Download on a
// recorded condition, and wait for what they expect with a generous deadline.
#ifndef PATCHFARM_WORKER_WORKER_TESTING_H_
#define PATCHFARM_WORKER_WORKER_TESTING_H_

#include "worker/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "common/sha256.h"
#include "core/delta/apply.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_testing.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "proto/patchfarm/v1/manifest_convert.h"

namespace patchfarm {


using SteadyClock = std::chrono::steady_clock;

// Every wait for a condition gives up after this: a failure, not a hang.
inline constexpr auto kPatience = std::chrono::seconds(60);
// The lease the fake hands out; the worker heartbeats every third of it.
inline constexpr double kLeaseSeconds = 0.3;
inline constexpr char kWorkerId[] = "worker-1";

inline std::string HexOf(const std::string& raw_digest) {
  Digest digest;
  return ParseDigest(raw_digest, &digest).ok() ? DigestToHex(digest) : "(not a digest)";
}

// What the fake coordinator has seen, in arrival order.
struct Record {
  std::vector<v1::AcquireRequest> acquires;
  std::vector<SteadyClock::time_point> acquire_times;
  std::vector<v1::HeartbeatRequest> heartbeats;
  int lost_reported_at = -1;   // Index of the first heartbeat told of a lost lease.
  int drain_reported_at = -1;  // Index of the first heartbeat told to drain.
  std::vector<v1::CompleteRequest> completes;  // Accepted ones.
  int completes_refused = 0;
  std::vector<v1::FailRequest> fails;
  std::vector<std::string> downloads;  // Digests asked for (raw bytes).
  std::vector<std::string> uploads;    // Digests stored by Upload (raw bytes).
  bool released = false;               // Release() was called.
};

// A coordinator's WorkerService and BlobService for one worker: Acquire
// follows a script, heartbeats report the leases and drains the test asks
// for, blobs live in memory. Thread-safe.
class FakeCoordinator final : public v1::WorkerService::Service,
                              public v1::BlobService::Service {
 public:
  using Condition = std::function<bool(const Record&)>;

  ~FakeCoordinator() override { Shutdown(); }

  // Serves on `address` ("127.0.0.1:0": any free port). False if it cannot.
  bool Start(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(static_cast<v1::WorkerService::Service*>(this));
    builder.RegisterService(static_cast<v1::BlobService::Service*>(this));
    server_ = builder.BuildAndStart();
    return server_ != nullptr && port_ != 0;
  }

  // Opens every gated download (they fail) and stops serving.
  void Shutdown() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      shutting_down_ = true;
    }
    changed_.notify_all();
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
      server_->Wait();
      server_.reset();
    }
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  // Stores `data` as a blob; returns its digest (raw bytes).
  std::string PutBlob(const std::string& data) {
    std::string digest = DigestBytes(Sha256Of(data));
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest] = data;
    return digest;
  }

  // The blob stored under `digest`, or false.
  bool GetBlob(const std::string& digest, std::string* data) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = blobs_.find(digest);
    if (it == blobs_.end()) return false;
    *data = it->second;
    return true;
  }

  // The next Acquire calls get these answers, in order; once they are used
  // up, an answer without jobs.
  void ScriptJobs(std::vector<v1::Job> jobs) {
    v1::AcquireResponse response;
    response.set_lease_seconds(kLeaseSeconds);
    for (v1::Job& job : jobs) *response.add_jobs() = std::move(job);
    Script(grpc::Status::OK, response);
  }
  void ScriptDrain() {
    v1::AcquireResponse response;
    response.set_lease_seconds(kLeaseSeconds);
    response.set_drain(true);
    Script(grpc::Status::OK, response);
  }
  void ScriptError(grpc::Status status) { Script(status, v1::AcquireResponse()); }

  // Heartbeats listing `job_id` are told its lease is lost.
  void LoseLease(const std::string& job_id) {
    std::lock_guard<std::mutex> lock(mu_);
    lost_jobs_.insert(job_id);
  }
  // Heartbeats listing a job are told to drain.
  void DrainOnHeartbeat() {
    std::lock_guard<std::mutex> lock(mu_);
    drain_on_heartbeat_ = true;
  }
  // The next `n` Complete calls get UNAVAILABLE.
  void RefuseCompletes(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_completes_ = n;
  }
  // The next `n` Download and the next `n` Upload calls get UNAVAILABLE (a
  // coordinator restarting).
  void RefuseTransfers(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_downloads_ = refuse_uploads_ = n;
  }
  // The next `n` Upload calls get RESOURCE_EXHAUSTED (a coordinator whose
  // disk has no room for them).
  void RefuseUploadsForRoom(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    refuse_uploads_for_room_ = n;
  }
  // Downloads (recorded first) wait until `condition` holds.
  void GateDownloads(Condition condition) {
    std::lock_guard<std::mutex> lock(mu_);
    download_gate_ = std::move(condition);
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      record_.released = true;
    }
    changed_.notify_all();
  }

  // Waits until `condition` holds; false after kPatience.
  bool WaitFor(const Condition& condition) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, kPatience, [&] { return condition(record_); });
  }

  Record Snapshot() {
    std::lock_guard<std::mutex> lock(mu_);
    return record_;
  }

  // WorkerService.
  grpc::Status Acquire(grpc::ServerContext*, const v1::AcquireRequest* request,
                       v1::AcquireResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    record_.acquires.push_back(*request);
    record_.acquire_times.push_back(SteadyClock::now());
    changed_.notify_all();
    if (script_.empty()) {
      response->set_lease_seconds(kLeaseSeconds);
      return grpc::Status::OK;
    }
    auto [status, scripted] = script_.front();
    script_.pop_front();
    *response = scripted;
    return status;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    record_.heartbeats.push_back(*request);
    const int index = static_cast<int>(record_.heartbeats.size()) - 1;
    for (const std::string& id : request->job_ids()) {
      if (lost_jobs_.count(id) == 0) continue;
      response->add_lost_job_ids(id);
      if (record_.lost_reported_at < 0) record_.lost_reported_at = index;
    }
    if (drain_on_heartbeat_ && request->job_ids_size() > 0) {
      response->set_drain(true);
      if (record_.drain_reported_at < 0) record_.drain_reported_at = index;
    }
    changed_.notify_all();
    return grpc::Status::OK;
  }

  grpc::Status Complete(grpc::ServerContext*, const v1::CompleteRequest* request,
                        v1::CompleteResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    changed_.notify_all();
    if (refuse_completes_ > 0) {
      --refuse_completes_;
      ++record_.completes_refused;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: not now");
    }
    record_.completes.push_back(*request);
    if (blobs_.count(request->package_digest()) == 0) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "fake: package not uploaded");
    }
    return grpc::Status::OK;
  }

  grpc::Status Fail(grpc::ServerContext*, const v1::FailRequest* request, v1::FailResponse*) override {
    std::lock_guard<std::mutex> lock(mu_);
    record_.fails.push_back(*request);
    changed_.notify_all();
    return grpc::Status::OK;
  }

  // BlobService.
  grpc::Status FindMissing(grpc::ServerContext*, const v1::FindMissingRequest* request,
                           v1::FindMissingResponse* response) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const std::string& digest : request->digests()) {
      if (blobs_.count(digest) == 0) response->add_missing()->set_digest(digest);
    }
    return grpc::Status::OK;
  }

  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<v1::UploadChunk>* reader,
                      v1::UploadResponse* response) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (refuse_uploads_ > 0) {
        --refuse_uploads_;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: restarting");
      }
      if (refuse_uploads_for_room_ > 0) {
        --refuse_uploads_for_room_;
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "fake: the disk is full");
      }
    }
    v1::UploadChunk chunk;
    std::string digest, data;
    uint64_t size = 0;
    for (bool first = true; reader->Read(&chunk); first = false) {
      if (first) {
        digest = chunk.digest();
        size = chunk.size();
        if (chunk.offset() != 0) {
          return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "fake: nothing to resume");
        }
      }
      data += chunk.data();
    }
    if (data.size() != size || DigestBytes(Sha256Of(data)) != digest) {
      return grpc::Status(grpc::StatusCode::DATA_LOSS, "fake: upload does not match its digest");
    }
    std::lock_guard<std::mutex> lock(mu_);
    blobs_[digest] = data;
    record_.uploads.push_back(digest);
    changed_.notify_all();
    response->set_committed_size(size);
    return grpc::Status::OK;
  }

  grpc::Status Download(grpc::ServerContext*, const v1::DownloadRequest* request,
                        grpc::ServerWriter<v1::DownloadChunk>* writer) override {
    std::string data;
    {
      std::unique_lock<std::mutex> lock(mu_);
      record_.downloads.push_back(request->digest());
      changed_.notify_all();
      if (download_gate_ && !changed_.wait_for(lock, kPatience, [&] {
            return shutting_down_ || download_gate_(record_);
          })) {
        return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "fake: download gate stayed shut");
      }
      if (shutting_down_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: shutting down");
      if (refuse_downloads_ > 0) {
        --refuse_downloads_;
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: restarting");
      }
      auto it = blobs_.find(request->digest());
      if (it == blobs_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat("fake: no blob ", HexOf(request->digest())));
      }
      data = it->second;
    }
    if (request->offset() > data.size()) {
      return grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "fake: offset past the end");
    }
    v1::DownloadChunk chunk;
    chunk.set_size(data.size());
    size_t at = request->offset();
    do {  // At least one message, even for an empty blob.
      chunk.set_data(data.substr(at, 1 << 20));
      at += chunk.data().size();
      if (!writer->Write(chunk)) break;
      chunk.clear_size();
    } while (at < data.size());
    return grpc::Status::OK;
  }

 private:
  void Script(grpc::Status status, v1::AcquireResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.emplace_back(std::move(status), std::move(response));
  }

  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mu_;
  std::condition_variable changed_;  // Notified whenever record_ changes.
  Record record_;
  bool shutting_down_ = false;
  std::deque<std::pair<grpc::Status, v1::AcquireResponse>> script_;
  std::map<std::string, std::string> blobs_;  // By digest (raw bytes).
  int refuse_downloads_ = 0, refuse_uploads_ = 0, refuse_uploads_for_room_ = 0;
  std::set<std::string> lost_jobs_;
  bool drain_on_heartbeat_ = false;
  int refuse_completes_ = 0;
  Condition download_gate_;
};

// A TCP listener that accepts connections and resets them: a coordinator that
// is down (calls fail UNAVAILABLE), but one that sees the worker knock.
class ResettingListener {
 public:
  ResettingListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 16) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      return;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ResettingListener() { Close(); }

  int port() const { return port_; }  // 0 if it could not listen.
  int accepted() const { return accepted_; }
  void Close() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int connection = accept(fd_, nullptr, nullptr);
      if (connection < 0) continue;
      linger reset{1, 0};  // Close with RST: no TIME_WAIT holding the port.
      setsockopt(connection, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
      close(connection);
      ++accepted_;
    }
  }

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

// Release-like bytes: text with repeats and some binary, from a fixed seed.
inline std::string ReleaseBytes(uint64_t seed, size_t n) {
  static const char* kWords[] = {"release ", "patch ", "update ", "farm ", "\n", "0x1f "};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) {
    if (rng() % 8 == 0) {
      out.push_back(static_cast<char>(rng()));
    } else {
      out += kWords[rng() % 6];
    }
  }
  out.resize(n);
  return out;
}

// `data` with a few edits, from a fixed seed.
inline std::string NextVersion(uint64_t seed, std::string data) {
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 6; ++i) {
    size_t at = rng() % data.size();
    if (i % 2 == 0) {
      data.insert(at, ReleaseBytes(rng(), 100));
    } else {
      data.erase(at, 50);
    }
  }
  return data;
}

inline Manifest OneFile(const std::string& data) {
  ManifestEntry entry;
  entry.path = "game";
  entry.type = EntryType::kFile;
  entry.mode = 0755;
  entry.size = data.size();
  entry.digest = Sha256Of(data);
  return {entry};
}

inline v1::Job MakeJob(const std::string& id, uint64_t lease, v1::ReleaseKind kind, const Manifest& old_tree,
                const Manifest& new_tree) {
  v1::Job job;
  job.set_job_id(id);
  job.set_lease_id(lease);
  job.set_kind(kind);
  ToProto(old_tree, job.mutable_old_manifest());
  job.set_old_manifest_digest(DigestBytes(ManifestDigest(old_tree)));
  ToProto(new_tree, job.mutable_new_manifest());
  job.set_new_manifest_digest(DigestBytes(ManifestDigest(new_tree)));
  return job;
}

// A file job from `old_data` to `new_data` (the blobs are not stored).
inline v1::Job FileJob(const std::string& id, uint64_t lease, const std::string& old_data,
                const std::string& new_data) {
  return MakeJob(id, lease, v1::RELEASE_KIND_FILE, OneFile(old_data), OneFile(new_data));
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int runs = 0;  // A fresh directory for each run (--gtest_repeat).
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "-", ++runs);
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0) << dir_;
  }

  // Whatever a test left running: the worker stops, gated downloads fail.
  void TearDown() override {
    if (worker_ != nullptr) worker_->Stop();
    fake_.Shutdown();
    if (run_.valid()) run_.wait();
  }

  void StartFake() { ASSERT_TRUE(fake_.Start("127.0.0.1:0")); }

  // Runs one file job (lease `lease_id`) on a worker of one job, which then
  // drains, with the refusals scripted on the fake before: the job must
  // complete under its lease with no Fail (no attempt lost).
  void ExpectOneFileJobCompletes(uint64_t lease_id) {
    const std::string old_data = ReleaseBytes(lease_id, 50000);
    const std::string new_data = NextVersion(lease_id + 1, old_data);
    fake_.PutBlob(old_data);
    fake_.PutBlob(new_data);
    fake_.ScriptJobs({FileJob("job-1", lease_id, old_data, new_data)});
    fake_.ScriptDrain();
    ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
    ASSERT_TRUE(RunResult().ok());
    Record record = fake_.Snapshot();
    EXPECT_TRUE(record.fails.empty()) << record.fails[0].error();
    ASSERT_EQ(record.completes.size(), 1u);
    EXPECT_EQ(record.completes[0].lease_id(), lease_id);
  }

  // Runs a worker for `address` (default: the fake) on a thread.
  void StartWorker(int jobs, std::string address = "", uint64_t job_memory = 0,
                   uint64_t cache_bytes = 0, std::string worker_id = kWorkerId) {
    WorkerOptions options;
    options.diff.delta.max_memory = job_memory;
    if (cache_bytes > 0) options.cache_bytes = cache_bytes;
    options.coordinator = address.empty() ? fake_.address() : address;
    options.cache_dir = dir_ + "/cache";
    options.jobs = jobs;
    options.worker_id = worker_id;
    options.diff.delta.threads = 1;
    absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Create(options);
    ASSERT_TRUE(worker.ok()) << worker.status();
    worker_ = std::move(*worker);
    run_ = std::async(std::launch::async, [w = worker_.get()] { return w->Run(); });
  }

  // Waits for Run() to return and gives its status (DeadlineExceeded if it
  // does not return within kPatience).
  absl::Status RunResult() {
    if (run_.wait_for(kPatience) != std::future_status::ready) {
      return absl::DeadlineExceededError("the worker did not return");
    }
    return run_.get();
  }

  std::string dir_;
  FakeCoordinator fake_;
  std::unique_ptr<Worker> worker_;
  std::future<absl::Status> run_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_WORKER_WORKER_TESTING_H_
