#include "common/secret_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "common/file.h"
#include "gtest/gtest.h"

namespace patchfarm {
namespace {

constexpr unsigned kRoot = 0;
constexpr unsigned kPodUser = 10001;  // deploy/kubernetes: runAsUser and fsGroup.

absl::Status Check(unsigned mode, unsigned owner, unsigned reader) {
  return CheckSecretFileMode("/etc/patchfarm/tokens/worker", "a token file", mode, owner,
                             reader);
}

TEST(SecretFileMode, OwnerOnlyModesAreAccepted) {
  for (unsigned mode : {0400u, 0600u, 0100600u /* with S_IFREG */}) {
    EXPECT_TRUE(Check(mode, kPodUser, kPodUser).ok()) << std::oct << mode;
    EXPECT_TRUE(Check(mode, kRoot, kRoot).ok()) << std::oct << mode;
    EXPECT_TRUE(Check(mode, kRoot, kPodUser).ok()) << std::oct << mode;
  }
}

// A secret volume with defaultMode 0400 in a pod with fsGroup: the kubelet
// makes the file root-owned, group fsGroup, mode 0440.
TEST(SecretFileMode, KubernetesSecretWithFsGroupIsAccepted) {
  EXPECT_TRUE(Check(0440, kRoot, kPodUser).ok());
  EXPECT_TRUE(Check(0640, kRoot, kPodUser).ok());
}

TEST(SecretFileMode, GroupReadIsRefusedUnlessRootOwnsTheFileAndTheReaderIsNotRoot) {
  EXPECT_EQ(Check(0440, kPodUser, kPodUser).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Check(0640, kPodUser, kPodUser).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(Check(0440, kRoot, kRoot).code(), absl::StatusCode::kPermissionDenied);
}

TEST(SecretFileMode, OtherUsersAndGroupWriteAreAlwaysRefused) {
  for (unsigned owner : {kRoot, kPodUser}) {
    for (unsigned mode :
         {0644u, 0604u, 0602u, 0601u, 0444u, 0660u, 0620u, 0610u, 0460u, 0777u}) {
      EXPECT_EQ(Check(mode, owner, kPodUser).code(), absl::StatusCode::kPermissionDenied)
          << std::oct << mode << " owner " << std::dec << owner;
    }
  }
}

TEST(SecretFileMode, MessageNamesTheFileTheModeAndTheFix) {
  absl::Status refused = Check(0644, kPodUser, kPodUser);
  EXPECT_EQ(refused.message(),
            "/etc/patchfarm/tokens/worker: mode 0644 gives other users access; a token "
            "file must be "
            "mode 0600 or 0400 (chmod 600 /etc/patchfarm/tokens/worker), or 0440 owned "
            "by root (a "
            "Kubernetes secret with defaultMode 0400 and fsGroup)");
  EXPECT_NE(
      Check(0640, kPodUser, kPodUser).message().find("mode 0640 gives its group access"),
      absl::string_view::npos);
}

class ReadSecretFileTest : public testing::Test {
 protected:
  std::string Write(const std::string& name, unsigned mode) {
    std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
    EXPECT_TRUE(WriteFileAtomically(path, "secret-token-0123456789\n", 0600).ok());
    EXPECT_EQ(chmod(path.c_str(), mode), 0);  // Exactly `mode`, whatever the umask.
    return path;
  }
};

TEST_F(ReadSecretFileTest, ReadsOwnerOnlyFiles) {
  for (unsigned mode : {0400u, 0600u}) {
    auto data = ReadSecretFile(Write("owner-only", mode), "a token file");
    ASSERT_TRUE(data.ok()) << data.status();
    EXPECT_EQ(*data, "secret-token-0123456789\n");
  }
}

TEST_F(ReadSecretFileTest, RefusesAWorldReadableFileNamingItAndItsMode) {
  const std::string path = Write("world-readable", 0644);
  auto data = ReadSecretFile(path, "a token file");
  ASSERT_EQ(data.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(data.status().message().find(path + ": mode 0644"), absl::string_view::npos)
      << data.status();
}

TEST_F(ReadSecretFileTest, RefusesMissingFilesAndDirectories) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR"));
  EXPECT_EQ(ReadSecretFile(dir + "/missing", "a token file").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadSecretFile(dir, "a token file").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace patchfarm
