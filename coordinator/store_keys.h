// The coordinator's record keys in its Store (proto/patchfarm/v1/state.proto)
// and the content keys of its jobs and releases. Shared by the coordinator's
// own coordinator*.cc files (and their tests) only. Pure functions; thread-safe.
#ifndef PATCHFARM_COORDINATOR_STORE_KEYS_H_
#define PATCHFARM_COORDINATOR_STORE_KEYS_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "proto/patchfarm/v1/farm.pb.h"

namespace patchfarm {
namespace coordinator_keys {

inline constexpr char kReleasePrefix[] = "release/";
inline constexpr char kManifestPrefix[] = "manifest/";
inline constexpr char kJobPrefix[] = "job/";
inline constexpr char kNextSeqKey[] = "meta/next_seq";
inline constexpr char kPolicyPrefix[] = "policy/";
inline constexpr char kDropPrefix[] = "drop/";

// Hex of a raw digest the coordinator stored itself (always 32 bytes).
inline std::string Hex(const std::string& raw) {
  Digest d{};
  ParseDigest(raw, &d).IgnoreError();
  return DigestToHex(d);
}

// The job between two contents (raw manifest digests) for `engine_format`.
inline std::string JobId(uint32_t engine_format, const std::string& old_digest,
                         const std::string& new_digest) {
  return DigestToHex(Sha256Of(absl::StrCat("job v1 ", engine_format, " ", old_digest, new_digest)))
      .substr(0, 32);
}

inline std::string ReleaseId(const v1::ReleaseKey& k) {
  return absl::StrCat(k.product(), "/", k.platform(), "/", k.channel(), "/", k.version());
}

}  // namespace coordinator_keys
}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_STORE_KEYS_H_
