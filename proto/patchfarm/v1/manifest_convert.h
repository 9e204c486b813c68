// Conversion between the wire form of a manifest (farm.proto's ManifestEntry)
// and core/tree/manifest.h's, with the validation a manifest from the network
// needs. Stateless; thread-safe.
#ifndef PATCHFARM_PROTO_PATCHFARM_V1_MANIFEST_CONVERT_H_
#define PATCHFARM_PROTO_PATCHFARM_V1_MANIFEST_CONVERT_H_

#include "absl/status/statusor.h"
#include "core/tree/manifest.h"
#include "google/protobuf/repeated_field.h"
#include "proto/patchfarm/v1/farm.pb.h"

namespace patchfarm {

inline constexpr int kMaxManifestEntries = 1000000;

// One entry, checked alone: InvalidArgument naming it unless its path is
// valid, its type known, a file's digest 32 bytes and a symlink's target
// inside the tree.
absl::StatusOr<ManifestEntry> EntryFromProto(const v1::ManifestEntry& entry);

// InvalidArgument naming the entry unless every path is valid and the entries
// are sorted and unique, types known, file digests 32 bytes, symlink targets
// inside the tree and every parent a directory entry.
absl::StatusOr<Manifest> FromProto(
    const google::protobuf::RepeatedPtrField<v1::ManifestEntry>& entries);

void ToProto(const Manifest& manifest, google::protobuf::RepeatedPtrField<v1::ManifestEntry>* out);

}  // namespace patchfarm

#endif  // PATCHFARM_PROTO_PATCHFARM_V1_MANIFEST_CONVERT_H_
