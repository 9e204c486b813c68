// A coordinator on TLS with tokens refuses a call without a known token
// before it reads the request: an unparsable request gets UNAUTHENTICATED,
// not a parse error. With a known token the request is parsed and the
// service checks the token's role as before.
//
// Usage (tests/BUILD.bazel): token_gate_test MAKE_TEST_CA_SCRIPT
#include <sys/stat.h>

#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "coordinator/server.h"
#include "coordinator/token_auth.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"

namespace patchfarm {
namespace {

std::string g_make_test_ca;

constexpr char kSubmitToken[] = "0123456789abcdef0123456789abcdef";

class TokenGateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/gate";
    ASSERT_EQ(std::system((g_make_test_ca + " " + dir + "/ca > /dev/null").c_str()), 0);
    auto line = TokenFileLine(kSubmitToken, "submit", "ci");
    ASSERT_TRUE(line.ok()) << line.status();
    const std::string tokens = dir + "/tokens";
    ASSERT_TRUE(WriteFileAtomically(tokens, *line + "\n").ok());
    ASSERT_EQ(chmod(tokens.c_str(), 0600), 0);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.data_dir = dir + "/data";
    options.tokens_file = tokens;
    options.tls_cert_file = dir + "/ca/server.pem";
    options.tls_key_file = dir + "/ca/server.key";
    auto server = CoordinatorServer::Start(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    auto ca = ReadFileToString(dir + "/ca/ca.pem");
    ASSERT_TRUE(ca.ok());
    ca_pem_ = *ca;
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& token) {
    ChannelOptions options;
    options.tls_ca_pem = ca_pem_;
    options.token = token;
    const std::string& address = server_->address();
    return MakeChannel(absl::StrCat("localhost", address.substr(address.rfind(':'))), options);
  }

  // Sends `bytes` as the request of `method`, unparsed.
  grpc::Status RawCall(const std::string& token, const std::string& method, const std::string& bytes) {
    grpc::GenericStub stub(Channel(token));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext context;
    std::promise<grpc::Status> done;
    stub.UnaryCall(&context, method, grpc::StubOptions(), &request, &response,
                   [&done](grpc::Status status) { done.set_value(status); });
    return done.get_future().get();
  }

  std::unique_ptr<CoordinatorServer> server_;
  std::string ca_pem_;
};

const char kSubmit[] = "/patchfarm.v1.CoordinatorService/Submit";
const std::string kUnparsable = "\xff\xff\xff\xff";

TEST_F(TokenGateTest, UnknownTokensAreRefusedBeforeTheRequestIsRead) {
  EXPECT_EQ(RawCall("", kSubmit, kUnparsable).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status status = RawCall("not-a-known-token-at-all", kSubmit, kUnparsable);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  // A large request too (the whole of it would be parsed otherwise).
  status = RawCall("not-a-known-token-at-all", kSubmit, std::string(32 << 20, '\xff'));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
}

TEST_F(TokenGateTest, KnownTokensReachTheServiceWhichChecksTheRole) {
  // Parsed, and refused as unparsable: the gate let it through.
  grpc::Status status = RawCall(kSubmitToken, kSubmit, kUnparsable);
  EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << status.error_message();
  EXPECT_NE(status.error_code(), grpc::StatusCode::OK);
  // A submit token may not drain workers.
  auto stub = v1::CoordinatorService::NewStub(Channel(kSubmitToken));
  grpc::ClientContext context;
  v1::DrainRequest request;
  request.set_worker_id("w1");
  v1::DrainResponse response;
  status = stub->Drain(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
}

}  // namespace
}  // namespace patchfarm

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: token_gate_test MAKE_TEST_CA_SCRIPT\n");
    return 2;
  }
  patchfarm::g_make_test_ca = argv[1];
  return RUN_ALL_TESTS();
}
