#include "publisher/site_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/tree/package.h"
#include "core/tree/result_binding.h"
#include "core/tree/tree_apply.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "publisher/site_cache.h"
#include "publisher/site_plan.h"

namespace patchfarm {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// Puts the file `from` (a blob or a cached full package: never written in
// place, only replaced by rename) at the new path `to`, readable by all
// (0644): a hard link where both are on one file system and `from` has that
// mode already, so that a multi-GB package costs a publish no copy (each
// publish makes a new tree of every file); else a copy.
absl::Status PlaceFile(const std::string& from, const std::string& to) {
  struct stat st;
  if (stat(from.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0644 &&
      linkat(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), AT_SYMLINK_FOLLOW) == 0) {
    return absl::OkStatus();
  }
  return CopyFile(from, to, 0644);
}

}  // namespace

SiteWriter::SiteWriter(const PublishOptions& options, FarmSource* farm, std::string cache_dir,
                       std::string read_only_cache_dir)
    : options_(options),
      cache_dir_(std::move(cache_dir)),
      read_only_cache_dir_(std::move(read_only_cache_dir)),
      farm_(farm) {}

absl::Status SiteWriter::Open() {
  PF_ASSIGN_OR_RETURN(cache_, BlobStore::Open(cache_dir_));
  return absl::OkStatus();
}

absl::StatusOr<v1::StatusResponse> SiteWriter::Status() { return farm_->Status(options_.product); }

absl::StatusOr<std::string> SiteWriter::BlobPath(const Digest& digest) {
  if (!read_only_cache_dir_.empty()) {
    // The blob store's layout (storage/blob_store.h): <dir>/<2 hex>/<64 hex>.
    const std::string hex = DigestToHex(digest);
    const std::string path = absl::StrCat(read_only_cache_dir_, "/", hex.substr(0, 2), "/", hex);
    if (IsFile(path)) return path;
  }
  return farm_->BlobPath(digest, cache_.get());
}

absl::StatusOr<v1::SiteFile> SiteWriter::AddBlob(const std::string& channel_dir,
                                                 const std::string& name, const Digest& digest) {
  PF_ASSIGN_OR_RETURN(std::string path, BlobPath(digest));
  return AddFile(channel_dir, name, path, digest);
}

absl::StatusOr<v1::SiteHotfixReplacement> SiteWriter::AddReplacement(
    const std::string& channel_dir, const std::string& platform,
    const v1::ReleaseStatus& release, const v1::ManifestEntry& replacement) {
  PF_RETURN_IF_ERROR(ValidateTreePath(replacement.path()));
  PF_ASSIGN_OR_RETURN(const Manifest* tree, ManifestOf(release));
  auto original = std::find_if(tree->begin(), tree->end(), [&](const ManifestEntry& t) {
    return t.path == replacement.path();
  });
  if (original == tree->end() || original->type != EntryType::kFile) {
    return absl::FailedPreconditionError(
        absl::StrCat("hotfix of ", release.release_id(), " replaces ",
                     ShortPath(replacement.path()), ", which is not a file of its tree"));
  }
  Digest digest;
  PF_RETURN_IF_ERROR(ParseDigest(replacement.digest(), &digest));
  v1::SiteHotfixReplacement entry;
  entry.set_path(replacement.path());
  entry.set_original_sha256(DigestToHex(original->digest));
  entry.set_mode(replacement.mode());
  PF_ASSIGN_OR_RETURN(
      *entry.mutable_file(),
      AddBlob(channel_dir,
              ReplacementFileName(platform, release.release().version(), DigestToHex(digest)),
              digest));
  return entry;
}

absl::StatusOr<std::optional<v1::SitePatch>> SiteWriter::AddPatch(
    const std::string& channel_dir, const std::string& name, const v1::JobStatus& job,
    const v1::ReleaseStatus& from, const v1::ReleaseStatus& to, std::string* refused) {
  Digest digest, from_digest, to_digest;
  PF_RETURN_IF_ERROR(ParseDigest(job.package_digest(), &digest));
  PF_RETURN_IF_ERROR(ParseDigest(from.manifest_digest(), &from_digest));
  PF_RETURN_IF_ERROR(ParseDigest(to.manifest_digest(), &to_digest));
  PF_ASSIGN_OR_RETURN(std::string path, BlobPath(digest));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> package, FileSource::Open(path));
  PF_ASSIGN_OR_RETURN(const Manifest* from_manifest, ManifestOf(from));
  PF_ASSIGN_OR_RETURN(const Manifest* to_manifest, ManifestOf(to));
  absl::Status bound = CheckPackageBinding(*package, *from_manifest, *to_manifest, to_digest);
  if (!bound.ok()) {
    return absl::Status(bound.code(), absl::StrCat("package ", from.release().version(), " -> ",
                                                   to.release().version(), " (job ", job.job_id(),
                                                   "): ", bound.message()));
  }
  if (published_.count(DigestToHex(digest)) == 0) {
    ++checked_;
    // A blob the farm cannot give, or an I/O error, fails the publish.
    PF_ASSIGN_OR_RETURN(*refused,
                        WhyNotRebuilt(name, path, digest, *package, *from_manifest, *to_manifest,
                                      [this](const Digest& d) { return BlobPath(d); }));
    if (!refused->empty()) return std::nullopt;
    published_.insert(DigestToHex(digest));  // Another channel's copy is this one.
  }
  v1::SitePatch patch;
  patch.set_from_version(from.release().version());
  patch.set_to_version(to.release().version());
  patch.set_from_manifest_sha256(DigestToHex(from_digest));
  patch.set_to_manifest_sha256(DigestToHex(to_digest));
  PF_ASSIGN_OR_RETURN(*patch.mutable_file(), AddFile(channel_dir, name, path, digest));
  return patch;
}

absl::StatusOr<const Manifest*> SiteWriter::ManifestOf(const v1::ReleaseStatus& release) {
  auto it = manifests_.find(release.release_id());
  if (it != manifests_.end()) return &it->second;
  PF_ASSIGN_OR_RETURN(v1::GetManifestResponse response, farm_->GetManifest(release.release_id()));
  PF_ASSIGN_OR_RETURN(Manifest manifest, FromProto(response.entries()));
  if (DigestBytes(ManifestDigest(manifest)) != release.manifest_digest()) {
    return absl::DataLossError(
        absl::StrCat("release ", release.release_id(), ": its manifest does not match its digest"));
  }
  return &(manifests_[release.release_id()] = std::move(manifest));
}

absl::StatusOr<v1::SiteFile> SiteWriter::AddFile(const std::string& channel_dir,
                                                 const std::string& name, const std::string& path,
                                                 const Digest& digest) {
  const std::string to = JoinPath(channel_dir, name);
  auto placed = placed_.find(to);
  if (placed != placed_.end()) {
    if (placed->second.sha256() == DigestToHex(digest)) return placed->second;
    return absl::FailedPreconditionError(
        absl::StrCat("two files of the site are named ", name, " (a hotfix named so?)"));
  }
  PF_RETURN_IF_ERROR(PlaceFile(path, to));
  struct stat st;
  if (stat(JoinPath(channel_dir, name).c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", name);
  v1::SiteFile file;
  file.set_url(name);
  file.set_size(static_cast<uint64_t>(st.st_size));
  file.set_sha256(DigestToHex(digest));
  ++files_;
  bytes_ += file.size();
  placed_[to] = file;
  return file;
}

std::string SiteWriter::FullPackagePath(const std::string& cache_dir,
                                        const v1::ReleaseStatus& release) const {
  return JoinPath(cache_dir, FullPackageCacheName(release.manifest_digest()));
}

std::optional<SiteWriter::FullPackage> SiteWriter::CachedFullPackage(const v1::ReleaseStatus& release) {
  auto known = full_packages_.find(release.release_id());
  if (known != full_packages_.end()) return known->second;
  for (const std::string& dir : {read_only_cache_dir_, cache_dir_}) {
    if (dir.empty()) continue;
    FullPackage full;
    full.path = FullPackagePath(dir, release);
    if (!IsFile(full.path)) continue;
    absl::StatusOr<Digest> digest = HashFile(full.path, &full.size);
    if (!digest.ok()) continue;
    full.digest = *digest;
    return full_packages_[release.release_id()] = full;
  }
  return std::nullopt;
}

std::optional<uint64_t> SiteWriter::CachedFullPackageSize(const v1::ReleaseStatus& release) {
  auto known = full_packages_.find(release.release_id());
  if (known != full_packages_.end()) return known->second.size;
  for (const std::string& dir : {read_only_cache_dir_, cache_dir_}) {
    struct stat st;
    if (!dir.empty() && stat(FullPackagePath(dir, release).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      return static_cast<uint64_t>(st.st_size);
    }
  }
  return std::nullopt;
}

absl::StatusOr<SiteWriter::FullPackage> SiteWriter::BuildFullPackage(const v1::ReleaseStatus& release) {
  if (std::optional<FullPackage> cached = CachedFullPackage(release)) return *cached;
  FullPackage full;
  full.path = FullPackagePath(cache_dir_, release);
  PF_ASSIGN_OR_RETURN(const Manifest* found, ManifestOf(release));
  const Manifest& manifest = *found;
  std::map<Digest, std::string> paths;
  for (const ManifestEntry& e : manifest) {
    if (e.type == EntryType::kFile && paths.count(e.digest) == 0) {
      PF_ASSIGN_OR_RETURN(paths[e.digest], BlobPath(e.digest));
    }
  }
  FileLocator locate = [&paths](const ManifestEntry& e) {
    auto it = paths.find(e.digest);
    return it != paths.end() ? it->second : std::string("/nonexistent/blob");
  };
  TreeDiffOptions diff;
  diff.delta.max_memory =
      options_.max_memory != 0 ? options_.max_memory : MemoryLimitBytes() / 2;
  diff.scratch_dir = cache_dir_;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out, AtomicFileWriter::Create(full.path));
  PF_RETURN_IF_ERROR(
      MakePackageFromManifests(Manifest(), locate, manifest, locate, diff, out.get()));
  PF_RETURN_IF_ERROR(out->Commit());
  PF_ASSIGN_OR_RETURN(full.digest, HashFile(full.path, &full.size));
  return full_packages_[release.release_id()] = full;
}

absl::StatusOr<v1::SiteFile> SiteWriter::AddFullPackage(const std::string& channel_dir,
                                                        const std::string& name,
                                                        const v1::ReleaseStatus& release) {
  PF_ASSIGN_OR_RETURN(FullPackage full, BuildFullPackage(release));
  return AddFile(channel_dir, name, full.path, full.digest);
}

absl::Status SiteWriter::RecordFullPackages(const v1::StatusResponse& status) {
  for (const v1::ReleaseStatus& r : status.releases()) {
    auto full = full_packages_.find(r.release_id());
    if (full == full_packages_.end()) continue;
    const std::string digest = DigestBytes(full->second.digest);
    if (r.full_package_size() == full->second.size && r.full_package_digest() == digest) continue;
    v1::RecordFullPackageRequest request;
    request.set_release_id(r.release_id());
    request.set_package_digest(digest);
    request.set_package_size(full->second.size);
    PF_RETURN_IF_ERROR(farm_->RecordFullPackage(request));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
