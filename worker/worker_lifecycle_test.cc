// The worker's life against a fake coordinator (worker_testing.h): lost
// leases, failing jobs, drains (from Acquire, from a heartbeat, from Stop())
// and a coordinator that is unavailable or not yet started. The only timing
// checked is a lower bound on backoff, which a slow machine cannot break.
#include "gtest/gtest.h"
#include "worker/worker_testing.h"

namespace patchfarm {
namespace {

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

// A job whose lease ran out while it ran may be leased to the same worker
// again: the earlier run is dropped (it aborted the worker before), and the
// result goes out under the new lease only.
TEST_F(WorkerTest, AJobLeasedAgainWhileItRunsIsRunOnceMore) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(27, 50000), new_data = NextVersion(28, old_data);
  fake_.PutBlob(old_data);
  fake_.PutBlob(new_data);
  fake_.GateDownloads([](const Record& r) { return r.acquires.size() >= 3; });
  fake_.ScriptJobs({FileJob("job-1", 5, old_data, new_data)});
  fake_.ScriptJobs({FileJob("job-1", 6, old_data, new_data)});
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/3));
  ASSERT_TRUE(fake_.WaitFor([](const Record& r) { return r.acquires.size() >= 3; }));
  worker_->Stop();
  ASSERT_TRUE(RunResult().ok());

  Record record = fake_.Snapshot();
  ASSERT_EQ(record.completes.size(), 1u);
  EXPECT_EQ(record.completes[0].job_id(), "job-1");
  EXPECT_EQ(record.completes[0].lease_id(), 6u);
  EXPECT_TRUE(record.fails.empty());
}

// A job that fails while the worker stops (SIGTERM) is still reported.
TEST_F(WorkerTest, AFailureDuringStopIsReported) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  const std::string old_data = ReleaseBytes(29, 30000), new_data = NextVersion(30, old_data);
  fake_.PutBlob(old_data);  // The new file is missing on the coordinator.
  fake_.GateDownloads([](const Record& r) { return r.released; });
  fake_.ScriptJobs({FileJob("job-1", 7, old_data, new_data)});
  ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1));
  ASSERT_TRUE(fake_.WaitFor([](const Record& r) { return !r.downloads.empty(); }));
  worker_->Stop();
  fake_.Release();
  ASSERT_TRUE(RunResult().ok());
  Record record = fake_.Snapshot();
  ASSERT_EQ(record.fails.size(), 1u);
  EXPECT_EQ(record.fails[0].lease_id(), 7u);
}

// Downloads and the upload of a job while the coordinator restarts are
// retried (they resume): the job completes, not costing an attempt.
TEST_F(WorkerTest, TransfersAreRetriedWhileTheCoordinatorRestarts) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  fake_.RefuseTransfers(2);
  ExpectOneFileJobCompletes(/*lease_id=*/8);
}

// A result the coordinator has no room for yet is kept and sent again, not
// failed: computing it again elsewhere would meet the same full disk, and
// three such failures failed the job for good.
TEST_F(WorkerTest, AResultIsKeptWhileTheCoordinatorsDiskIsFull) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  fake_.RefuseUploadsForRoom(2);
  ExpectOneFileJobCompletes(/*lease_id=*/9);
}

// Without --id, each start is another worker (a drain is kept per id; in a
// container the pid is 1 and the hostname stays across restarts).
TEST_F(WorkerTest, EachStartWithoutAnIdIsAnotherWorker) {
  ASSERT_NO_FATAL_FAILURE(StartFake());
  std::vector<std::string> ids;
  for (int start = 0; start < 2; ++start) {
    fake_.ScriptDrain();
    ASSERT_NO_FATAL_FAILURE(StartWorker(/*jobs=*/1, "", 0, 0, /*worker_id=*/""));
    ASSERT_TRUE(RunResult().ok());
    ids.push_back(fake_.Snapshot().acquires.back().worker_id());
    worker_.reset();  // Its cache's index is open.
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[0].find(absl::StrCat("-", getpid(), "-")), std::string::npos) << ids[0];
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
