// Keepalive with real processes on loopback: a call without a deadline fails
// when the coordinator stops answering (SIGSTOP: its socket stays open), and
// the coordinator ends the upload of a client that stops answering, so that
// the upload's retry is not refused for good.
//
// Usage (tests/BUILD.bazel): keepalive_test COORDINATOR_BINARY PATCHFARM_BINARY
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/byte_io.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "common/sha256.h"
#include "coordinator/server.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "storage/blob_store.h"
#include "transfer/blob_transfer.h"

extern char** environ;

namespace patchfarm {
namespace {

std::string g_coordinator_binary;
std::string g_patchfarm_binary;

std::string TempDir(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

// A child process, killed (after SIGCONT) when the test is done with it.
class Child {
 public:
  explicit Child(const std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
  }
  ~Child() {
    if (pid_ <= 0) return;
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  for (char& c : s) {
    seed = seed * 1664525u + 1013904223u;
    c = static_cast<char>(seed >> 24);
  }
  return s;
}

v1::SubmitRequest Release(const std::string& version, const Digest& digest, size_t size) {
  v1::SubmitRequest r;
  r.mutable_release()->set_product("game");
  r.mutable_release()->set_platform("linux-x64");
  r.mutable_release()->set_version(version);
  r.set_kind(v1::RELEASE_KIND_FILE);
  v1::ManifestEntry* e = r.add_manifest();
  e->set_path("game");
  e->set_type(1);
  e->set_size(size);
  e->set_digest(DigestBytes(digest));
  return r;
}

TEST(KeepaliveTest, CallFailsWhenTheCoordinatorStopsAnswering) {
  const std::string dir = TempDir("hung");
  const std::string port_file = dir + ".port";
  Child coordinator({g_coordinator_binary, "--plaintext", "--listen", "127.0.0.1:0", "--data", dir,
                     "--port-file", port_file});
  ASSERT_GT(coordinator.pid(), 0);
  std::string address;
  for (int i = 0; i < 300 && address.empty(); ++i) {
    auto text = ReadFileToString(port_file);
    if (text.ok() && !text->empty()) address = text->substr(0, text->find('\n'));
    if (address.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(address.empty()) << "the coordinator did not start";

  ChannelOptions options;
  options.keepalive = absl::Seconds(1);
  auto channel = MakeChannel(address, options);
  auto blobs = v1::BlobService::NewStub(channel);
  auto coordinator_stub = v1::CoordinatorService::NewStub(channel);
  for (const char* version : {"1.0", "1.1"}) {
    const std::string bytes = RandomBytes(4096, version[2]);
    const Digest digest = Sha256Of(bytes);
    ASSERT_TRUE(UploadSourceIfMissing(blobs.get(), digest, StringSource(bytes)).ok());
    grpc::ClientContext context;
    v1::SubmitResponse response;
    grpc::Status status = coordinator_stub->Submit(&context, Release(version, digest, bytes.size()), &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // No worker: the request waits on the coordinator, with no deadline.
  auto call = std::async(std::launch::async, [&] {
    grpc::ClientContext context;
    v1::OneOffRequest request;
    request.set_product("game");
    request.set_platform("linux-x64");
    request.set_from_version("1.0");
    request.set_to_version("1.1");
    v1::OneOffResponse response;
    return coordinator_stub->RequestPatch(&context, request, &response);
  });
  ASSERT_EQ(call.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout);
  kill(coordinator.pid(), SIGSTOP);
  const bool ended = call.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  if (!ended) kill(coordinator.pid(), SIGKILL);  // Ends the call, to join it.
  grpc::Status status = call.get();
  EXPECT_TRUE(ended) << "the call waited on a stopped coordinator for 30 s";
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST(KeepaliveTest, CoordinatorEndsTheUploadOfAClientThatStopsAnswering) {
  ServerOptions options;
  options.plaintext = true;
  options.data_dir = TempDir("frozen-upload");
  options.keepalive = absl::Seconds(1);
  options.upload_bytes_per_second = 1 << 20;  // 1 MiB chunks, a second each.
  auto server = CoordinatorServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  BlobStore* store = (*server)->blobs();

  // More than gRPC buffers: the frozen client has not sent it all.
  const std::string bytes = RandomBytes(64 << 20, 7);
  const Digest digest = Sha256Of(bytes);
  const std::string file = TempDir("frozen-upload.bin");
  ASSERT_TRUE(WriteFileAtomically(file, bytes).ok());
  Child submit({g_patchfarm_binary, "submit", "--coordinator", (*server)->address(), "--product",
                "game", "--platform", "linux-x64", "--version", "1.0", file});
  ASSERT_GT(submit.pid(), 0);
  for (int i = 0; i < 3000 && store->ReceivedBytes(digest) == 0; ++i) {  // 30 s: a loaded CI.
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GT(store->ReceivedBytes(digest), 0u) << "the upload did not start";
  kill(submit.pid(), SIGSTOP);

  // While the frozen client's upload lives, a retry is refused (Aborted).
  absl::Status status;
  for (int i = 0; i < 150; ++i) {
    auto retry = store->StartUpload(digest, bytes.size(), store->ReceivedBytes(digest));
    status = retry.status();
    if (!absl::IsAborted(status)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(status.ok()) << "after 30 s: " << status;
  EXPECT_LT(store->ReceivedBytes(digest), bytes.size());
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 3) {
    std::fprintf(stderr, "usage: keepalive_test COORDINATOR_BINARY PATCHFARM_BINARY\n");
    return 2;
  }
  patchfarm::g_coordinator_binary = argv[1];
  patchfarm::g_patchfarm_binary = argv[2];
  return RUN_ALL_TESTS();
}
