#include "core/tree/result_binding.h"

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
  const PackageTable& table = package.table;
  if (table.new_manifest_digest != new_manifest_digest) {
    return Differs(absl::StrCat("the package makes tree ",
                                DigestToHex(table.new_manifest_digest), ", not ",
                                DigestToHex(new_manifest_digest)));
  }
  for (const ManifestEntry& e : table.old_entries) {
    const ManifestEntry* have = FindEntry(old_manifest, e.path);
    if (have == nullptr) {
      return Differs(absl::StrCat("the package reads ", QuotePath(e.path.substr(0, 200)),
                                  ", which the old release does not have"));
    }
    bool same = have->type == e.type;
    if (same && e.type == EntryType::kFile) {
      same = have->size == e.size && (table.version >= 2 || have->digest == e.digest);
    }
    if (same && e.type == EntryType::kSymlink) same = have->target == e.target;
    if (!same) {
      return Differs(absl::StrCat("the package expects another ", QuotePath(e.path.substr(0, 200)),
                                  " than the old release has"));
    }
  }
  if (table.version >= 2) {
    // The base digest that applying the package to that tree computes.
    auto file_at = [&](const std::string& path) -> absl::StatusOr<BaseFile> {
      const ManifestEntry* have = FindEntry(old_manifest, path);
      if (have == nullptr || have->type != EntryType::kFile) {
        return Differs(absl::StrCat("the package keeps ", QuotePath(path.substr(0, 200)),
                                    ", which the old release does not have as a file"));
      }
      return BaseFile{have->size, have->digest};
    };
    PF_ASSIGN_OR_RETURN(Digest base, ComputeBaseDigest(table, file_at));
    if (base != table.base_digest) {
      return Differs("the package expects other content of the old release (base digest)");
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
