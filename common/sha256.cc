#include "common/sha256.h"

#include <algorithm>

// The low-level SHA256_* calls, deprecated in OpenSSL 3 in favour of EVP, run
// the same code (SHA-NI where the CPU has it) without fetching a provider,
// whose set-up alone makes about 1.7 MiB of libcrypto resident: a tenth of
// what apply may use beside its model tables.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"

namespace patchfarm {

Sha256::Sha256() : ctx_(new SHA256_CTX) {
  PF_CHECK(SHA256_Init(static_cast<SHA256_CTX*>(ctx_)) == 1);
}

Sha256::~Sha256() { delete static_cast<SHA256_CTX*>(ctx_); }

void Sha256::Update(absl::string_view data) {
  PF_CHECK(SHA256_Update(static_cast<SHA256_CTX*>(ctx_), data.data(), data.size()) == 1);
}

Digest Sha256::Finish() {
  Digest digest;
  auto* ctx = static_cast<SHA256_CTX*>(ctx_);
  PF_CHECK(SHA256_Final(digest.data(), ctx) == 1 && SHA256_Init(ctx) == 1);
  return digest;
}

Digest Sha256Of(absl::string_view data) {
  Sha256 hasher;
  hasher.Update(data);
  return hasher.Finish();
}

std::string DigestToHex(const Digest& digest) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string DigestBytes(const Digest& digest) {
  return std::string(reinterpret_cast<const char*>(digest.data()), digest.size());
}

absl::Status ParseDigest(absl::string_view raw, Digest* digest) {
  if (raw.size() != digest->size()) return absl::InvalidArgumentError("digest must be 32 bytes");
  std::copy(raw.begin(), raw.end(), digest->begin());
  return absl::OkStatus();
}

absl::StatusOr<Digest> HashSource(const ByteSource& source, uint64_t* size) {
  Sha256 hasher;
  std::string buffer(size_t{1} << 20, '\0');
  uint64_t offset = 0;
  while (offset < source.size()) {
    PF_ASSIGN_OR_RETURN(size_t n, source.ReadAt(offset, buffer.data(), buffer.size()));
    if (n == 0) break;
    hasher.Update(absl::string_view(buffer.data(), n));
    offset += n;
  }
  if (size != nullptr) *size = offset;
  return hasher.Finish();
}

}  // namespace patchfarm
