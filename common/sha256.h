// SHA-256 digests (OpenSSL's implementation). Used by the patch format, the
// tree manifest and the content-addressed stores.
// A Sha256 hasher is not thread-safe; distinct instances are independent.
#ifndef PATCHFARM_COMMON_SHA256_H_
#define PATCHFARM_COMMON_SHA256_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

using Digest = std::array<uint8_t, 32>;

// Incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(absl::string_view data);
  // Returns the digest of everything passed to Update. The hasher is then reset.
  Digest Finish();

 private:
  void* ctx_;  // SHA256_CTX*
};

// Returns the SHA-256 of `data`.
Digest Sha256Of(absl::string_view data);

// The SHA-256 of every byte of `source`, read in pieces, and their count in
// *size (if given). Errors of the reads.
absl::StatusOr<Digest> HashSource(const ByteSource& source, uint64_t* size = nullptr);

// Lower-case hex, 64 characters.
std::string DigestToHex(const Digest& digest);

// The 32 raw bytes of `digest` (as protos carry it), and back: InvalidArgument
// unless `raw` is 32 bytes.
std::string DigestBytes(const Digest& digest);
absl::Status ParseDigest(absl::string_view raw, Digest* digest);


}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_SHA256_H_
