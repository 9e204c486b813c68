#include "coordinator/token_auth.h"

#include <sys/stat.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/sha256.h"
#include "grpcpp/test/server_context_test_spouse.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

constexpr char kCiToken[] = "ci-token-0123456789abcdef";
constexpr char kWorkerToken[] = "worker-token-0123456789abcd";
constexpr char kAdminToken[] = "admin-token-0123456789abcde";

std::string Hash(const std::string& token) {
  return "sha256:" + DigestToHex(Sha256Of(token));
}

std::string TokensFile() {
  return absl::StrCat("# sha256:<hex> roles comment\n",                 //
                      Hash(kCiToken), " submit,request ci pipeline\n",  //
                      "\n",                                             //
                      Hash(kWorkerToken), " worker\n",                  //
                      Hash(kAdminToken), " admin operators\n");
}

class TokenAuthTest : public testing::Test {
 protected:
  void SetUp() override {
    auto auth = TokenAuth::Parse(TokensFile());
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::move(*auth);
  }

  grpc::StatusCode Code(const std::string& token, std::initializer_list<Role> roles) {
    return auth_->CheckToken(token, roles).error_code();
  }

  std::unique_ptr<TokenAuth> auth_;
};

TEST_F(TokenAuthTest, HashedEntriesAcceptTheirTokens) {
  EXPECT_EQ(Code(kCiToken, {Role::kSubmit}), grpc::StatusCode::OK);
  EXPECT_EQ(Code(kCiToken, {Role::kRequest}), grpc::StatusCode::OK);
  EXPECT_EQ(Code(kWorkerToken, {Role::kWorker}), grpc::StatusCode::OK);
  EXPECT_EQ(Code(kWorkerToken, {Role::kSubmit, Role::kWorker}), grpc::StatusCode::OK);
}

TEST_F(TokenAuthTest, AdminMayDoEverything) {
  for (Role role : {Role::kSubmit, Role::kRequest, Role::kWorker, Role::kAdmin}) {
    EXPECT_EQ(Code(kAdminToken, {role}), grpc::StatusCode::OK);
  }
}

TEST_F(TokenAuthTest, WrongTokensAreUnauthenticated) {
  EXPECT_EQ(Code("not-a-known-token-at-all", {Role::kSubmit}),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Code("", {Role::kSubmit}), grpc::StatusCode::UNAUTHENTICATED);
  std::string near = kCiToken;
  near.back() ^= 1;  // One bit off.
  EXPECT_EQ(Code(near, {Role::kSubmit}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Code(std::string(kCiToken) + "x", {Role::kSubmit}),
            grpc::StatusCode::UNAUTHENTICATED);
  // Whoever reads the tokens file learns hashes, which are not tokens.
  EXPECT_EQ(Code(Hash(kAdminToken), {Role::kSubmit}), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Code(Hash(kAdminToken).substr(7), {Role::kSubmit}),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(TokenAuthTest, MissingRoleIsPermissionDenied) {
  EXPECT_EQ(Code(kCiToken, {Role::kWorker}), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Code(kCiToken, {Role::kAdmin}), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Code(kWorkerToken, {Role::kAdmin}), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Code(kWorkerToken, {Role::kSubmit, Role::kRequest}),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(TokenAuthTest, CheckReadsTheBearerHeader) {
  auto check = [&](const char* header, const std::string& value) {
    grpc::ServerContext context;
    grpc::testing::ServerContextTestSpouse spouse(&context);
    if (header != nullptr) spouse.AddClientMetadata(header, value);
    return auth_->Check(&context, {Role::kWorker}).error_code();
  };
  EXPECT_EQ(check("authorization", absl::StrCat("Bearer ", kWorkerToken)),
            grpc::StatusCode::OK);
  EXPECT_EQ(check("authorization", absl::StrCat("Bearer ", kCiToken)),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(check("authorization", kWorkerToken),
            grpc::StatusCode::UNAUTHENTICATED);  // No "Bearer ".
  EXPECT_EQ(check(nullptr, ""), grpc::StatusCode::UNAUTHENTICATED);
}

TEST(TokenAuthParse, ClearTextLineIsRefusedNamingTheLineAndTheFixButNotTheToken) {
  auto auth = TokenAuth::Parse(absl::StrCat("# tokens\n", Hash(kAdminToken), " admin\n",
                                            kCiToken, " submit,request ci\n"));
  ASSERT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(auth.status().message());
  EXPECT_TRUE(absl::StartsWith(message, "tokens line 3: a token in clear text"))
      << message;
  EXPECT_TRUE(absl::StrContains(message, "patchfarm token convert")) << message;
  EXPECT_TRUE(absl::StrContains(message, "patchfarm token hash --roles submit,request"))
      << message;
  EXPECT_FALSE(absl::StrContains(message, kCiToken)) << message;
}

TEST(TokenAuthParse, MalformedHashIsRefused) {
  const std::string hex = DigestToHex(Sha256Of(kCiToken));
  for (const std::string& bad :
       {std::string("sha256:"), "sha256:" + hex.substr(1), "sha256:" + hex + "0",
        "sha256:" + hex.substr(1) + "g", "sha256:" + hex.substr(0, 32)}) {
    auto auth = TokenAuth::Parse(bad + " submit\n");
    ASSERT_EQ(auth.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(
        absl::StartsWith(auth.status().message(), "tokens line 1: malformed hash"))
        << auth.status();
  }
  EXPECT_TRUE(TokenAuth::Parse("SHA256:" + hex + " submit\n")
                  .status()
                  .message()
                  .find("clear text") !=
              absl::string_view::npos);  // The prefix is lower case.
  auto upper = TokenAuth::Parse("sha256:" + absl::AsciiStrToUpper(hex) + " submit\n");
  ASSERT_TRUE(upper.ok()) << upper.status();
  EXPECT_EQ((*upper)->CheckToken(kCiToken, {Role::kSubmit}).error_code(),
            grpc::StatusCode::OK);
}

TEST(TokenAuthParse, RolesAreRequiredAndKnown) {
  EXPECT_EQ(TokenAuth::Parse(Hash(kCiToken) + "\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  auto unknown = TokenAuth::Parse(Hash(kCiToken) + " submit,superuser\n");
  ASSERT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(unknown.status().message(), "unknown role 'superuser'"))
      << unknown.status();
}

TEST(TokenAuthParse, ATokenGivenTwiceOrNoTokenIsRefused) {
  auto twice = TokenAuth::Parse(
      absl::StrCat(Hash(kCiToken), " submit\n", Hash(kCiToken), " admin\n"));
  ASSERT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(twice.status().message(), "tokens line 2: the same token as line 1");
  EXPECT_EQ(TokenAuth::Parse("# nothing\n\n").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenAuth::Parse("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TokenFileLine, HashesTheTokenAndValidatesEveryField) {
  auto line = TokenFileLine(kCiToken, "submit,request", " ci pipeline ");
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, Hash(kCiToken) + " submit,request ci pipeline");
  EXPECT_EQ(*TokenFileLine(kCiToken, "worker", ""), Hash(kCiToken) + " worker");
  EXPECT_EQ(TokenFileLine("short-token", "worker", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenFileLine("a token with spaces", "worker", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenFileLine(kCiToken, "", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenFileLine(kCiToken, "root", "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TokenFileLine(kCiToken, "worker", "two\nlines").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HashTokensFile, ConvertsClearTextLinesAndKeepsTheRest) {
  const std::string clear =
      absl::StrCat("# the farm's tokens\n", kCiToken, " submit,request ci pipeline\n",
                   "\n", Hash(kWorkerToken), " worker\n", kAdminToken, "\tadmin\n");
  auto hashed = HashTokensFile(clear);
  ASSERT_TRUE(hashed.ok()) << hashed.status();
  EXPECT_EQ(*hashed,
            absl::StrCat("# the farm's tokens\n", Hash(kCiToken),
                         " submit,request ci pipeline\n", "\n", Hash(kWorkerToken),
                         " worker\n", Hash(kAdminToken), " admin\n"));
  auto auth = TokenAuth::Parse(*hashed);
  ASSERT_TRUE(auth.ok()) << auth.status();
  EXPECT_EQ((*auth)->CheckToken(kCiToken, {Role::kSubmit}).error_code(),
            grpc::StatusCode::OK);
  EXPECT_EQ((*auth)->CheckToken(kAdminToken, {Role::kAdmin}).error_code(),
            grpc::StatusCode::OK);
  auto bad = HashTokensFile(absl::StrCat(kCiToken, " submit\nshort-token worker\n"));
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(bad.status().message(), "tokens line 2: "))
      << bad.status();
}

class TokenAuthLoadTest : public testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text, unsigned mode) {
    std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
    EXPECT_TRUE(WriteFileAtomically(path, text, 0600).ok());
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path;
  }
};

TEST_F(TokenAuthLoadTest, LoadsAnOwnerOnlyFile) {
  for (unsigned mode : {0400u, 0600u}) {
    auto auth = TokenAuth::Load(Write(absl::StrCat("tokens-", mode), TokensFile(), mode));
    ASSERT_TRUE(auth.ok()) << auth.status();
    EXPECT_EQ((*auth)->CheckToken(kCiToken, {Role::kSubmit}).error_code(),
              grpc::StatusCode::OK);
  }
}

TEST_F(TokenAuthLoadTest, RefusesAWorldReadableFileAndNamesTheFileInParseErrors) {
  const std::string open = Write("open-tokens", TokensFile(), 0644);
  auto refused = TokenAuth::Load(open);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_TRUE(absl::StartsWith(refused.status().message(), open + ": mode 0644"))
      << refused.status();
  const std::string clear =
      Write("clear-tokens", absl::StrCat(kCiToken, " submit\n"), 0600);
  auto old = TokenAuth::Load(clear);
  ASSERT_EQ(old.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(old.status().message(),
                               clear + ": tokens line 1: a token in clear text"))
      << old.status();
}

}  // namespace
}  // namespace patchfarm
