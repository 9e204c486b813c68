// The coordinator's product policies and retention (coordinator.h, top
// comment): the policies set and stored, chained patches planned for what a
// policy keeps, results dropped once no policy keeps them, and the
// full-package sizes publishes record. Kept apart from coordinator_jobs.cc, which
// holds the job life cycle.
#include <algorithm>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/status_macros.h"
#include "coordinator/coordinator.h"
#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "core/release/version.h"
#include "coordinator/store_keys.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

using coordinator_keys::kDropPrefix;
using coordinator_keys::kJobPrefix;
using coordinator_keys::kNextSeqKey;
using coordinator_keys::kPolicyPrefix;
using coordinator_keys::kReleasePrefix;
using coordinator_keys::ReleaseId;


bool Lists(const google::protobuf::RepeatedPtrField<std::string>& ids, const std::string& id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// Removes every id in `drop` from `ids`; true if any was there.
bool RemoveIds(google::protobuf::RepeatedPtrField<std::string>* ids,
               const std::set<std::string>& drop) {
  const int before = ids->size();
  ids->erase(std::remove_if(ids->begin(), ids->end(),
                            [&](const std::string& id) { return drop.count(id) != 0; }),
             ids->end());
  return ids->size() != before;
}

}  // namespace

const Policy& Coordinator::PolicyForLocked(const std::string& product) const {
  auto it = policies_.find(product);
  return it == policies_.end() ? options_.policy : it->second;
}

int64_t Coordinator::NowUnixSeconds() const {
  return absl::ToUnixSeconds(clock_->Now());
}

std::map<std::string, std::vector<const v1::StoredRelease*>> Coordinator::LinesLocked(
    const std::string& product) const {
  std::map<std::string, std::vector<const v1::StoredRelease*>> lines;
  for (const auto& [id, r] : releases_) {
    if (!product.empty() && r.release().product() != product) continue;
    const v1::ReleaseKey& k = r.release();
    lines[absl::StrCat(k.product(), "/", k.platform(), "/", k.channel(), "/", r.kind())].push_back(&r);
  }
  return lines;
}

std::vector<LineRelease> Coordinator::LineReleasesLocked(
    const std::vector<const v1::StoredRelease*>& line) const {
  std::vector<LineRelease> releases;
  for (const v1::StoredRelease* r : line) {
    LineRelease lr;
    lr.version = r->release().version();
    lr.intermediate = r->intermediate();
    lr.submitted_unix_seconds = r->submitted_unix_seconds();
    lr.finished = FinishedLocked(*r);
    releases.push_back(std::move(lr));
  }
  return releases;
}

bool Coordinator::FinishedLocked(const v1::StoredRelease& r) const {
  // As ReleaseStatus shows it: dropped jobs are not listed (and were done);
  // and as the publisher sees it: a job run again after its package was
  // refused leaves its release published (site_plan.cc).
  return std::all_of(r.job_ids().begin(), r.job_ids().end(), [&](const std::string& id) {
    auto it = jobs_.find(id);
    return it == jobs_.end() || it->second.status().state() == v1::JOB_STATE_DONE ||
           std::find(r.rerun_job_ids().begin(), r.rerun_job_ids().end(), id) !=
               r.rerun_job_ids().end();
  });
}

absl::Status Coordinator::PlanChainLocked(const std::string& product) {
  const int64_t now = NowUnixSeconds();
  uint64_t seq = next_seq_;
  std::vector<StoreWrite> writes;
  std::vector<v1::StoredJob> new_jobs;
  std::map<std::string, v1::StoredRelease> updated;  // By release id.
  for (const auto& [line_key, line] : LinesLocked(product)) {
    const std::vector<LineRelease> releases = LineReleasesLocked(line);
    const std::optional<std::string> newest = NewestFormal(releases);
    if (!newest) continue;
    std::map<std::string, const v1::StoredRelease*> by_version;
    for (const v1::StoredRelease* r : line) by_version[r->release().version()] = r;
    const Policy& policy = PolicyForLocked(line.front()->release().product());
    for (const VersionPair& link : RetainFor(policy, releases, *newest, now).chain) {
      const v1::StoredRelease& from = *by_version.at(link.first);
      const v1::StoredRelease& to = *by_version.at(link.second);
      if (from.manifest_digest() == to.manifest_digest()) continue;  // Same content: no patch.
      const std::string job_id = JobIdOf(from.manifest_digest(), to.manifest_digest());
      const bool exists = jobs_.count(job_id) != 0 ||
                          std::any_of(new_jobs.begin(), new_jobs.end(), [&](const v1::StoredJob& j) {
                            return j.status().job_id() == job_id;
                          });
      const bool listed = Lists(to.job_ids(), job_id) || Lists(to.chain_job_ids(), job_id);
      if (exists && listed) continue;
      if (!exists) {
        new_jobs.push_back(NewJobLocked(from, to, 1, &seq));
        writes.push_back({kJobPrefix + job_id, new_jobs.back().SerializeAsString()});
      }
      if (!listed) {
        const std::string to_id = ReleaseId(to.release());
        auto [it, fresh] = updated.try_emplace(to_id, to);
        it->second.add_chain_job_ids(job_id);
      }
      LogLocked(absl::StrCat("event=chain_planned job=", job_id, " from=", link.first,
                             " to=", link.second));
    }
  }
  if (writes.empty() && updated.empty()) return absl::OkStatus();
  for (const auto& [id, release] : updated) {
    writes.push_back({kReleasePrefix + id, release.SerializeAsString()});
  }
  writes.push_back({kNextSeqKey, std::to_string(seq)});
  PF_RETURN_IF_ERROR(store_->Write(writes, /*sync=*/true));
  next_seq_ = seq;
  for (v1::StoredJob& job : new_jobs) AdoptJobLocked(std::move(job));
  for (auto& [id, release] : updated) releases_[id] = std::move(release);
  return absl::OkStatus();
}

void Coordinator::DropExpiredLocked() {
  const int64_t now = NowUnixSeconds();
  // 1. The release jobs some policy keeps, and those listed at all.
  std::set<std::string> listed, kept;
  for (const auto& [line_key, line] : LinesLocked("")) {
    const Keep keep =
        KeepFor(PolicyForLocked(line.front()->release().product()), LineReleasesLocked(line), now);
    std::map<std::string, const v1::StoredRelease*> by_version;
    for (const v1::StoredRelease* r : line) {
      by_version[r->release().version()] = r;
      const bool all = keep.everything || keep.all_into.count(r->release().version()) != 0;
      for (const auto* ids : {&r->job_ids(), &r->chain_job_ids()}) {
        for (const std::string& id : *ids) {
          listed.insert(id);
          if (all) kept.insert(id);
        }
      }
    }
    for (const VersionPair& patch : keep.patches) {
      auto from = by_version.find(patch.first);
      auto to = by_version.find(patch.second);
      if (from == by_version.end() || to == by_version.end()) continue;
      kept.insert(JobIdOf(from->second->manifest_digest(), to->second->manifest_digest()));
    }
  }
  // 2. Candidates: finished release jobs nothing keeps (one-off results
  // stay), and blobs an interrupted pass had begun to drop.
  std::vector<DropCandidate> candidates;
  std::set<std::string> dropping;  // Job ids.
  for (const std::string& id : listed) {
    auto it = jobs_.find(id);
    if (kept.count(id) != 0 || it == jobs_.end()) continue;
    const v1::JobStatus& s = it->second.status();
    DropCandidate c;
    if (s.state() != v1::JOB_STATE_DONE || s.one_off() || !ParseDigest(s.package_digest(), &c.digest).ok()) {
      continue;
    }
    c.job_id = id;
    c.from_version = s.from_version();
    c.to_version = s.to_version();
    candidates.push_back(c);
    dropping.insert(id);
  }
  // Segment jobs whose pair's job is done (joined) or gone: their results
  // served the join only.
  for (const auto& [id, job] : jobs_) {
    if (job.parent_job_id().empty()) continue;
    auto parent = jobs_.find(job.parent_job_id());
    if (parent != jobs_.end() && parent->second.status().state() != v1::JOB_STATE_DONE) continue;
    dropping.insert(id);
    DropCandidate c;
    if (job.status().state() == v1::JOB_STATE_DONE &&
        ParseDigest(job.status().package_digest(), &c.digest).ok()) {
      c.job_id = id;
      c.from_version = job.status().from_version();
      c.to_version = job.status().to_version();
      candidates.push_back(c);
    }
  }
  std::set<std::string> markers;  // Hex digests with a drop/ record.
  absl::Status scanned = store_->Scan(kDropPrefix, [&](absl::string_view key, absl::string_view) {
    const std::string hex(key.substr(sizeof(kDropPrefix) - 1));
    DropCandidate c;
    if (hex.size() == 64 && hex.find_first_not_of("0123456789abcdef") == std::string::npos &&
        ParseDigest(absl::HexStringToBytes(hex), &c.digest).ok()) {
      markers.insert(hex);
      candidates.push_back(c);
    }
    return true;
  });
  if (!scanned.ok()) {
    LogLocked(absl::StrCat("event=blob_drop_failed error=\"", scanned.message(), "\""));
    return;
  }
  if (candidates.empty()) return;
  // 3. What still names a candidate's blob: any other job, any hotfix, any
  // release's manifest. If a manifest cannot be read, nothing is dropped.
  std::set<Digest> wanted;
  for (const DropCandidate& c : candidates) wanted.insert(c.digest);
  absl::StatusOr<std::set<Digest>> named = NamedLocked(wanted, dropping);
  if (!named.ok()) return;
  const std::set<Digest>& referenced = *named;
  // 4. The records first, with a drop/ record per blob to remove: a crash
  // after this leaves those records (finished at the next pass), never a job
  // naming a blob that is gone.
  std::vector<StoreWrite> writes;
  for (const std::string& id : dropping) writes.push_back({kJobPrefix + id, std::nullopt});
  std::map<std::string, v1::StoredRelease> updated;
  for (const auto& [id, r] : releases_) {
    v1::StoredRelease copy = r;
    bool changed = RemoveIds(copy.mutable_job_ids(), dropping);
    changed |= RemoveIds(copy.mutable_chain_job_ids(), dropping);
    if (!changed) continue;
    writes.push_back({kReleasePrefix + id, copy.SerializeAsString()});
    updated[id] = std::move(copy);
  }
  for (const Digest& d : wanted) {
    const std::string key = kDropPrefix + DigestToHex(d);
    if (referenced.count(d) == 0) {
      writes.push_back({key, std::string()});
    } else if (markers.count(DigestToHex(d)) != 0) {
      writes.push_back({key, std::nullopt});  // Named again meanwhile: kept.
    }
  }
  absl::Status written = store_->Write(writes, /*sync=*/true);
  if (!written.ok()) {
    LogLocked(absl::StrCat("event=blob_drop_failed error=\"", written.message(), "\""));
    return;
  }
  for (const std::string& id : dropping) {
    // A child of an earlier split may still be queued or leased: its worker
    // learns at its next heartbeat that the job is gone.
    queue_.Remove(id);
    EndLeaseLocked(id);
    jobs_.erase(id);
  }
  for (auto& [id, r] : updated) releases_[id] = std::move(r);
  // 5. The blobs, then their drop/ records.
  std::vector<StoreWrite> done;
  for (const DropCandidate& c : DropBlobsLocked(candidates, referenced)) {
    done.push_back({kDropPrefix + DigestToHex(c.digest), std::nullopt});
  }
  if (!done.empty()) store_->Write(done, /*sync=*/false).IgnoreError();  // Redone if lost.
  if (!dropping.empty()) {
    LogLocked(absl::StrCat("event=jobs_dropped jobs=", dropping.size()));
    ChangedLocked();
  }
}

absl::StatusOr<std::set<Digest>> Coordinator::NamedLocked(
    const std::set<Digest>& wanted, const std::set<std::string>& ignored_jobs) {
  std::set<Digest> named;
  auto note = [&](const std::string& raw) {
    Digest d;
    if (ParseDigest(raw, &d).ok() && wanted.count(d) != 0) named.insert(d);
  };
  for (const auto& [id, job] : jobs_) {
    if (ignored_jobs.count(id) == 0) note(job.status().package_digest());
  }
  for (const auto& [id, r] : releases_) {
    for (const v1::ManifestEntry& e : r.hotfix_files()) note(e.digest());
    for (const v1::ManifestEntry& e : r.hotfix_replacements()) note(e.digest());
    note(r.full_package_digest());
    absl::StatusOr<std::shared_ptr<const v1::StoredManifest>> manifest =
        ManifestLocked(r.manifest_digest(), /*cache=*/false);
    if (!manifest.ok()) {
      LogLocked(absl::StrCat("event=blob_drop_failed release=", id, " error=\"",
                             manifest.status().message(), "\""));
      return manifest.status();
    }
    for (const v1::ManifestEntry& e : (*manifest)->entries()) note(e.digest());
  }
  return named;
}

std::vector<DropCandidate> Coordinator::DropBlobsLocked(const std::vector<DropCandidate>& candidates,
                                                        const std::set<Digest>& referenced) {
  std::vector<DropCandidate> dropped = dropper_.Drop(candidates, referenced);
  // After the unlinks: a caller that read the count before them sees it
  // changed and checks again; one that read it after finds the blobs gone.
  ++blob_removals_;
  return dropped;
}

absl::Status Coordinator::CheckStillStoredLocked(uint64_t removals_seen,
                                                 const std::vector<Digest>& digests) const {
  if (blob_removals_ == removals_seen) return absl::OkStatus();
  for (const Digest& d : digests) {
    if (!blobs_->Has(d)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "blob ", DigestToHex(d), " is not uploaded (it was removed meanwhile: upload it again)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Coordinator::DropOrphanBlobs(absl::Time now, absl::Duration age) {
  // Listed without the lock (a store may hold many blobs); judged under it.
  absl::StatusOr<std::vector<BlobStore::StoredBlob>> stored = blobs_->List();
  if (!stored.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    LogLocked(absl::StrCat("event=blob_drop_failed error=\"", stored.status().message(), "\""));
    return stored.status();
  }
  std::vector<DropCandidate> candidates;
  std::set<Digest> wanted;
  uint64_t stored_bytes = 0;
  for (const BlobStore::StoredBlob& b : *stored) {
    stored_bytes += b.size;
    if (b.changed >= now - age) continue;
    DropCandidate c;
    c.digest = b.digest;
    candidates.push_back(c);
    wanted.insert(b.digest);
  }
  if (candidates.empty()) return 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (releases_.empty()) return 0;  // A store beside a new database: nothing is judged.
  PF_ASSIGN_OR_RETURN(const std::set<Digest> referenced, NamedLocked(wanted, {}));
  // A blob removed and uploaded again since it was listed is young again.
  std::vector<DropCandidate> old;
  uint64_t old_bytes = 0;
  for (const DropCandidate& c : candidates) {
    if (referenced.count(c.digest) != 0) continue;
    absl::StatusOr<BlobStore::StoredBlob> info = blobs_->Info(c.digest);
    if (!info.ok() || info->changed >= now - age) continue;
    old.push_back(c);
    old_bytes += info->size;
  }
  if (old.empty()) return 0;
  if (old_bytes > stored_bytes / 2) {
    // Most of the store named by nothing: a database older than its blobs
    // (restored from another backup), or another coordinator's store.
    LogLocked(absl::StrCat("event=blob_drop_refused blobs=", old.size(), " bytes=", old_bytes,
                           " of=", stored_bytes,
                           " error=\"most of the store is named by nothing: is the database "
                           "the one of these blobs? Nothing was removed\""));
    return absl::FailedPreconditionError("most of the blob store is named by nothing; nothing removed");
  }
  const uint64_t dropped = DropBlobsLocked(old, referenced).size();
  LogLocked(absl::StrCat("event=orphan_blobs_dropped blobs=", dropped));
  return dropped;
}

absl::StatusOr<v1::PolicyResponse> Coordinator::SetPolicy(const v1::PolicyRequest& request) {
  PF_RETURN_IF_ERROR(ValidateName("product", request.product()));
  std::lock_guard<std::mutex> lock(mu_);
  const Policy& current = PolicyForLocked(request.product());
  PF_ASSIGN_OR_RETURN(Policy policy, MergePolicy(current, request));
  if (!request.has_cumulative_window() && !request.has_keep_chain() && !request.has_keep_days() &&
      !request.has_max_patch_ratio()) {
    return PolicyToProto(policy);  // Asked, not changed.
  }
  PF_RETURN_IF_ERROR(store_->Write({{kPolicyPrefix + request.product(),
                                     PolicyToRequest(request.product(), policy).SerializeAsString()}},
                                   /*sync=*/true));
  policies_[request.product()] = policy;
  LogLocked(absl::StrCat("event=policy_set product=", request.product(),
                         " window=", policy.cumulative_window, " keep_chain=", policy.keep_chain,
                         " keep_days=", policy.keep_days, " max_patch_ratio=", policy.max_patch_ratio));
  ApplyRetentionLocked(request.product());
  ChangedLocked();
  return PolicyToProto(policy);
}

void Coordinator::ApplyRetentionLocked(const std::string& product) {
  absl::Status planned = PlanChainLocked(product);
  if (!planned.ok()) {
    LogLocked(absl::StrCat("event=chain_plan_failed product=", product, " error=\"",
                           planned.message(), "\""));
  }
  DropExpiredLocked();
}

absl::Status Coordinator::RecordFullPackage(const v1::RecordFullPackageRequest& request) {
  Digest digest;
  PF_RETURN_IF_ERROR(ParseDigest(request.package_digest(), &digest));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = releases_.find(request.release_id());
  if (it == releases_.end()) {
    return absl::NotFoundError(absl::StrCat("no release ", ShortPath(request.release_id())));
  }
  if (it->second.full_package_size() == request.package_size() &&
      it->second.full_package_digest() == request.package_digest()) {
    return absl::OkStatus();
  }
  v1::StoredRelease updated = it->second;
  updated.set_full_package_size(request.package_size());
  updated.set_full_package_digest(request.package_digest());
  PF_RETURN_IF_ERROR(store_->Write({{kReleasePrefix + it->first, updated.SerializeAsString()}},
                                   /*sync=*/false));
  it->second = std::move(updated);
  return absl::OkStatus();
}

}  // namespace patchfarm
