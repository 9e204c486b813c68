// The coordinator's gRPC surface with real gRPC on loopback: malformed
// requests, unknown products, digest mismatches and oversized messages get
// clear status codes and change nothing.
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "absl/strings/str_cat.h"
#include "transfer/blob_transfer.h"
#include "common/byte_io.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "coordinator/token_auth.h"
#include "coordinator/server.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

// A file release of one file, `game`, whose blob is `digest` (32 bytes).
v1::SubmitRequest FileRelease(const std::string& version, const std::string& digest,
                              uint64_t size) {
  v1::SubmitRequest r;
  r.mutable_release()->set_product("game");
  r.mutable_release()->set_platform("linux-x64");
  r.mutable_release()->set_version(version);
  r.set_kind(v1::RELEASE_KIND_FILE);
  v1::ManifestEntry* e = r.add_manifest();
  e->set_path("game");
  e->set_type(1);
  e->set_size(size);
  e->set_digest(digest);
  return r;
}

class FarmGrpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.plaintext = true;
    options.data_dir = std::string(std::getenv("TEST_TMPDIR")) + "/farm-" +
                       ::testing::UnitTest::GetInstance()->current_test_info()->name();
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(128 << 20);
    auto channel = grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args);
    blobs_ = v1::BlobService::NewStub(channel);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    workers_ = v1::WorkerService::NewStub(channel);
  }

  v1::SubmitRequest Release(const std::string& digest) { return FileRelease("1.0", digest, 5); }

  std::unique_ptr<CoordinatorServer> server_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  std::unique_ptr<v1::WorkerService::Stub> workers_;
};

TEST_F(FarmGrpcTest, UploadWithWrongBytesIsDataLoss) {
  Digest claimed = Sha256Of("hello");
  grpc::ClientContext context;
  v1::UploadResponse response;
  auto writer = blobs_->Upload(&context, &response);
  v1::UploadChunk chunk;
  chunk.set_digest(DigestBytes(claimed));
  chunk.set_size(5);
  chunk.set_data("HELLO");
  writer->Write(chunk);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DATA_LOSS) << status.error_message();
  // Not stored: a release naming it is refused.
  grpc::ClientContext submit_context;
  v1::SubmitResponse submitted;
  status = coordinator_->Submit(&submit_context, Release(DigestBytes(claimed)), &submitted);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("not uploaded"), std::string::npos);
}

// A worker's result sent from its scratch file: an interrupted upload of it
// is resumed, not restarted; a stored one is not sent again; bytes that are
// not the digest's are refused.
TEST_F(FarmGrpcTest, UploadSourceResumesAndIsChecked) {
  std::string bytes(3 << 20, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>((i * 131) >> 7);
  const Digest digest = Sha256Of(bytes);
  {  // Cut off after its first MiB: the coordinator keeps that much.
    grpc::ClientContext context;
    v1::UploadResponse response;
    auto writer = blobs_->Upload(&context, &response);
    v1::UploadChunk chunk;
    chunk.set_digest(DigestBytes(digest));
    chunk.set_size(bytes.size());
    chunk.set_data(bytes.substr(0, 1 << 20));
    writer->Write(chunk);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::DATA_LOSS);
  }
  StringSource source(bytes);
  UploadStats stats;
  ASSERT_TRUE(UploadSourceIfMissing(blobs_.get(), digest, source, &stats).ok());
  EXPECT_EQ(stats.uploaded, 1u);
  EXPECT_EQ(stats.bytes_sent, bytes.size() - (1 << 20));
  UploadStats again;
  ASSERT_TRUE(UploadSourceIfMissing(blobs_.get(), digest, source, &again).ok());
  EXPECT_EQ(again.uploaded, 0u);
  EXPECT_EQ(again.bytes_sent, 0u);

  StringSource forged("these are not the bytes");
  absl::Status status = UploadSourceIfMissing(blobs_.get(), Sha256Of("the bytes"), forged);
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

// A blob that FindMissing reports stored is about to be named (by a submit, a
// result): the hourly orphan pass must not take it as a week old.
TEST_F(FarmGrpcTest, FindMissingRenewsAStoredBlob) {
  const Digest digest = Sha256Of("hello");
  StringSource source("hello");
  ASSERT_TRUE(UploadSourceIfMissing(blobs_.get(), digest, source).ok());
  const std::string hex = DigestToHex(digest);
  const std::string path = absl::StrCat(std::getenv("TEST_TMPDIR"), "/farm-",
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                                        "/blobs/", hex.substr(0, 2), "/", hex);
  const time_t long_ago = time(nullptr) - 10 * 24 * 3600;
  const struct timespec times[2] = {{long_ago, 0}, {long_ago, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
  grpc::ClientContext context;
  v1::FindMissingRequest find;
  find.add_digests(DigestBytes(digest));
  v1::FindMissingResponse missing;
  ASSERT_TRUE(blobs_->FindMissing(&context, find, &missing).ok());
  EXPECT_EQ(missing.missing_size(), 0);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_GT(st.st_mtime, time(nullptr) - 3600) << "still dated 10 days ago";
}

// An upload that would leave the coordinator's disk without the room it
// keeps free is refused before a byte is stored.
TEST(FarmGrpcDiskTest, UploadsThatWouldFillTheDiskAreRefused) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/farm-full-disk";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  struct statvfs st;
  ASSERT_EQ(statvfs(dir.c_str(), &st), 0);
  const uint64_t free = uint64_t{st.f_bavail} * st.f_frsize;
  const uint64_t used = uint64_t{st.f_blocks} * st.f_frsize - free;
  if (used < (uint64_t{2} << 30)) GTEST_SKIP() << "needs a disk with 2 GiB in use";
  // Room that may be made later (RESOURCE_EXHAUSTED: a worker waits), and
  // room no disk of this size could ever make (INVALID_ARGUMENT: for good).
  for (const auto& [min_free, code] :
       {std::pair<uint64_t, absl::StatusCode>{free + (uint64_t{1} << 30),
                                              absl::StatusCode::kResourceExhausted},
        {uint64_t{1} << 60, absl::StatusCode::kInvalidArgument}}) {
    ServerOptions options;
    options.plaintext = true;
    options.data_dir = dir + "/" + std::to_string(static_cast<int>(code));
    options.min_free_disk_bytes = min_free;
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
    auto blobs = v1::BlobService::NewStub(channel);
    StringSource source("a build");
    absl::Status status = UploadSourceIfMissing(blobs.get(), Sha256Of("a build"), source);
    EXPECT_EQ(status.code(), code) << status;
    EXPECT_NE(status.message().find("keeps"), absl::string_view::npos) << status;
    EXPECT_FALSE((*server)->blobs()->Has(Sha256Of("a build")));
  }
}

constexpr uint64_t kGiB = uint64_t{1} << 30;

// A coordinator (in TEST_TMPDIR/`name`) whose disk has room for 3 GiB of
// uploads, promised 1 GiB at a time; null if the disk has under 6 GiB free.
// Sizes in the tests leave half a GiB either way: other tests write to this
// disk meanwhile.
std::unique_ptr<CoordinatorServer> StartWithRoomFor3GiB(
    const std::string& name, absl::Duration stall_patience = absl::Minutes(2)) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
  EXPECT_EQ(mkdir(dir.c_str(), 0755), 0);
  struct statvfs st;
  EXPECT_EQ(statvfs(dir.c_str(), &st), 0);
  const uint64_t free = uint64_t{st.f_bavail} * st.f_frsize;
  if (free < 6 * kGiB) return nullptr;
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = dir;
  options.min_free_disk_bytes = free - 3 * kGiB;
  options.upload_room_window = kGiB;
  options.stall_patience = stall_patience;
  auto server = CoordinatorServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// The first chunk (one byte) of an upload of a blob of `size`.
v1::UploadChunk FirstChunk(const std::string& name, uint64_t size) {
  v1::UploadChunk chunk;
  chunk.set_digest(DigestBytes(Sha256Of(name)));
  chunk.set_size(size);
  chunk.set_data("x");
  return chunk;
}

// An upload of a blob of `size` that sends its first byte and ends: the
// status says whether it was refused for room, or accepted and cut short
// (DATA_LOSS).
grpc::Status UploadOneByte(v1::BlobService::Stub* blobs, const std::string& name, uint64_t size) {
  grpc::ClientContext context;
  v1::UploadResponse response;
  auto upload = blobs->Upload(&context, &response);
  upload->Write(FirstChunk(name, size));
  upload->WritesDone();
  return upload->Finish();
}

// Uploads under way count for the room promised to them: two at once cannot
// each take the room only one of them has.
TEST(FarmGrpcDiskTest, UploadsUnderWayCountAgainstTheRoom) {
  std::unique_ptr<CoordinatorServer> server = StartWithRoomFor3GiB("farm-promised");
  if (server == nullptr) GTEST_SKIP() << "needs 6 GiB free";
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto blobs = v1::BlobService::NewStub(channel);
  grpc::ClientContext first_context;
  v1::UploadResponse first_response;
  auto first = blobs->Upload(&first_context, &first_response);
  ASSERT_TRUE(first->Write(FirstChunk("first", 2 * kGiB)));  // Promised its first GiB.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const grpc::Status refused = UploadOneByte(blobs.get(), "second", 5 * kGiB / 2);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_NE(refused.error_message().find("promised"), std::string::npos) << refused.error_message();
  first->WritesDone();
  EXPECT_EQ(first->Finish().error_code(), grpc::StatusCode::DATA_LOSS);  // Cut short.
}

// A client that opens an upload and stops sending answers every keepalive
// ping: it holds a window of room, not all it declared, its call is
// cancelled after the stall patience, and that room goes back.
TEST(FarmGrpcDiskTest, AStalledUploadIsCancelledAndGivesBackItsRoom) {
  std::unique_ptr<CoordinatorServer> server =
      StartWithRoomFor3GiB("farm-stalled", /*stall_patience=*/absl::Seconds(1));
  if (server == nullptr) GTEST_SKIP() << "needs 6 GiB free";
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  auto blobs = v1::BlobService::NewStub(channel);
  grpc::ClientContext stalled_context;  // Its own deadline would end it as DEADLINE_EXCEEDED.
  stalled_context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::UploadResponse stalled_response;
  auto stalled = blobs->Upload(&stalled_context, &stalled_response);
  ASSERT_TRUE(stalled->Write(FirstChunk("stalled", 2 * kGiB)));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // Its room promised.
  EXPECT_EQ(UploadOneByte(blobs.get(), "second", 5 * kGiB / 2).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // It holds a window (1 GiB), not all it declared: 1.5 GiB fit beside it.
  EXPECT_EQ(UploadOneByte(blobs.get(), "smaller", 3 * kGiB / 2).error_code(),
            grpc::StatusCode::DATA_LOSS);
  const grpc::Status ended = stalled->Finish();  // Without WritesDone: the server ends it.
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::CANCELLED) << ended.error_message();
  // Its handler ends just after: its room comes back within moments.
  grpc::Status third;
  for (int tries = 0; tries < 50; ++tries) {
    third = UploadOneByte(blobs.get(), "third", 5 * kGiB / 2);
    if (third.error_code() != grpc::StatusCode::RESOURCE_EXHAUSTED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(third.error_code(), grpc::StatusCode::DATA_LOSS) << "room given back: accepted, then cut short";
}

// A client that stops reading a download is cut off after the patience.
TEST(FarmGrpcStallTest, AStalledDownloadIsCancelled) {
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = std::string(std::getenv("TEST_TMPDIR")) + "/farm-stalled-download";
  options.stall_patience = absl::Seconds(1);
  auto server = CoordinatorServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials());
  auto blobs = v1::BlobService::NewStub(channel);
  std::string bytes(48 << 20, '\0');  // More than gRPC's windows buffer.
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 2654435761u >> 24);
  const Digest digest = Sha256Of(bytes);
  ASSERT_TRUE(UploadSourceIfMissing(blobs.get(), digest, StringSource(bytes)).ok());
  grpc::ClientContext context;  // Its own deadline would end it as DEADLINE_EXCEEDED.
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::DownloadRequest request;
  request.set_digest(DigestBytes(digest));
  auto download = blobs->Download(&context, request);
  v1::DownloadChunk chunk;
  ASSERT_TRUE(download->Read(&chunk));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // Stops reading.
  uint64_t got = chunk.data().size();
  while (download->Read(&chunk)) got += chunk.data().size();
  EXPECT_LT(got, bytes.size());
  EXPECT_EQ(download->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(FarmGrpcTest, MalformedBlobRequests) {
  grpc::ClientContext c1;
  v1::FindMissingRequest find;
  find.add_digests("short");
  v1::FindMissingResponse missing;
  EXPECT_EQ(blobs_->FindMissing(&c1, find, &missing).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext c2;
  v1::DownloadRequest download;
  download.set_digest(DigestBytes(Sha256Of("never uploaded")));
  auto reader = blobs_->Download(&c2, download);
  v1::DownloadChunk chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext c3;
  v1::UploadResponse response;
  auto writer = blobs_->Upload(&c3, &response);
  v1::UploadChunk big;
  big.set_digest(DigestBytes(Sha256Of("x")));
  big.set_size(4 << 20);
  big.set_data(std::string(2 << 20, 'x'));
  writer->Write(big);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A blob over the store's limit: refused for good (not a matter of room,
  // which a worker would wait for), nothing stored.
  grpc::ClientContext c4;
  auto over = blobs_->Upload(&c4, &response);
  v1::UploadChunk huge;
  huge.set_digest(DigestBytes(Sha256Of("over the limit")));
  huge.set_size(kMaxBlobBytes + 1);
  huge.set_data("x");
  over->Write(huge);
  over->WritesDone();
  grpc::Status refused = over->Finish();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << refused.error_message();
  EXPECT_NE(refused.error_message().find("over the limit"), std::string::npos);
  EXPECT_FALSE(server_->blobs()->Has(Sha256Of("over the limit")));
  EXPECT_EQ(server_->blobs()->ReceivedBytes(Sha256Of("over the limit")), 0u);
}

TEST_F(FarmGrpcTest, MalformedAndUnknownCoordinatorRequests) {
  auto digest = DigestBytes(Sha256Of("hello"));
  v1::SubmitRequest bad_path = Release(digest);
  bad_path.mutable_manifest(0)->set_path("/etc/passwd");
  grpc::ClientContext c1;
  v1::SubmitResponse submitted;
  EXPECT_EQ(coordinator_->Submit(&c1, bad_path, &submitted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  v1::SubmitRequest no_kind = Release(digest);
  no_kind.set_kind(v1::RELEASE_KIND_UNSPECIFIED);
  grpc::ClientContext c2;
  EXPECT_EQ(coordinator_->Submit(&c2, no_kind, &submitted).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext c3;
  v1::OneOffRequest request;
  request.set_product("nosuch");
  request.set_platform("linux-x64");
  request.set_from_version("1");
  request.set_to_version("2");
  v1::OneOffResponse one_off;
  EXPECT_EQ(coordinator_->RequestPatch(&c3, request, &one_off).error_code(),
            grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext c4;
  v1::WatchRequest watch;
  watch.set_release_id("nosuch/x/y/1");
  auto reader = coordinator_->Watch(&c4, watch);
  v1::WatchResponse progress;
  while (reader->Read(&progress)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(FarmGrpcTest, WorkerRequestsForUnknownJobsOrStaleLeases) {
  auto package = DigestBytes(Sha256Of("hello"));
  grpc::ClientContext c1;
  v1::CompleteRequest complete;
  complete.set_worker_id("w");
  complete.set_job_id("nosuch");
  complete.set_package_digest(package);
  v1::CompleteResponse completed;
  EXPECT_EQ(workers_->Complete(&c1, complete, &completed).error_code(),
            grpc::StatusCode::NOT_FOUND);  // No such job (nor package).
  grpc::ClientContext c2;
  v1::FailRequest fail;
  fail.set_worker_id("w");
  fail.set_job_id("nosuch");
  v1::FailResponse failed;
  EXPECT_EQ(workers_->Fail(&c2, fail, &failed).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  grpc::ClientContext c3;
  v1::AcquireRequest acquire;
  acquire.set_worker_id("bad id with spaces");
  v1::AcquireResponse acquired;
  EXPECT_EQ(workers_->Acquire(&c3, acquire, &acquired).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(FarmGrpcTest, OversizedMessageIsRefused) {
  v1::SubmitRequest huge = Release(DigestBytes(Sha256Of("hello")));
  huge.mutable_manifest(0)->set_target(std::string(70 << 20, 'x'));
  grpc::ClientContext context;
  v1::SubmitResponse submitted;
  EXPECT_EQ(coordinator_->Submit(&context, huge, &submitted).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  grpc::ClientContext status_context;
  v1::StatusResponse status;
  ASSERT_TRUE(coordinator_->Status(&status_context, v1::StatusRequest(), &status).ok());
  EXPECT_EQ(status.releases_size(), 0);
}

}  // namespace
}  // namespace patchfarm

namespace patchfarm {
namespace {

// Watch and RequestPatch calls wait until their release or job ends, each
// on a server thread: past max_waiting_calls they are refused, and a place
// is free again once one ends.
TEST(FarmWaitingCalls, AreBoundedAndFreedWhenTheyEnd) {
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = std::string(std::getenv("TEST_TMPDIR")) + "/waiting";
  options.max_waiting_calls = 1;
  auto server = CoordinatorServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  for (const char* version : {"1.0", "2.0"}) {  // 2.0's job waits: no worker runs.
    const std::string content = std::string("content of ") + version;
    auto digest = (*server)->blobs()->Put(content);
    ASSERT_TRUE(digest.ok());
    auto submitted =
        (*server)->coordinator()->Submit(FileRelease(version, DigestBytes(*digest), content.size()));
    ASSERT_TRUE(submitted.ok()) << submitted.status();
  }
  auto stub = v1::CoordinatorService::NewStub(
      grpc::CreateChannel((*server)->address(), grpc::InsecureChannelCredentials()));
  v1::WatchRequest watch;
  watch.set_release_id("game/linux-x64/stable/2.0");
  v1::WatchResponse progress;
  grpc::ClientContext first;
  auto waiting = stub->Watch(&first, watch);
  ASSERT_TRUE(waiting->Read(&progress));  // Holds the one place.
  EXPECT_FALSE(progress.finished());
  {
    grpc::ClientContext second;
    auto refused = stub->Watch(&second, watch);
    while (refused->Read(&progress)) {
    }
    EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  first.TryCancel();
  while (waiting->Read(&progress)) {
  }
  waiting->Finish().IgnoreError();
  bool served = false;  // The server sees the cancel at its next wake (1 s).
  for (int i = 0; i < 50 && !served; ++i) {
    grpc::ClientContext third;
    auto again = stub->Watch(&third, watch);
    served = again->Read(&progress);
    third.TryCancel();
    while (again->Read(&progress)) {
    }
    again->Finish().IgnoreError();
    if (!served) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(served);
}

// With a tokens file, every call needs a token holding a role that allows it.
TEST(FarmTokens, MissingWrongOrUnderprivilegedTokensChangeNothing) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/tokens";
  mkdir(dir.c_str(), 0700);
  const std::string tokens = dir + "/tokens";
  std::string lines = "# sha256:<hex> roles comment\n";
  for (auto [token, roles] : {std::pair{"ci-token-0123456789abcdef", "submit"},
                              std::pair{"dev-token-0123456789abcdef", "request"},
                              std::pair{"worker-token-0123456789abcd", "worker"},
                              std::pair{"admin-token-0123456789abcde", "admin"}}) {
    auto line = TokenFileLine(token, roles, "");  // The file holds hashes only.
    ASSERT_TRUE(line.ok()) << line.status();
    lines += *line + "\n";
  }
  ASSERT_TRUE(WriteFileAtomically(tokens, lines, 0600).ok());
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = dir + "/data";
  options.tokens_file = tokens;
  auto server = CoordinatorServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = [&](const std::string& token) {
    ChannelOptions channel;
    channel.token = token;
    return v1::CoordinatorService::NewStub(MakeChannel((*server)->address(), channel));
  };
  v1::SubmitRequest submit;
  submit.mutable_release()->set_product("game");
  submit.mutable_release()->set_platform("linux-x64");
  submit.mutable_release()->set_version("1.0");
  submit.set_kind(v1::RELEASE_KIND_TREE);
  v1::SubmitResponse submitted;
  {
    grpc::ClientContext c;
    EXPECT_EQ(stub("")->Submit(&c, submit, &submitted).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext c;
    EXPECT_EQ(stub("not-a-known-token-at-all")->Submit(&c, submit, &submitted).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    grpc::ClientContext c;  // A developer's token may request, not submit.
    EXPECT_EQ(stub("dev-token-0123456789abcdef")->Submit(&c, submit, &submitted).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext c;  // A worker's token may not drain workers.
    v1::DrainRequest drain;
    drain.set_worker_id("w");
    v1::DrainResponse drained;
    EXPECT_EQ(stub("worker-token-0123456789abcd")->Drain(&c, drain, &drained).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  {
    grpc::ClientContext c;  // Nor record the full package size later publishes gate by.
    v1::RecordFullPackageRequest record;
    record.set_release_id("game/linux-x64/stable/1.0");
    record.set_package_digest(std::string(32, 'x'));
    record.set_package_size(1);
    v1::RecordFullPackageResponse recorded;
    EXPECT_EQ(stub("dev-token-0123456789abcdef")->RecordFullPackage(&c, record, &recorded)
                  .error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  for (const char* token : {"dev-token-0123456789abcdef", "worker-token-0123456789abcd"}) {
    grpc::ClientContext c;  // Nor have a done job run again.
    v1::RejectResultRequest reject;
    reject.set_job_id("some-job");
    reject.set_package_digest(std::string(32, 'x'));
    v1::RejectResultResponse rejected;
    EXPECT_EQ(stub(token)->RejectResult(&c, reject, &rejected).error_code(),
              grpc::StatusCode::PERMISSION_DENIED)
        << token;
  }
  {
    grpc::ClientContext c;  // Nothing was registered by the refused calls.
    v1::StatusResponse status;
    ASSERT_TRUE(stub("admin-token-0123456789abcde")->Status(&c, v1::StatusRequest(), &status).ok());
    EXPECT_EQ(status.releases_size(), 0);
  }
  {
    grpc::ClientContext c;  // The CI token submits (an empty tree).
    EXPECT_TRUE(stub("ci-token-0123456789abcdef")->Submit(&c, submit, &submitted).ok());
  }
  {
    grpc::ClientContext c;  // A worker without a token cannot take jobs.
    v1::AcquireRequest acquire;
    acquire.set_worker_id("w");
    acquire.set_max_jobs(1);
    v1::AcquireResponse acquired;
    auto workers = v1::WorkerService::NewStub(MakeChannel((*server)->address(), ChannelOptions()));
    EXPECT_EQ(workers->Acquire(&c, acquire, &acquired).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
}

// The file's parsing is tested in coordinator/token_auth_test.cc; here: a bad
// tokens file stops the server from starting.
TEST(FarmTokens, ServerRefusesABadTokensFile) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/bad-tokens";
  mkdir(dir.c_str(), 0700);
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = dir + "/data";
  options.tokens_file = dir + "/clear";
  ASSERT_TRUE(
      WriteFileAtomically(options.tokens_file, "long-enough-token-123 admin\n", 0600)
          .ok());
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.tokens_file = dir + "/open";
  ASSERT_TRUE(WriteFileAtomically(options.tokens_file,
                                  *TokenFileLine("long-enough-token-123", "admin", ""),
                                  0644)
                  .ok());
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kPermissionDenied);
  struct stat st;
  EXPECT_NE(stat(options.data_dir.c_str(), &st), 0)
      << "a refused start created the data directory";
}

// Without tokens the coordinator stays on loopback unless told otherwise.
TEST(FarmTokens, LoopbackAddresses) {
  for (const char* loopback : {"127.0.0.1:0", "127.1.2.3:7070", "[::1]:0",
                               "[::ffff:127.0.0.1]:0", "localhost:0"}) {
    EXPECT_TRUE(IsLoopbackAddress(loopback)) << loopback;
  }
  for (const char* remote :
       {"0.0.0.0:0", "[::]:0", "10.0.0.1:7070", "128.0.0.1:0", "127.example.com:0",
        "127.0.0.1", ":7070", "[::2]:0", "unix:/tmp/socket", "localhost.example.com:0"}) {
    EXPECT_FALSE(IsLoopbackAddress(remote)) << remote;
  }
}

TEST(FarmTokens, NoTokensOffLoopbackNeedsInsecureNoAuth) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/no-auth";
  ServerOptions options;
  options.data_dir = dir + "/data";
  options.tls_cert_file = dir + "/absent.pem";  // Never read: auth is refused first.
  options.tls_key_file = dir + "/absent.key";
  for (const char* remote : {"0.0.0.0:0", "[::]:0", "10.0.0.1:0"}) {
    options.listen = remote;
    absl::Status refused = CoordinatorServer::Start(options).status();
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument)
        << remote << ": " << refused;
    EXPECT_NE(refused.message().find("--insecure-no-auth"), absl::string_view::npos)
        << refused;
  }
  struct stat st;
  EXPECT_NE(stat(options.data_dir.c_str(), &st), 0)
      << "a refused start created the data directory";
  options.listen = "0.0.0.0:0";
  options.insecure_no_auth =
      true;  // Past the auth check: now the (absent) TLS files are read.
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kNotFound);
  options.insecure_no_auth = false;
  options.tokens_file = dir + "/absent-tokens";
  EXPECT_EQ(CoordinatorServer::Start(options).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace patchfarm

namespace patchfarm {
namespace {

// A client's uploads are paced to the configured rate (a lower bound on time,
// so a slow machine cannot make this fail).
TEST(FarmLimits, UploadsArePacedPerClient) {
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = std::string(std::getenv("TEST_TMPDIR")) + "/paced";
  options.upload_bytes_per_second = 1 << 20;
  auto server = CoordinatorServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string path = options.data_dir + "-blob";
  std::string data(3 << 20, 'p');
  ASSERT_TRUE(WriteFileAtomically(path, data).ok());
  auto blobs = v1::BlobService::NewStub(MakeChannel((*server)->address(), ChannelOptions()));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(UploadMissing(blobs.get(), {{Sha256Of(data), path}}).ok());
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(seconds, 2.0);
}

}  // namespace
}  // namespace patchfarm
