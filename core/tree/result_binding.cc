#include "core/tree/result_binding.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/format.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

absl::Status Differs(absl::string_view what) {
  return absl::PermissionDeniedError(absl::StrCat("result does not match its job: ", what));
}

}  // namespace

absl::Status CheckFilePatchBinding(const ByteSource& patch, const ManifestEntry& old_file,
                                   const ManifestEntry& new_file) {
  PF_ASSIGN_OR_RETURN(PatchHeader header, ReadPatchHeader(patch));
  if (header.old_size != old_file.size || header.old_digest != old_file.digest) {
    return Differs("the patch reads another old file");
  }
  if (header.new_size != new_file.size || header.new_digest != new_file.digest) {
    return Differs("the patch makes another new file");
  }
  return absl::OkStatus();
}

absl::Status CheckPackageBinding(const Package& package, const Manifest& old_manifest,
                                 const Digest& new_manifest_digest) {
  if (package.table.new_manifest_digest != new_manifest_digest) {
    return Differs(absl::StrCat("the package makes tree ",
                                DigestToHex(package.table.new_manifest_digest), ", not ",
                                DigestToHex(new_manifest_digest)));
  }
  for (const ManifestEntry& e : package.table.old_entries) {
    auto it = std::lower_bound(old_manifest.begin(), old_manifest.end(), e.path,
                               [](const ManifestEntry& m, const std::string& path) {
                                 return m.path < path;
                               });
    if (it == old_manifest.end() || it->path != e.path) {
      return Differs(absl::StrCat("the package reads ", QuotePath(e.path.substr(0, 200)),
                                  ", which the old release does not have"));
    }
    bool same = it->type == e.type;
    if (same && e.type == EntryType::kFile) same = it->size == e.size && it->digest == e.digest;
    if (same && e.type == EntryType::kSymlink) same = it->target == e.target;
    if (!same) {
      return Differs(absl::StrCat("the package expects another ", QuotePath(e.path.substr(0, 200)),
                                  " than the old release has"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPackageBinding(const ByteSource& package, const Manifest& old_manifest,
                                 const Digest& new_manifest_digest) {
  PF_ASSIGN_OR_RETURN(Package parsed, ReadPackage(package));
  return CheckPackageBinding(parsed, old_manifest, new_manifest_digest);
}

}  // namespace patchfarm
