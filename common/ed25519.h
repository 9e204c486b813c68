// Ed25519 keys and detached signatures (OpenSSL 3), for the signed update
// index. Keys are PEM text: PKCS#8 private keys, SubjectPublicKeyInfo public
// keys. Stateless functions; thread-safe.
#ifndef PATCHFARM_COMMON_ED25519_H_
#define PATCHFARM_COMMON_ED25519_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

absl::StatusOr<KeyPair> GenerateEd25519KeyPair();

// The 64-byte signature of `data`. InvalidArgument if the key is not an
// Ed25519 private key.
absl::StatusOr<std::string> SignEd25519(absl::string_view private_pem, absl::string_view data);

// OK if `signature` is a valid signature of `data` by the key; else
// PermissionDenied (InvalidArgument if the key cannot be read).
absl::Status VerifyEd25519(absl::string_view public_pem, absl::string_view data,
                           absl::string_view signature);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_ED25519_H_
