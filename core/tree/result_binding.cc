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

// The package's new entries against the new manifest (see the header).
absl::Status CheckNewEntries(const PackageTable& table, const Manifest& old_manifest,
                             const Manifest& new_manifest) {
  if (table.new_entries.size() != new_manifest.size()) {
    return Differs(absl::StrCat("the package makes ", table.new_entries.size(),
                                " entries, the new release has ", new_manifest.size()));
  }
  for (size_t i = 0; i < new_manifest.size(); ++i) {
    const NewEntry& n = table.new_entries[i];
    const ManifestEntry& want = new_manifest[i];
    const ManifestEntry& e = n.entry;
    bool same = e.path == want.path && e.type == want.type;
    if (same && e.type == EntryType::kSymlink) same = e.target == want.target;
    if (same && e.type != EntryType::kSymlink) same = e.mode == want.mode;
    if (same && e.type == EntryType::kFile && n.source == ContentSource::kBlock) {
      same = e.size == want.size;
    } else if (same && e.type == EntryType::kFile) {
      // A kept or copied file has the old release's content; its size is
      // the old one's (a kept file's size is not in a version 2 table).
      const ManifestEntry* from = FindEntry(
          old_manifest,
          n.source == ContentSource::kKeep ? e.path : table.old_entries[n.old_index].path);
      same = from != nullptr && from->type == EntryType::kFile && from->size == want.size &&
             from->digest == want.digest;
    }
    if (!same) {
      return Differs(absl::StrCat("the package makes another ", QuotePath(want.path.substr(0, 200)),
                                  " than the new release has"));
    }
  }
  return absl::OkStatus();
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
                                 const Manifest& new_manifest, const Digest& new_manifest_digest) {
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
  return CheckNewEntries(table, old_manifest, new_manifest);
}

absl::Status CheckPackageBinding(const ByteSource& package, const Manifest& old_manifest,
                                 const Manifest& new_manifest, const Digest& new_manifest_digest) {
  PF_ASSIGN_OR_RETURN(Package parsed, ReadPackage(package));
  return CheckPackageBinding(parsed, old_manifest, new_manifest, new_manifest_digest);
}

}  // namespace patchfarm
