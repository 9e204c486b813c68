// The worker's job loop against a fake coordinator served in-process over real
// gRPC on loopback: acquiring a job, fetching its blobs, computing a package
// that applies bit-exact, uploading it and completing it with the job's lease;
// lost leases, failing jobs, drains (from Acquire, from a heartbeat, from
// Stop()) and a coordinator that is unavailable or not yet started.
//
// The fake records every call. Tests hold a job in flight by gating the fake's
// Download on a recorded condition, and wait for what they expect with a
// generous deadline; the only timing checked is a lower bound on backoff,
// which a slow machine cannot break.
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
namespace {

using SteadyClock = std::chrono::steady_clock;

// Every wait for a condition gives up after this: a failure, not a hang.
constexpr auto kPatience = std::chrono::seconds(60);
// The lease the fake hands out; the worker heartbeats every third of it.
constexpr double kLeaseSeconds = 0.3;
constexpr char kWorkerId[] = "worker-1";

std::string HexOf(const std::string& raw_digest) {
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
std::string ReleaseBytes(uint64_t seed, size_t n) {
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
std::string NextVersion(uint64_t seed, std::string data) {
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

Manifest OneFile(const std::string& data) {
  ManifestEntry entry;
  entry.path = "game";
  entry.type = EntryType::kFile;
  entry.mode = 0755;
  entry.size = data.size();
  entry.digest = Sha256Of(data);
  return {entry};
}

v1::Job MakeJob(const std::string& id, uint64_t lease, v1::ReleaseKind kind, const Manifest& old_tree,
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
v1::Job FileJob(const std::string& id, uint64_t lease, const std::string& old_data,
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

  // Runs a worker for `address` (default: the fake) on a thread.
  void StartWorker(int jobs, std::string address = "", uint64_t job_memory = 0) {
    WorkerOptions options;
    options.diff.delta.max_memory = job_memory;
    options.coordinator = address.empty() ? fake_.address() : address;
    options.cache_dir = dir_ + "/cache";
    options.jobs = jobs;
    options.worker_id = kWorkerId;
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

TEST_F(WorkerTest, FileJobIsComputedUploadedAndCompletedWithItsLease) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(1, 200000);
  const std::string new_data = NextVersion(2, old_data);
  const std::string old_digest = fake_.PutBlob(old_data);
  const std::string new_digest = fake_.PutBlob(new_data);
  fake_.ScriptJobs({FileJob("job-1", 41, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_TRUE(record.fails.empty());
  ASSERT_EQ(record.acquires.size(), 2u);  // The job, then the drain.
  EXPECT_EQ(record.acquires[0].worker_id(), kWorkerId);
  EXPECT_EQ(record.acquires[0].max_jobs(), 1u);
  std::sort(record.downloads.begin(), record.downloads.end());
  std::vector<std::string> both = {old_digest, new_digest};
  std::sort(both.begin(), both.end());
  EXPECT_EQ(record.downloads, both);

  ASSERT_EQ(record.completes.size(), 1u);
  const v1::CompleteRequest& complete = record.completes[0];
  EXPECT_EQ(complete.worker_id(), kWorkerId);
  EXPECT_EQ(complete.job_id(), "job-1");
  EXPECT_EQ(complete.lease_id(), 41u);
  EXPECT_EQ(record.uploads, std::vector<std::string>{complete.package_digest()});
  std::string patch;
  ASSERT_TRUE(fake_.GetBlob(complete.package_digest(), &patch)) << "the package was not uploaded";
  EXPECT_EQ(complete.package_size(), patch.size());
  EXPECT_LT(patch.size(), new_data.size() / 10);  // A delta, not a copy.

  std::string rebuilt;
  StringSink sink(&rebuilt);
  absl::Status applied = Apply(old_data, StringSource(patch), &sink);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_TRUE(rebuilt == new_data) << "the patch does not rebuild the new file bit-exact";
  EXPECT_NE(worker_->MetricsText().find("patchfarm_worker_jobs_total{result=\"done\"} 1\n"),
            std::string::npos);
}

TEST_F(WorkerTest, FileJobOverItsJobMemoryIsDiffedInBoundedMemory) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(3, 3000000);
  const std::string new_data = NextVersion(4, old_data);
  const std::string newer_data = NextVersion(5, new_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.PutBlob(newer_data);
  // Two jobs from the same old, one after the other: the second finds old's
  // chunk index in the worker's index cache.
  fake_.ScriptJobs({FileJob("job-1", 41, old_data, new_data)});
  fake_.ScriptJobs({FileJob("job-2", 42, old_data, newer_data)});
  fake_.ScriptDrain();
  // 64 MiB: below what whole-file matching would take, even for 3 MB.
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1, "", uint64_t{64} << 20));
  ASSERT_TRUE(RunResult().ok());
  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    const std::string& expected = i == 0 ? new_data : newer_data;
    std::string patch;
    ASSERT_TRUE(fake_.GetBlob(record.completes[i].package_digest(), &patch));
    EXPECT_LT(patch.size(), expected.size() / 10);
    absl::StatusOr<PatchHeader> header = InspectPatch(StringSource(patch));
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->method, PatchMethod::kStreams);  // What bounded diff writes.
    std::string rebuilt;
    StringSink sink(&rebuilt);
    ASSERT_TRUE(Apply(old_data, StringSource(patch), &sink).ok());
    EXPECT_TRUE(rebuilt == expected) << "job " << i + 1;
  }
  const std::string metrics = worker_->MetricsText();
  EXPECT_NE(metrics.find("patchfarm_worker_index_cache_total{result=\"miss\"} 1\n"),
            std::string::npos) << metrics;
  EXPECT_NE(metrics.find("patchfarm_worker_index_cache_total{result=\"hit\"} 1\n"),
            std::string::npos) << metrics;
}

TEST_F(WorkerTest, TreeJobPackageRebuildsTheNewTree) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string base = ReleaseBytes(3, 50000);
  TreeSpec old_spec = {
      {"bin/game", {EntryType::kFile, 0755, base}},
      {"data/level1", {EntryType::kFile, 0644, ReleaseBytes(4, 20000)}},
      {"data/empty", {EntryType::kFile, 0644, ""}},
      {"README", {EntryType::kFile, 0644, "version 1\n"}},
      {"latest", {EntryType::kSymlink, 0, "", "bin/game"}},
  };
  TreeSpec new_spec = {
      {"bin/game", {EntryType::kFile, 0755, NextVersion(5, base)}},
      {"levels/level1", {EntryType::kFile, 0644, ReleaseBytes(4, 20000)}},  // Moved.
      {"data/empty", {EntryType::kFile, 0644, ""}},
      {"README", {EntryType::kFile, 0600, "version 2\n"}},
      {"latest", {EntryType::kSymlink, 0, "", "README"}},
  };
  const std::string old_root = dir_ + "/old", new_root = dir_ + "/new";
  ASSERT_TRUE(WriteTree(old_root, old_spec).ok());
  ASSERT_TRUE(WriteTree(new_root, new_spec).ok());
  const Manifest old_tree = ScanOrDie(old_root), new_tree = ScanOrDie(new_root);
  for (const auto& [root, tree] : {std::make_pair(old_root, &old_tree), std::make_pair(new_root, &new_tree)}) {
    for (const ManifestEntry& e : *tree) {
      if (e.type != EntryType::kFile) continue;
      absl::StatusOr<std::string> data = ReadFileToString(root + "/" + e.path);
      ASSERT_TRUE(data.ok()) << data.status();
      fake_.PutBlob(*data);
    }
  }
  fake_.ScriptJobs({MakeJob("tree-job", 7, v1::RELEASE_KIND_TREE, old_tree, new_tree)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_TRUE(record.fails.empty());
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "tree-job");
  EXPECT_EQ(record.completes[0].lease_id(), 7u);
  std::string bytes;
  ASSERT_TRUE(fake_.GetBlob(record.completes[0].package_digest(), &bytes));
  StringSource source(bytes);
  absl::StatusOr<Package> package = ReadPackage(source);
  ASSERT_TRUE(package.ok()) << package.status();
  const std::string out = dir_ + "/out";
  absl::Status applied = ApplyToNewTree(old_root, {PackageInput{"package", &source, &*package}}, out);
  ASSERT_TRUE(applied.ok()) << applied;
  EXPECT_EQ(DigestToHex(ManifestDigest(ScanOrDie(out))), DigestToHex(ManifestDigest(new_tree)));
}

TEST_F(WorkerTest, SecondJobFromTheSameOldReleaseUsesTheCachedBlob) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string v1_data = ReleaseBytes(6, 100000);
  const std::string v2_data = NextVersion(7, v1_data), v3_data = NextVersion(8, v1_data);
  const std::string v1_digest = fake_.PutBlob(v1_data);
  fake_.PutBlob(v2_data);
  fake_.PutBlob(v3_data);
  const v1::Job first = FileJob("job-a", 1, v1_data, v2_data);
  fake_.ScriptJobs({first});
  fake_.ScriptJobs({FileJob("job-b", 2, v1_data, v3_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 2u);
  EXPECT_EQ(std::count(record.downloads.begin(), record.downloads.end(), v1_digest), 1);
  EXPECT_EQ(record.downloads.size(), 3u);
  // Once it has worked from v1, the worker says so (the affinity hint).
  ASSERT_EQ(record.acquires.size(), 3u);
  EXPECT_EQ(record.acquires[0].cached_manifests_size(), 0);
  ASSERT_EQ(record.acquires[1].cached_manifests_size(), 1);
  EXPECT_EQ(record.acquires[1].cached_manifests(0), first.old_manifest_digest());
}

TEST_F(WorkerTest, JobWhoseLeaseIsLostIsAbandoned) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(9, 50000), new_data = NextVersion(10, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.LoseLease("job-1");
  // The job runs on only once a heartbeat has followed the one that reported
  // the loss: by then the worker has taken the loss in.
  fake_.GateDownloads([](const Record& r) {
    return r.lost_reported_at >= 0 && static_cast<int>(r.heartbeats.size()) > r.lost_reported_at + 1;
  });
  fake_.ScriptJobs({FileJob("job-1", 5, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_GE(record.lost_reported_at, 0);
  const v1::HeartbeatRequest& told = record.heartbeats[record.lost_reported_at];
  EXPECT_EQ(told.worker_id(), kWorkerId);
  EXPECT_EQ(std::vector<std::string>(told.job_ids().begin(), told.job_ids().end()),
            std::vector<std::string>{"job-1"});
  EXPECT_TRUE(record.completes.empty()) << "a lost job's result was reported";
  EXPECT_TRUE(record.fails.empty()) << "a lost job was reported failed";
  EXPECT_EQ(record.acquires.size(), 2u);
}

TEST_F(WorkerTest, FailingJobsAreReportedWithFail) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(11, 30000), new_data = NextVersion(12, old_data);
  fake_.PutBlob(old_data);  // The new file is missing on the coordinator.
  const std::string missing_hex = DigestToHex(Sha256Of(new_data));
  v1::Job two_files = FileJob("job-2", 22, old_data, old_data);
  *two_files.add_new_manifest() = two_files.new_manifest(0);
  two_files.mutable_new_manifest(1)->set_path("game2");
  fake_.ScriptJobs({FileJob("job-1", 11, old_data, new_data)});
  fake_.ScriptJobs({two_files});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_TRUE(record.completes.empty());
  ASSERT_EQ(record.fails.size(), 2u);
  EXPECT_EQ(record.fails[0].worker_id(), kWorkerId);
  EXPECT_EQ(record.fails[0].job_id(), "job-1");
  EXPECT_EQ(record.fails[0].lease_id(), 11u);
  EXPECT_NE(record.fails[0].error().find(missing_hex), std::string::npos) << record.fails[0].error();
  EXPECT_FALSE(record.fails[0].hand_back());
  EXPECT_EQ(record.fails[1].job_id(), "job-2");
  EXPECT_EQ(record.fails[1].lease_id(), 22u);
  EXPECT_NE(record.fails[1].error().find("one file on each side"), std::string::npos)
      << record.fails[1].error();
  EXPECT_NE(worker_->MetricsText().find("patchfarm_worker_jobs_total{result=\"failed\"} 2\n"),
            std::string::npos);
}

TEST_F(WorkerTest, DrainFromAcquireFinishesTheHeldJobAndReturns) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(13, 50000), new_data = NextVersion(14, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  // With room for two jobs the worker asks again while job-1 runs, and is
  // told to drain; job-1 goes on only after that.
  fake_.GateDownloads([](const Record& r) { return r.acquires.size() >= 2; });
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptDrain();
  fake_.ScriptJobs({FileJob("never", 4, old_data, new_data)});
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/2));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_EQ(record.acquires.size(), 2u) << "the worker asked for jobs after the drain";
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
  EXPECT_TRUE(record.fails.empty());
}

TEST_F(WorkerTest, DrainFromHeartbeatFinishesTheHeldJobAndReturns) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(15, 50000), new_data = NextVersion(16, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.DrainOnHeartbeat();
  fake_.GateDownloads([](const Record& r) {
    return r.drain_reported_at >= 0 && static_cast<int>(r.heartbeats.size()) > r.drain_reported_at + 1;
  });
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptJobs({FileJob("never", 4, old_data, new_data)});
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_EQ(record.acquires.size(), 1u) << "the worker asked for jobs after the drain";
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
}

TEST_F(WorkerTest, StopFinishesTheHeldJobAndReturns) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(17, 50000), new_data = NextVersion(18, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.GateDownloads([](const Record& r) { return r.released; });
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptJobs({FileJob("never", 4, old_data, new_data)});
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(fake_.WaitFor([](const Record& r) { return !r.downloads.empty(); }));
  worker_->Stop();
  fake_.Release();
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_EQ(record.acquires.size(), 1u) << "the worker asked for jobs after Stop()";
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
}

TEST_F(WorkerTest, UnavailableCoordinatorIsRetriedWithBackoff) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(19, 30000), new_data = NextVersion(20, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.ScriptError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: starting"));
  fake_.ScriptError(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake: starting"));
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_EQ(record.acquires.size(), 4u);
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
  // The worker slept 0.5 s, then 1 s, between attempts: lower bounds only.
  auto gap = [&](int i) {
    return std::chrono::duration<double>(record.acquire_times[i + 1] - record.acquire_times[i]).count();
  };
  EXPECT_GE(gap(0), 0.5);
  EXPECT_GE(gap(1), 1.0);
}

TEST_F(WorkerTest, CompleteIsRetriedWhileTheCoordinatorIsUnavailable) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(21, 30000), new_data = NextVersion(22, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.RefuseCompletes(2);
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  EXPECT_EQ(record.completes_refused, 2);
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].lease_id(), 3u);
  EXPECT_TRUE(record.fails.empty());
}

TEST_F(WorkerTest, CoordinatorThatStartsLateIsWaitedFor) {
  ResettingListener down;
  ASSERT_NE(down.port(), 0);
  const std::string address = absl::StrCat("127.0.0.1:", down.port());
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1, address));
  // The worker has knocked and been turned away; now the coordinator comes up
  // on the same port.
  const auto deadline = SteadyClock::now() + kPatience;
  while (down.accepted() == 0 && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(down.accepted(), 0);
  down.Close();
  const std::string old_data = ReleaseBytes(23, 30000), new_data = NextVersion(24, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.ScriptJobs({FileJob("job-1", 3, old_data, new_data)});
  fake_.ScriptDrain();
  ASSERT_TRUE(fake_.Start(address)) << "could not listen on " << address << " again";
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
}

}  // namespace
}  // namespace patchfarm
