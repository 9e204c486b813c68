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

// The entry of `manifest` at `path`, or null.
const ManifestEntry* Find(const Manifest& manifest, const std::string& path) {
  auto it = std::lower_bound(
      manifest.begin(), manifest.end(), path,
      [](const ManifestEntry& m, const std::string& p) { return m.path < p; });
  return it == manifest.end() || it->path != path ? nullptr : &*it;
}

// Version 2: the base digest that applying the package to the tree of
// `old_manifest` computes (PackageBaseDigest of the listed old entries, and
// of the new entries no block rebuilds: kept and copied files take size and
// digest from the old tree). The old entries must be in `old_manifest`.
absl::StatusOr<Digest> ExpectedBaseDigest(const PackageTable& table,
                                          const Manifest& old_manifest) {
  Manifest old_entries = table.old_entries;
  for (ManifestEntry& e : old_entries) {
    if (e.type == EntryType::kFile) e.digest = Find(old_manifest, e.path)->digest;
  }
  Manifest unrebuilt;
  for (const NewEntry& n : table.new_entries) {
    if (Rebuilt(n)) continue;
    ManifestEntry e = n.entry;
    if (e.type == EntryType::kFile) {
      const std::string& from = n.source == ContentSource::kKeep
                                    ? e.path
                                    : table.old_entries[n.old_index].path;
      const ManifestEntry* old = Find(old_manifest, from);
      if (old == nullptr || old->type != EntryType::kFile) {
        return Differs(absl::StrCat("the package keeps ", QuotePath(e.path.substr(0, 200)),
                                    ", which the old release does not have"));
      }
      e.size = old->size;
      e.digest = old->digest;
    }
    unrebuilt.push_back(std::move(e));
  }
  return PackageBaseDigest(old_entries, unrebuilt);
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
    const ManifestEntry* have = Find(old_manifest, e.path);
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
    PF_ASSIGN_OR_RETURN(Digest base, ExpectedBaseDigest(table, old_manifest));
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
