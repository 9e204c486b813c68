#include "common/sha256.h"

#include <algorithm>

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "common/status_macros.h"

namespace patchfarm {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  PF_CHECK(ctx_ != nullptr);
  PF_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Update(absl::string_view data) {
  PF_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data.data(), data.size()) ==
           1);
}

Digest Sha256::Finish() {
  Digest digest;
  unsigned int len = 0;
  auto* ctx = static_cast<EVP_MD_CTX*>(ctx_);
  PF_CHECK(EVP_DigestFinal_ex(ctx, digest.data(), &len) == 1 && len == digest.size());
  PF_CHECK(EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1);
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
