#include "proto/patchfarm/v1/manifest_convert.h"

#include <cstring>
#include <unordered_set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"

namespace patchfarm {

absl::StatusOr<ManifestEntry> EntryFromProto(const v1::ManifestEntry& p) {
  ManifestEntry e;
  e.path = p.path();
  PF_RETURN_IF_ERROR(ValidateTreePath(e.path));
  if (p.type() < 1 || p.type() > 3) {
    return absl::InvalidArgumentError(absl::StrCat("manifest: ", QuotePath(e.path), ": bad type"));
  }
  e.type = static_cast<EntryType>(p.type());
  if (e.type == EntryType::kSymlink) {
    PF_RETURN_IF_ERROR(ValidateSymlinkTarget(e.path, p.target()));
    e.target = p.target();
  } else {
    if (p.mode() > kModeMask) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: ", QuotePath(e.path), ": bad mode"));
    }
    e.mode = p.mode();
  }
  if (e.type == EntryType::kFile) {
    if (p.digest().size() != e.digest.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: ", QuotePath(e.path), ": digest must be 32 bytes"));
    }
    std::memcpy(e.digest.data(), p.digest().data(), e.digest.size());
    e.size = p.size();
  }
  return e;
}

absl::StatusOr<Manifest> FromProto(
    const google::protobuf::RepeatedPtrField<v1::ManifestEntry>& entries) {
  if (entries.size() > kMaxManifestEntries) {
    return absl::InvalidArgumentError(absl::StrCat("manifest has more than ", kMaxManifestEntries,
                                                   " entries"));
  }
  Manifest manifest;
  manifest.reserve(entries.size());
  std::unordered_set<std::string> directories;
  for (const v1::ManifestEntry& p : entries) {
    PF_ASSIGN_OR_RETURN(ManifestEntry e, EntryFromProto(p));
    if (!manifest.empty() && e.path <= manifest.back().path) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: ", QuotePath(e.path),
                                                     " is out of order or repeated"));
    }
    std::string parent(ParentPath(e.path));
    if (!parent.empty() && directories.count(parent) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest: parent of ", QuotePath(e.path), " is not a directory entry"));
    }
    if (e.type == EntryType::kDirectory) directories.insert(e.path);
    manifest.push_back(std::move(e));
  }
  return manifest;
}

void ToProto(const Manifest& manifest, google::protobuf::RepeatedPtrField<v1::ManifestEntry>* out) {
  out->Clear();
  out->Reserve(static_cast<int>(manifest.size()));
  for (const ManifestEntry& e : manifest) {
    v1::ManifestEntry* p = out->Add();
    p->set_path(e.path);
    p->set_type(static_cast<uint32_t>(e.type));
    p->set_mode(e.mode);
    if (e.type == EntryType::kFile) {
      p->set_size(e.size);
      p->set_digest(reinterpret_cast<const char*>(e.digest.data()), e.digest.size());
    }
    if (e.type == EntryType::kSymlink) p->set_target(e.target);
  }
}

}  // namespace patchfarm
