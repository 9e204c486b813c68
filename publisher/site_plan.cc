#include "publisher/site_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/release/retention.h"
#include "core/release/version.h"

namespace patchfarm {
namespace {

bool Done(const v1::JobStatus& j) { return j.state() == v1::JOB_STATE_DONE; }

// The done job of `to` from version `from` (its jobs, then its chain jobs).
const v1::JobStatus* DoneJob(const v1::ReleaseStatus& to, const std::string& from) {
  for (const auto* list : {&to.jobs(), &to.chain_jobs()}) {
    for (const v1::JobStatus& j : *list) {
      if (j.from_version() == from && Done(j)) return &j;
    }
  }
  return nullptr;
}

std::string Hex(const std::string& raw) {
  Digest d{};
  if (!ParseDigest(raw, &d).ok()) return "";
  return DigestToHex(d);
}

}  // namespace

std::string FullPackageName(const std::string& platform, const std::string& version) {
  return absl::StrCat("full_", platform, "_", version);
}

std::string HotfixFileName(const std::string& platform, const std::string& version,
                           const std::string& name) {
  return absl::StrCat("hotfix_", platform, "_", version, "_", name);
}

std::string ReplacementFileName(const std::string& platform, const std::string& version,
                                const std::string& sha256_hex) {
  return absl::StrCat("hotfix_", platform, "_", version, "_replace-", sha256_hex.substr(0, 16));
}

void ForEachSiteFile(const v1::SitePlatform& p, const std::function<void(const v1::SiteFile&)>& fn) {
  for (const v1::SitePatch& x : p.patches()) fn(x.file());
  for (const v1::SiteRelease& x : p.releases()) fn(x.full());
  for (const v1::SiteHotfix& h : p.hotfixes()) {
    for (const v1::SiteHotfixFile& x : h.files()) fn(x.file());
    for (const v1::SiteHotfixReplacement& x : h.replacements()) fn(x.file());
  }
}

absl::StatusOr<std::vector<PlatformPlan>> PlanSite(const v1::StatusResponse& status,
                                                   const Policy& policy, int64_t now_unix_seconds,
                                                   const FullSizeFn& full_size) {
  // channel -> platform -> tree releases.
  std::map<std::string, std::map<std::string, std::vector<const v1::ReleaseStatus*>>> groups;
  for (const v1::ReleaseStatus& r : status.releases()) {
    if (r.kind() == v1::RELEASE_KIND_TREE) {
      groups[r.release().channel()][r.release().platform()].push_back(&r);
    }
  }
  std::vector<PlatformPlan> plans;
  for (auto& [channel, platforms] : groups) {
    for (auto& [platform, releases] : platforms) {
      std::sort(releases.begin(), releases.end(), [](auto* a, auto* b) {
        return CompareVersions(a->release().version(), b->release().version()) < 0;
      });
      std::vector<LineRelease> line;
      std::map<std::string, const v1::ReleaseStatus*> by_version;
      for (const v1::ReleaseStatus* r : releases) {
        // A job run again after its package was refused leaves its release
        // published as it was: the pair is not offered meanwhile.
        line.push_back({r->release().version(), r->intermediate(), r->submitted_unix_seconds(),
                        std::all_of(r->jobs().begin(), r->jobs().end(),
                                    [](const v1::JobStatus& j) { return Done(j) || j.rerun(); })});
        by_version[r->release().version()] = r;
      }
      const std::optional<std::string> newest_version = PublishedNewest(line);
      if (!newest_version) continue;
      PlatformPlan plan;
      plan.channel = channel;
      plan.platform = platform;
      plan.releases = releases;
      plan.newest = by_version.at(*newest_version);
      const Retained retained = RetainFor(policy, line, *newest_version, now_unix_seconds);
      std::map<std::string, std::optional<uint64_t>> full_sizes;  // Asked once per release.
      // Offers `job` (from -> to) unless it is too large next to to's full package.
      auto offer = [&](const v1::ReleaseStatus* from, const v1::ReleaseStatus* to,
                       const v1::JobStatus* job, bool cumulative) -> absl::Status {
        PlannedPatch patch{from, to, job, cumulative,
                           cumulative ? absl::StrCat("from_", platform, "_", from->release().version(),
                                                     "_to_", to->release().version())
                                      : absl::StrCat("chain_", platform, "_", from->release().version(),
                                                     "_to_", to->release().version())};
        auto known = full_sizes.find(to->release_id());
        if (known == full_sizes.end()) {
          PF_ASSIGN_OR_RETURN(std::optional<uint64_t> size, full_size(*to));
          known = full_sizes.emplace(to->release_id(), size).first;
        }
        const std::optional<uint64_t>& full = known->second;
        if (full && static_cast<double>(job->package_size()) >
                        policy.max_patch_ratio * static_cast<double>(*full)) {
          plan.gated.push_back({channel, platform, patch.name, from->release().version(),
                                to->release().version(), job->package_size(), *full});
          return absl::OkStatus();
        }
        plan.patches.push_back(std::move(patch));
        return absl::OkStatus();
      };
      for (const std::string& from : retained.cumulative_from) {
        const v1::JobStatus* job = DoneJob(*plan.newest, from);
        if (job != nullptr) PF_RETURN_IF_ERROR(offer(by_version.at(from), plan.newest, job, true));
      }
      for (const auto& [from, to] : retained.chain) {
        // The last link is the cumulative package from the version before the newest.
        if (to == *newest_version) continue;
        const v1::JobStatus* job = DoneJob(*by_version.at(to), from);
        if (job != nullptr) PF_RETURN_IF_ERROR(offer(by_version.at(from), by_version.at(to), job, false));
      }
      for (const v1::ReleaseStatus* r : releases) {
        const bool later_intermediate =
            r->intermediate() && CompareVersions(r->release().version(), *newest_version) > 0;
        if (r == plan.newest || later_intermediate) plan.full.push_back(r);
      }
      plans.push_back(std::move(plan));
    }
  }
  return plans;
}

v1::SitePlatform PreviewPlatform(const PlatformPlan& plan,
                                 const std::map<std::string, v1::SiteFile>& full_files) {
  v1::SitePlatform p;
  p.set_platform(plan.platform);
  p.set_newest(plan.newest->release().version());
  p.set_newest_manifest_sha256(Hex(plan.newest->manifest_digest()));
  for (const v1::ReleaseStatus* r : plan.full) {
    auto file = full_files.find(r->release_id());
    if (file == full_files.end()) continue;
    v1::SiteRelease* full = p.add_releases();
    full->set_version(r->release().version());
    full->set_intermediate(r->intermediate());
    full->set_manifest_sha256(Hex(r->manifest_digest()));
    *full->mutable_full() = file->second;
  }
  for (const PlannedPatch& planned : plan.patches) {
    v1::SitePatch* patch = p.add_patches();
    patch->set_from_version(planned.from->release().version());
    patch->set_to_version(planned.to->release().version());
    patch->set_cumulative(planned.cumulative);
    patch->set_from_manifest_sha256(Hex(planned.from->manifest_digest()));
    patch->set_to_manifest_sha256(Hex(planned.to->manifest_digest()));
    patch->mutable_file()->set_url(planned.name);
    patch->mutable_file()->set_size(planned.job->package_size());
    patch->mutable_file()->set_sha256(Hex(planned.job->package_digest()));
  }
  for (const v1::ReleaseStatus* r : plan.releases) {
    if (r->hotfix_files_size() == 0 && r->hotfix_replacements_size() == 0) continue;
    v1::SiteHotfix* hotfix = p.add_hotfixes();
    hotfix->set_version(r->release().version());
    for (const v1::ManifestEntry& e : r->hotfix_files()) {
      v1::SiteHotfixFile* file = hotfix->add_files();
      file->set_name(e.path());
      file->set_mode(e.mode());
      file->mutable_file()->set_url(HotfixFileName(plan.platform, r->release().version(), e.path()));
      file->mutable_file()->set_size(e.size());
      file->mutable_file()->set_sha256(Hex(e.digest()));
    }
    for (const v1::ManifestEntry& e : r->hotfix_replacements()) {  // Originals: not known here.
      v1::SiteHotfixReplacement* replaced = hotfix->add_replacements();
      replaced->set_path(e.path());
      replaced->set_mode(e.mode());
      replaced->mutable_file()->set_url(
          ReplacementFileName(plan.platform, r->release().version(), Hex(e.digest())));
      replaced->mutable_file()->set_size(e.size());
      replaced->mutable_file()->set_sha256(Hex(e.digest()));
    }
  }
  return p;
}

}  // namespace patchfarm
