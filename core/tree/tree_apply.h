// Applying a chain of packages to a tree, producing the final version in a new
// directory. The result is built in a sibling directory "<out>.partial-<pid>",
// synced, and renamed to `out_root` only once complete and verified, so
// `out_root` either does not exist or holds the whole new tree.
// In-place apply of an install is in core/tree/in_place.h.
#ifndef PATCHFARM_CORE_TREE_TREE_APPLY_H_
#define PATCHFARM_CORE_TREE_TREE_APPLY_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/tree/chain_resolver.h"
#include "core/tree/manifest.h"

namespace patchfarm {

// Builds the version `chain` leads to from the tree at `old_root` into
// `out_root`, which must not exist (FailedPrecondition). Errors as
// ChainResolver::Run and file system errors; on an error the partial directory
// is removed (a process killed meanwhile leaves it, under its recognisable
// name), and `old_root` is never written.
absl::Status ApplyToNewTree(const std::string& old_root, const std::vector<PackageInput>& chain,
                            const std::string& out_root, const ChainOptions& options = {});

// Whether `package` rebuilds from `old_tree` exactly the tree its new
// manifest digest names: the whole apply, its rebuilt files hashed and
// dropped (what a publisher checks before it signs a package a worker made).
// OK if so; else ChainResolver::Run's error: DataLoss for a corrupt payload,
// FailedPrecondition if `old_tree` is not the tree the package updates from
// or the result is not the tree it names, InvalidArgument or
// ResourceExhausted for what the apply refuses, and `old_tree`'s errors.
absl::Status CheckPackageRebuilds(TreeSource* old_tree, const PackageInput& package,
                                  const ChainOptions& options = {});

// A package whose blocks read more than this many times the bytes of its two
// releases (plus the slack) is refused unchecked (WhyNotRebuilt).
inline constexpr uint64_t kMaxCheckReadFactor = 32;
inline constexpr uint64_t kCheckReadSlack = uint64_t{1} << 30;

// The local file that holds a blob (a release's file, a package) by its
// SHA-256; NotFound if there is none.
using BlobLocator = std::function<absl::StatusOr<std::string>(const Digest& digest)>;

// Why the tree package `package` (named `name`, read from the file
// `package_path`, blob `package_digest`) does not rebuild the release `to`
// from the files of release `from` (blobs `locate` finds), or "" if it does:
// CheckPackageRebuilds over `from`'s manifest, after a bound on what its
// blocks read (kMaxCheckReadFactor). What the publisher checks before it
// signs a package, and the coordinator before it runs the package's job
// again. Errors are the caller's, not the package's: a blob `locate` cannot
// find, an I/O error, or the package or a file of `from` it read not being
// what its digest says (DataLoss).
absl::StatusOr<std::string> WhyNotRebuilt(const std::string& name,
                                          const std::string& package_path,
                                          const Digest& package_digest,
                                          const ByteSource& package, const Manifest& from,
                                          const Manifest& to, const BlobLocator& locate);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_TREE_APPLY_H_
