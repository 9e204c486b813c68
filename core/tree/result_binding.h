// What binds a computed result to the job that asked for it: a file patch
// names its old and new files by size and SHA-256 in its header
// (core/delta/FORMAT.md), a tree package names the old entries it reads, what
// it expects of the old tree (digests, or from version 2 one base digest) and
// the digest of the whole new manifest (core/tree/PACKAGE.md). Whoever made
// the bytes (a worker, a mirror), these checks decide whether they may stand
// for "release A -> release B": the coordinator runs them when a worker
// completes a job, the publisher before it signs, the updater before it
// applies. Applying then checks every output against the header, so a result
// that passes leads to B or fails; it cannot install anything else.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_TREE_RESULT_BINDING_H_
#define PATCHFARM_CORE_TREE_RESULT_BINDING_H_

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"

namespace patchfarm {

// OK if `patch` is a delta patch from `old_file` to `new_file` (sizes and
// digests in its header). PermissionDenied naming the first field that
// differs; InvalidArgument or DataLoss if it is not a readable patch.
absl::Status CheckFilePatchBinding(const ByteSource& patch, const ManifestEntry& old_file,
                                   const ManifestEntry& new_file);

// OK if `package`'s new manifest digest is `new_manifest_digest`, which is
// ManifestDigest(new_manifest) (callers hold it: hashing a large manifest
// again for every package is not free), every old entry
// it reads, removes or overwrites is in `old_manifest` as the same type,
// size, digest (files; version 1) and target (symlinks), (version 2) its
// base digest is the one applying it to that tree computes, and its new
// entries are `new_manifest`'s: the same paths, types, modes, targets and
// file sizes, and the old content of `old_manifest` where a file is kept or
// copied. What is left unchecked, the bytes of rebuilt files, apply proves
// against the manifest digest, and it writes no more than their sizes.
// PermissionDenied naming the first difference.
absl::Status CheckPackageBinding(const Package& package, const Manifest& old_manifest,
                                 const Manifest& new_manifest, const Digest& new_manifest_digest);

// ReadPackage, then CheckPackageBinding. InvalidArgument or DataLoss if
// `package` is not a readable tree package.
absl::Status CheckPackageBinding(const ByteSource& package, const Manifest& old_manifest,
                                 const Manifest& new_manifest, const Digest& new_manifest_digest);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_RESULT_BINDING_H_
