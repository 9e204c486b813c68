#include "common/ed25519.h"

#include "gtest/gtest.h"

namespace patchfarm {
namespace {

TEST(Ed25519, SignsAndRejectsEverySingleByteChange) {
  auto keys = GenerateEd25519KeyPair();
  ASSERT_TRUE(keys.ok());
  std::string data = "{\"product\":\"game\",\"serial\":7}";
  auto signature = SignEd25519(keys->private_pem, data);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(signature->size(), 64u);
  EXPECT_TRUE(VerifyEd25519(keys->public_pem, data, *signature).ok());
  for (size_t i = 0; i < data.size(); ++i) {
    std::string changed = data;
    changed[i] ^= 1;
    EXPECT_EQ(VerifyEd25519(keys->public_pem, changed, *signature).code(),
              absl::StatusCode::kPermissionDenied);
  }
  auto other = GenerateEd25519KeyPair();
  EXPECT_FALSE(VerifyEd25519(other->public_pem, data, *signature).ok());
  EXPECT_EQ(VerifyEd25519("not a key", data, *signature).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace patchfarm
