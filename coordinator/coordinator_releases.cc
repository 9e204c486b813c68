// The coordinator's releases (coordinator.h): submitted and their jobs
// planned, their status and manifests read, hotfix files set, and the
// status of a product's releases.
#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "coordinator/store_keys.h"
#include "core/release/version.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_path.h"
#include "proto/patchfarm/v1/manifest_convert.h"

namespace patchfarm {
namespace {

using coordinator_keys::Hex;
using coordinator_keys::kJobPrefix;
using coordinator_keys::kManifestPrefix;
using coordinator_keys::kNextSeqKey;
using coordinator_keys::kReleasePrefix;
using coordinator_keys::ReleaseId;

}  // namespace

v1::ReleaseStatus Coordinator::ReleaseStatusLocked(const v1::StoredRelease& r) const {
  v1::ReleaseStatus s;
  s.set_release_id(ReleaseId(r.release()));
  *s.mutable_release() = r.release();
  s.set_intermediate(r.intermediate());
  s.set_kind(r.kind());
  s.set_manifest_digest(r.manifest_digest());
  s.set_total_size(r.total_size());
  *s.mutable_hotfix_files() = r.hotfix_files();
  *s.mutable_hotfix_replacements() = r.hotfix_replacements();
  const std::set<std::string> rerun(r.rerun_job_ids().begin(), r.rerun_job_ids().end());
  for (const std::string& id : r.job_ids()) {
    auto it = jobs_.find(id);
    if (it == jobs_.end()) continue;
    v1::JobStatus* job = s.add_jobs();
    *job = JobStatusLocked(it->second);
    job->set_rerun(rerun.count(id) != 0);
  }
  s.set_submitted_unix_seconds(r.submitted_unix_seconds());
  for (const std::string& id : r.chain_job_ids()) {
    auto it = jobs_.find(id);
    if (it != jobs_.end()) *s.add_chain_jobs() = JobStatusLocked(it->second);
  }
  s.set_full_package_size(r.full_package_size());
  s.set_full_package_digest(r.full_package_digest());
  return s;
}

absl::StatusOr<v1::SubmitResponse> Coordinator::Submit(const v1::SubmitRequest& request) {
  v1::ReleaseKey key = request.release();
  if (key.channel().empty()) key.set_channel("stable");
  PF_RETURN_IF_ERROR(ValidateName("product", key.product()));
  PF_RETURN_IF_ERROR(ValidateName("platform", key.platform()));
  PF_RETURN_IF_ERROR(ValidateName("channel", key.channel()));
  PF_RETURN_IF_ERROR(ValidateName("version", key.version()));
  if (request.kind() != v1::RELEASE_KIND_FILE && request.kind() != v1::RELEASE_KIND_TREE) {
    return absl::InvalidArgumentError("release kind must be file or tree");
  }
  PF_ASSIGN_OR_RETURN(Manifest manifest, FromProto(request.manifest()));
  if (request.kind() == v1::RELEASE_KIND_FILE &&
      (manifest.size() != 1 || manifest[0].type != EntryType::kFile)) {
    return absl::InvalidArgumentError("a file release has exactly one file entry");
  }
  uint64_t total = 0;
  const uint64_t removals_seen = blob_removals_;
  std::vector<Digest> named;
  for (const ManifestEntry& e : manifest) {
    if (e.type != EntryType::kFile) continue;
    named.push_back(e.digest);
    // The blob store holds only verified content, so the digest is the
    // content; the declared size must be the blob's too.
    absl::StatusOr<std::string> path = blobs_->PathOf(e.digest);
    if (!path.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "manifest: blob ", DigestToHex(e.digest), " of ", ShortPath(e.path), " is not uploaded"));
    }
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> blob, FileSource::Open(*path));
    if (blob->size() != e.size) {
      return absl::InvalidArgumentError(absl::StrCat("manifest: size of ", ShortPath(e.path), " is ",
                                                     e.size, " but its blob holds ", blob->size(),
                                                     " bytes"));
    }
    total += e.size;
  }
  Digest digest = ManifestDigest(manifest);
  std::string raw_digest(reinterpret_cast<const char*>(digest.data()), digest.size());
  const std::string id = ReleaseId(key);

  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(CheckStillStoredLocked(removals_seen, named));
  v1::SubmitResponse response;
  response.set_release_id(id);
  auto existing = releases_.find(id);
  if (existing != releases_.end()) {
    const v1::StoredRelease& r = existing->second;
    if (r.manifest_digest() != raw_digest || r.kind() != request.kind() ||
        r.intermediate() != request.intermediate()) {
      return absl::AlreadyExistsError(absl::StrCat(
          "release ", id, " was submitted already with other content; use a new version"));
    }
    response.set_already_submitted(true);
    for (const std::string& job : r.job_ids()) response.add_job_ids(job);
    return response;
  }
  // Each site file is one name of at most 255 bytes (publisher/site_plan.h):
  // the longest hold two versions (chain_<platform>_<old>_to_<new>) or one
  // and 33 bytes more (a hotfix's replacement). A tree release whose names
  // would not fit failed every publish of its product.
  const size_t longest_site_name = std::max(11 + key.platform().size() + 2 * key.version().size(),
                                            33 + key.platform().size() + key.version().size());
  if (request.kind() == v1::RELEASE_KIND_TREE && longest_site_name > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "platform and version too long together: the site's file names of this release would "
        "take up to ", longest_site_name, " bytes, at most 255 (11 + platform + 2 x version)"));
  }
  const std::string prefix = absl::StrCat(key.product(), "/", key.platform(), "/", key.channel(), "/");
  for (auto it = releases_.lower_bound(prefix);
       it != releases_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    // 1.0, 1.0.0 and 1.0+build order the same: which is newest is no one's guess.
    if (CompareVersions(it->second.release().version(), key.version()) == 0) {
      return absl::AlreadyExistsError(absl::StrCat(
          "release ", id, ": version ", key.version(), " orders the same as ",
          it->second.release().version(), ", submitted already; use a new version"));
    }
  }
  v1::StoredRelease release;
  *release.mutable_release() = key;
  release.set_intermediate(request.intermediate());
  release.set_kind(request.kind());
  release.set_manifest_digest(raw_digest);
  release.set_total_size(total);
  release.set_submitted_unix_seconds(NowUnixSeconds());
  uint64_t seq = next_seq_;
  release.set_seq(seq++);

  std::vector<StoreWrite> writes;
  // Written with every release that has it: cheap, and never lost to a failed write.
  auto stored = std::make_shared<v1::StoredManifest>();
  ToProto(manifest, stored->mutable_entries());  // As parsed: no field the digest does not name.
  writes.push_back({kManifestPrefix + Hex(raw_digest), stored->SerializeAsString()});
  std::vector<PlannedRelease> candidates;
  for (auto it = releases_.lower_bound(prefix);
       it != releases_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    if (it->second.kind() != request.kind()) continue;
    candidates.push_back({it->first, it->second.release().version(), it->second.intermediate()});
  }
  const Policy& plan = PolicyForLocked(key.product());
  std::vector<v1::StoredJob> new_jobs;
  for (const std::string& from_id : PlanSources(plan, key.version(),
                                                request.intermediate(), candidates)) {
    const v1::StoredRelease& from = releases_.at(from_id);
    if (from.manifest_digest() == raw_digest) continue;  // Same content: no patch.
    std::string job_id = JobIdOf(from.manifest_digest(), raw_digest);
    if (jobs_.count(job_id) == 0) {
      new_jobs.push_back(NewJobLocked(from, release, 1, &seq));
      writes.push_back({kJobPrefix + job_id, new_jobs.back().SerializeAsString()});
    }
    release.add_job_ids(job_id);
    response.add_job_ids(job_id);
  }
  writes.push_back({kReleasePrefix + id, release.SerializeAsString()});
  writes.push_back({kNextSeqKey, std::to_string(seq)});
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/true));
  // Stored: now the jobs may be leased.
  next_seq_ = seq;
  for (v1::StoredJob& job : new_jobs) AdoptJobLocked(std::move(job));
  manifests_.Insert(raw_digest, stored);
  LogLocked(absl::StrCat("event=release_submitted release=", id, " jobs=", response.job_ids_size(),
                         " intermediate=", request.intermediate()));
  releases_[id] = std::move(release);
  ApplyRetentionLocked(key.product());
  ChangedLocked();
  return response;
}

absl::StatusOr<v1::ReleaseStatus> Coordinator::GetReleaseStatus(const std::string& release_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(release_id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", ShortPath(release_id)));
  return ReleaseStatusLocked(it->second);
}

absl::StatusOr<v1::GetManifestResponse> Coordinator::GetManifest(const std::string& release_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(release_id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", ShortPath(release_id)));
  PF_ASSIGN_OR_RETURN(std::shared_ptr<const v1::StoredManifest> manifest,
                      ManifestLocked(it->second.manifest_digest()));
  v1::GetManifestResponse response;
  response.set_kind(it->second.kind());
  *response.mutable_entries() = manifest->entries();
  return response;
}

absl::Status Coordinator::CheckHotfixBlob(const ManifestEntry& e) {
  if (e.type != EntryType::kFile) {
    return absl::InvalidArgumentError(absl::StrCat("hotfix ", ShortPath(e.path), ": files only"));
  }
  absl::StatusOr<std::string> path = blobs_->PathOf(e.digest);
  if (!path.ok()) {
    return absl::FailedPreconditionError(absl::StrCat("blob of hotfix ", ShortPath(e.path), " is not uploaded"));
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> blob, FileSource::Open(*path));
  if (blob->size() != e.size) {
    return absl::InvalidArgumentError(absl::StrCat("hotfix ", ShortPath(e.path), ": size ", e.size,
                                                   " but its blob holds ", blob->size(), " bytes"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::HotfixResponse> Coordinator::AddHotfix(const v1::HotfixRequest& request) {
  v1::ReleaseKey key = request.release();
  if (key.channel().empty()) key.set_channel("stable");
  if (request.files_size() > kMaxHotfixFiles || request.replacements_size() > kMaxHotfixFiles) {
    return absl::InvalidArgumentError(absl::StrCat("hotfix: at most ", kMaxHotfixFiles,
                                                   " files and as many replacements"));
  }
  size_t path_bytes = 0;
  for (const auto* list : {&request.files(), &request.replacements()}) {
    for (const v1::ManifestEntry& e : *list) path_bytes += e.path().size();
  }
  if (path_bytes > kMaxHotfixPathBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hotfix: its paths take ", path_bytes, " bytes, at most ", kMaxHotfixPathBytes));
  }
  PF_ASSIGN_OR_RETURN(Manifest files, FromProto(request.files()));
  const uint64_t removals_seen = blob_removals_;
  std::vector<Digest> named;
  for (const ManifestEntry& e : files) {
    PF_RETURN_IF_ERROR(ValidateNewHotfixName(e.path));
    // Published as hotfix_<platform>_<version>_<name> (publisher/site_plan.h),
    // one file name of at most 255 bytes.
    const size_t site_name = 9 + key.platform().size() + key.version().size() + e.path.size();
    if (site_name > 255) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hotfix ", ShortPath(e.path), ": too long a name for ", key.platform(), " ", key.version(),
          " (its site file's name would be ", site_name, " bytes, at most 255)"));
    }
    PF_RETURN_IF_ERROR(CheckHotfixBlob(e));
    named.push_back(e.digest);
  }
  Manifest replacements;  // Tree paths, not a tree: each entry is checked alone.
  std::set<std::string> replaced_paths;
  for (const v1::ManifestEntry& p : request.replacements()) {
    PF_ASSIGN_OR_RETURN(ManifestEntry e, EntryFromProto(p));
    if (!replaced_paths.insert(e.path).second) {
      return absl::InvalidArgumentError(absl::StrCat("hotfix --replace ", ShortPath(e.path), " twice"));
    }
    PF_RETURN_IF_ERROR(CheckHotfixBlob(e));
    named.push_back(e.digest);
    replacements.push_back(std::move(e));
  }
  const std::string id = ReleaseId(key);
  std::lock_guard<std::mutex> lock(mu_);
  PF_RETURN_IF_ERROR(CheckStillStoredLocked(removals_seen, named));
  auto it = releases_.find(id);
  if (it == releases_.end()) return absl::NotFoundError(absl::StrCat("no release ", ShortPath(id)));
  if (!replacements.empty()) {  // Each replaces a regular file of the release's tree.
    if (it->second.kind() != v1::RELEASE_KIND_TREE) {
      return absl::InvalidArgumentError("hotfix --replace: the release is a file, not a tree");
    }
    PF_ASSIGN_OR_RETURN(std::shared_ptr<const v1::StoredManifest> manifest,
                        ManifestLocked(it->second.manifest_digest()));
    PF_ASSIGN_OR_RETURN(Manifest tree, FromProto(manifest->entries()));
    for (const ManifestEntry& e : replacements) {
      const ManifestEntry* original = FindEntry(tree, e.path);  // Sorted: a binary search.
      if (original == nullptr || original->type != EntryType::kFile) {
        return absl::InvalidArgumentError(absl::StrCat(
            "hotfix --replace ", ShortPath(e.path), ": not a regular file of release ", id));
      }
    }
  }
  v1::StoredRelease updated = it->second;
  *updated.mutable_hotfix_files() = request.files();
  *updated.mutable_hotfix_replacements() = request.replacements();
  PF_RETURN_IF_ERROR(store_->Write({{kReleasePrefix + id, updated.SerializeAsString()}}, /*sync=*/true));
  it->second = std::move(updated);
  ChangedLocked();
  v1::HotfixResponse response;
  response.set_files(static_cast<uint32_t>(files.size() + replacements.size()));
  return response;
}

v1::StatusResponse Coordinator::Status(const std::string& product) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const v1::StoredRelease*> list;
  for (const auto& [id, r] : releases_) {
    if (product.empty() || r.release().product() == product) list.push_back(&r);
  }
  std::sort(list.begin(), list.end(), [](const v1::StoredRelease* a, const v1::StoredRelease* b) {
    return a->seq() < b->seq();
  });
  v1::StatusResponse response;
  for (const v1::StoredRelease* r : list) *response.add_releases() = ReleaseStatusLocked(*r);
  if (!product.empty()) *response.mutable_policy() = PolicyToProto(PolicyForLocked(product));
  response.set_now_unix_seconds(NowUnixSeconds());
  return response;
}

}  // namespace patchfarm
