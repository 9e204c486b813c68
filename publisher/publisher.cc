#include "publisher/publisher.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/directory.h"
#include "common/ed25519.h"
#include "common/file.h"
#include "common/file_system.h"
#include "common/html.h"
#include "common/status_macros.h"
#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "core/release/version.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/util/json_util.h"
#include "publisher/farm_source.h"
#include "publisher/site_cache.h"
#include "publisher/site_plan.h"
#include "publisher/site_writer.h"
#include "publisher/update_sizes.h"

namespace patchfarm {
namespace {

constexpr const char* kSiteMetaFiles[] = {"index.json", "index.json.sig", "version.ini",
                                          "download.html"};

// The serial of the index currently published for `product` (0 if none).
uint64_t CurrentSerial(const std::string& site) {
  uint64_t serial = 0;
  DIR* d = opendir(site.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = readdir(d)) {
    absl::StatusOr<v1::UpdateIndex> index = ParseIndexFile(absl::StrCat(site, "/", e->d_name, "/index.json"));
    if (index.ok()) serial = std::max<uint64_t>(serial, index->serial());
  }
  closedir(d);
  return serial;
}

std::string Ini(const std::string& product, const std::string& version, const std::string& motd) {
  std::string one_line = motd;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  return absl::StrCat("[", product, "]\nVersion=", version, "\nMOTD=", one_line, "\n");
}

std::string DownloadLine(const std::string& product, const std::string& platform,
                         const v1::SiteRelease& full) {
  return absl::StrCat("  <li data-platform=\"", HtmlEscape(platform), "\"><a href=\"",
                      HtmlEscape(full.full().url()), "\">", HtmlEscape(product), " ",
                      HtmlEscape(full.version()), full.intermediate() ? " (test build)" : "",
                      " for ", HtmlEscape(platform), "</a> <span class=\"size\">", full.full().size(),
                      " bytes</span> <code class=\"sha256\">", full.full().sha256(), "</code></li>\n");
}

v1::UpdateIndex NewIndex(const PublishOptions& options, const std::string& channel,
                         uint64_t serial, uint64_t now) {
  v1::UpdateIndex index;
  index.set_format(1);
  index.set_product(options.product);
  index.set_channel(channel);
  index.set_serial(serial);
  index.set_published(static_cast<int64_t>(now));
  index.set_expires(static_cast<int64_t>(now) + int64_t{options.valid_days} * 86400);
  index.set_motd(options.motd);
  return index;
}

// The policy and time the coordinator reports (a coordinator from before
// they were reported: the defaults and this machine's clock).
Policy PolicyOf(const v1::StatusResponse& status) { return PolicyFromProto(status.policy()); }
int64_t NowOf(const v1::StatusResponse& status, const Clock& clock) {
  return status.now_unix_seconds() > 0 ? status.now_unix_seconds() : absl::ToUnixSeconds(clock.Now());
}

// Plans with plan_by_channel[channel] = that channel's platforms.
std::map<std::string, std::vector<const PlatformPlan*>> ByChannel(const std::vector<PlatformPlan>& plans) {
  std::map<std::string, std::vector<const PlatformPlan*>> by_channel;
  for (const PlatformPlan& plan : plans) by_channel[plan.channel].push_back(&plan);
  return by_channel;
}

void AddSizes(const PlatformPlan& plan, const v1::SitePlatform& site, PublishReport* report) {
  for (UpdateSize& row : UpdateSizes(plan, site)) report->sizes.push_back(std::move(row));
}

// Asks the coordinator to run the jobs of `refused` packages again, once per
// job (channels share packages), and says in each what it did.
void AskForReruns(FarmSource* farm, std::vector<RefusedPackage>* refused) {
  std::map<std::string, std::string> asked;  // Job id -> what the coordinator did.
  for (RefusedPackage& r : *refused) {
    auto [it, first] = asked.try_emplace(r.job_id);
    if (first) {
      v1::RejectResultRequest request;
      request.set_job_id(r.job_id);
      request.set_package_digest(r.package_digest);
      absl::StatusOr<v1::RejectResultResponse> rejected = farm->RejectResult(request);
      if (!rejected.ok()) {
        it->second = absl::StrCat("not run again: ", rejected.status().message());
      } else if (rejected->job().state() == v1::JOB_STATE_FAILED) {
        it->second = absl::StrCat("failed for good after ", rejected->job().attempts(), " attempts");
      } else {
        it->second = absl::StrCat("queued again (attempt ", rejected->job().attempts() + 1, ")");
      }
    }
    r.rerun = it->second;
  }
}

// Writes one platform's packages, full packages and hotfix files into
// `channel_dir` and returns its index entry.
absl::StatusOr<v1::SitePlatform> WritePlatform(SiteWriter* writer, const PlatformPlan& plan,
                                               const std::string& channel_dir,
                                               std::vector<RefusedPackage>* refused) {
  v1::SitePlatform p;
  p.set_platform(plan.platform);
  p.set_newest(plan.newest->release().version());
  Digest newest_digest;
  PF_RETURN_IF_ERROR(ParseDigest(plan.newest->manifest_digest(), &newest_digest));
  p.set_newest_manifest_sha256(DigestToHex(newest_digest));
  for (const PlannedPatch& planned : plan.patches) {
    std::string why;
    PF_ASSIGN_OR_RETURN(std::optional<v1::SitePatch> patch,
                        writer->AddPatch(channel_dir, planned.name, *planned.job, *planned.from,
                                         *planned.to, &why));
    if (!patch) {
      refused->push_back({plan.channel, plan.platform, planned.name,
                          planned.from->release().version(), planned.to->release().version(),
                          planned.job->job_id(), why, planned.job->package_digest(), ""});
      continue;
    }
    patch->set_cumulative(planned.cumulative);
    *p.add_patches() = *std::move(patch);
  }
  for (const v1::ReleaseStatus* r : plan.releases) {  // Hotfixes: for installs at exactly r.
    if (r->hotfix_files_size() == 0 && r->hotfix_replacements_size() == 0) continue;
    v1::SiteHotfix* hotfix = p.add_hotfixes();
    hotfix->set_version(r->release().version());
    for (const v1::ManifestEntry& e : r->hotfix_files()) {
      PF_RETURN_IF_ERROR(ValidateHotfixName(e.path()));
      Digest digest;
      PF_RETURN_IF_ERROR(ParseDigest(e.digest(), &digest));
      v1::SiteHotfixFile* file = hotfix->add_files();
      file->set_name(e.path());
      file->set_mode(e.mode());
      PF_ASSIGN_OR_RETURN(*file->mutable_file(),
                          writer->AddBlob(channel_dir,
                                          HotfixFileName(plan.platform, hotfix->version(), e.path()),
                                          digest));
    }
    for (const v1::ManifestEntry& e : r->hotfix_replacements()) {
      PF_ASSIGN_OR_RETURN(*hotfix->add_replacements(),
                          writer->AddReplacement(channel_dir, plan.platform, *r, e));
    }
  }
  for (const v1::ReleaseStatus* r : plan.full) {
    v1::SiteRelease* full = p.add_releases();
    full->set_version(r->release().version());
    full->set_intermediate(r->intermediate());
    Digest manifest_digest;
    PF_RETURN_IF_ERROR(ParseDigest(r->manifest_digest(), &manifest_digest));
    full->set_manifest_sha256(DigestToHex(manifest_digest));
    PF_ASSIGN_OR_RETURN(*full->mutable_full(),
                        writer->AddFullPackage(channel_dir, FullPackageName(plan.platform, full->version()), *r));
  }
  return p;
}

// The channel directories of the live site `site` (none if it is missing).
std::vector<std::string> ChannelsOf(const std::string& site) {
  std::vector<std::string> channels;
  DIR* d = opendir(site.c_str());
  if (d == nullptr) return channels;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') channels.push_back(e->d_name);
  }
  closedir(d);
  return channels;
}

// The live site's files of each channel, "<channel>/<name>" -> SHA-256 (hex),
// from its index (hashing files it does not name).
std::map<std::string, std::string> LiveFiles(const std::string& site) {
  std::map<std::string, std::string> files;
  for (const std::string& channel : ChannelsOf(site)) {
    const std::string dir = JoinPath(site, channel);
    std::map<std::string, std::string> named;
    if (absl::StatusOr<v1::UpdateIndex> index = ParseIndexFile(JoinPath(dir, "index.json")); index.ok()) {
      for (const v1::SitePlatform& p : index->platforms()) {
        ForEachSiteFile(p, [&](const v1::SiteFile& x) { named[x.url()] = x.sha256(); });
      }
    }
    DIR* c = opendir(dir.c_str());
    if (c == nullptr) continue;
    while (struct dirent* e = readdir(c)) {
      const std::string name = e->d_name;
      if (name == "." || name == ".." ||
          std::find(std::begin(kSiteMetaFiles), std::end(kSiteMetaFiles), name) != std::end(kSiteMetaFiles)) {
        continue;
      }
      std::string& sha = files[channel + "/" + name];
      if (named.count(name) != 0) {
        sha = named[name];
      } else {
        uint64_t size = 0;
        absl::StatusOr<Digest> digest = HashFile(JoinPath(dir, name), &size);
        sha = digest.ok() ? DigestToHex(*digest) : "";
      }
    }
    closedir(c);
  }
  return files;
}

// The SHA-256 (hex) of every package the live site's indexes name that this
// key signed (Ed25519 signs deterministically: signing an index again gives
// its signature): what a publish checked before it signed them, or one
// before package checks. Files and indexes otherwise there are not trusted.
std::set<std::string> SignedPatchDigests(const std::string& site, const std::string& private_pem) {
  std::set<std::string> digests;
  for (const std::string& channel : ChannelsOf(site)) {
    const std::string index_path = JoinPath(JoinPath(site, channel), "index.json");
    absl::StatusOr<std::string> json = ReadFileToString(index_path);
    absl::StatusOr<std::string> signature = ReadFileToString(index_path + ".sig");
    if (!json.ok() || !signature.ok()) continue;
    absl::StatusOr<std::string> ours = SignEd25519(private_pem, *json);
    if (!ours.ok() || *ours != *signature) continue;
    // The bytes checked, not the file read again.
    absl::StatusOr<v1::UpdateIndex> index = ParseIndex(*json, index_path);
    if (!index.ok()) continue;
    for (const v1::SitePlatform& p : index->platforms()) {
      for (const v1::SitePatch& patch : p.patches()) digests.insert(patch.file().sha256());
    }
  }
  return digests;
}

// Whether `path` is a symlink to one of `product`'s published trees
// (.published/<product>.<serial>), as publishes make them.
bool IsSiteLinkOf(const std::string& path, const std::string& product) {
  char link[4096];
  const ssize_t n = readlink(path.c_str(), link, sizeof(link));
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(link)) return false;
  const std::string ours = absl::StrCat(".published/", product, ".");
  const absl::string_view target(link, static_cast<size_t>(n));
  uint64_t serial = 0;
  return target.substr(0, ours.size()) == ours &&
         absl::SimpleAtoi(target.substr(ours.size()), &serial);
}

// A product's site is the symlink <out>/<product>, which a publish replaces:
// FailedPrecondition if that name holds anything else (an operator's
// index.html, when a product was submitted under that name).
absl::Status CheckSiteLink(const std::string& site, const std::string& product) {
  struct stat st;
  if (lstat(site.c_str(), &st) != 0) {
    return errno == ENOENT ? absl::OkStatus() : ErrnoToStatus(errno, "lstat", site);
  }
  if (!IsSiteLinkOf(site, product)) {
    return absl::FailedPreconditionError(absl::StrCat(
        site, " is not the link to a published site of ", product,
        ": a publish would replace it (move it away, or name the product otherwise)"));
  }
  return absl::OkStatus();
}

// Publish without writing under options.out_dir: see PublishOptions::dry_run.
absl::StatusOr<PublishReport> DryRun(const PublishOptions& options, FarmSource* farm) {
  const std::string site = JoinPath(options.out_dir, options.product);
  PF_RETURN_IF_ERROR(CheckSiteLink(site, options.product));
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixSeconds(options.clock->Now()));
  std::string scratch_root = options.scratch_dir;
  if (scratch_root.empty()) scratch_root = getenv("TMPDIR") != nullptr ? getenv("TMPDIR") : "/tmp";
  std::string scratch = JoinPath(scratch_root, "patchfarm-dry-run-XXXXXX");
  if (mkdtemp(scratch.data()) == nullptr) return ErrnoToStatus(errno, "mkdtemp", scratch);
  absl::Cleanup remove_scratch = [&] { RemoveTree(scratch).IgnoreError(); };

  // Held while the site's cache is read: a publish's prune waits for it.
  PF_ASSIGN_OR_RETURN(std::unique_ptr<SiteCacheLock> cache_lock,
                      SiteCacheLock::Shared(options.out_dir, /*create=*/false));
  SiteWriter writer(options, farm, JoinPath(scratch, "cache"), JoinPath(options.out_dir, ".cache"));
  PF_RETURN_IF_ERROR(writer.Open());
  PF_ASSIGN_OR_RETURN(v1::StatusResponse status, writer.Status());
  // A full package's size and digest: cached, as recorded by an earlier
  // publish, or built in the scratch directory.
  std::map<std::string, v1::SiteFile> fulls;  // By release id.
  auto full_file = [&](const v1::ReleaseStatus& r) -> absl::StatusOr<v1::SiteFile> {
    auto known = fulls.find(r.release_id());
    if (known != fulls.end()) return known->second;
    v1::SiteFile file;
    file.set_url(FullPackageName(r.release().platform(), r.release().version()));
    Digest digest;
    if (std::optional<SiteWriter::FullPackage> cached = writer.CachedFullPackage(r)) {
      file.set_size(cached->size);
      file.set_sha256(DigestToHex(cached->digest));
    } else if (r.full_package_size() > 0 && ParseDigest(r.full_package_digest(), &digest).ok()) {
      file.set_size(r.full_package_size());
      file.set_sha256(DigestToHex(digest));
    } else {
      PF_ASSIGN_OR_RETURN(SiteWriter::FullPackage built, writer.BuildFullPackage(r));
      file.set_size(built.size);
      file.set_sha256(DigestToHex(built.digest));
    }
    return fulls[r.release_id()] = file;
  };
  FullSizeFn full_size = [&](const v1::ReleaseStatus& r) -> absl::StatusOr<std::optional<uint64_t>> {
    if (std::optional<uint64_t> cached = writer.CachedFullPackageSize(r)) return cached;
    if (r.full_package_size() > 0) return r.full_package_size();
    PF_ASSIGN_OR_RETURN(v1::SiteFile file, full_file(r));
    return file.size();
  };
  PF_ASSIGN_OR_RETURN(std::vector<PlatformPlan> plans,
                      PlanSite(status, PolicyOf(status), NowOf(status, *options.clock), full_size));
  PublishReport report;
  report.serial = std::max(CurrentSerial(site) + 1, now);
  report.site = site;
  std::map<std::string, std::string> planned;  // "<channel>/<name>" -> SHA-256.
  for (const auto& [channel, platforms] : ByChannel(plans)) {
    v1::UpdateIndex index = NewIndex(options, channel, report.serial, now);
    for (const PlatformPlan* plan : platforms) {
      for (const v1::ReleaseStatus* r : plan->full) PF_RETURN_IF_ERROR(full_file(*r).status());
      v1::SitePlatform* p = index.add_platforms();
      *p = PreviewPlatform(*plan, fulls);
      ForEachSiteFile(*p, [&](const v1::SiteFile& x) { planned[channel + "/" + x.url()] = x.sha256(); });
      report.gated.insert(report.gated.end(), plan->gated.begin(), plan->gated.end());
      AddSizes(*plan, *p, &report);
    }
    report.indexes.push_back(std::move(index));
    ++report.channels;
  }
  if (report.channels == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.product, ": no finished formal tree release to publish"));
  }
  const std::map<std::string, std::string> live = LiveFiles(site);
  for (const auto& [name, sha] : planned) {
    auto it = live.find(name);
    (it == live.end() ? report.added : it->second == sha ? report.kept : report.replaced).push_back(name);
  }
  for (const auto& [name, sha] : live) {
    if (planned.count(name) == 0) report.removed.push_back(name);
  }
  return report;
}

// Writes one channel of the new site into `channel_dir`: the platforms'
// packages, the signed index, version.ini and the download fragment.
absl::Status WriteChannel(const PublishOptions& options, const std::string& channel,
                          const std::vector<const PlatformPlan*>& platforms,
                          const std::string& channel_dir, uint64_t serial, uint64_t now,
                          SiteWriter* writer, PublishReport* report) {
  if (mkdir(channel_dir.c_str(), 0755) != 0) return ErrnoToStatus(errno, "mkdir", channel_dir);
  v1::UpdateIndex index = NewIndex(options, channel, serial, now);
  std::string newest_overall;
  std::string html = absl::StrCat("<!-- patchfarm download fragment: ", HtmlEscape(options.product),
                                  " ", HtmlEscape(channel), " -->\n<ul class=\"patchfarm-downloads\">\n");
  for (const PlatformPlan* plan : platforms) {
    v1::SitePlatform* p = index.add_platforms();
    PF_ASSIGN_OR_RETURN(*p, WritePlatform(writer, *plan, channel_dir, &report->refused));
    if (newest_overall.empty() || CompareVersions(p->newest(), newest_overall) > 0) {
      newest_overall = p->newest();
    }
    for (const v1::SiteRelease& full : p->releases()) {
      html += DownloadLine(options.product, plan->platform, full);
    }
    report->gated.insert(report->gated.end(), plan->gated.begin(), plan->gated.end());
    AddSizes(*plan, *p, report);
  }
  html += "</ul>\n";
  std::string json;
  google::protobuf::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(index, &json, print).ok()) {
    return absl::InternalError("cannot encode the index");
  }
  PF_ASSIGN_OR_RETURN(std::string signature, SignEd25519(options.private_key_pem, json));
  PF_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(channel_dir, "index.json"), json));
  PF_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(channel_dir, "index.json.sig"), signature));
  PF_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(channel_dir, "version.ini"),
                                         Ini(options.product, newest_overall, options.motd)));
  PF_RETURN_IF_ERROR(WriteFileAtomically(JoinPath(channel_dir, "download.html"), html));
  report->indexes.push_back(std::move(index));
  ++report->channels;
  return absl::OkStatus();
}

// Publishes before stop 36 switched through <out>/<product>.switch, which a
// kill could leave: removed if it is such a link of this product (a product
// named <product>.switch links to .published/<product>.switch.<serial>).
void RemoveOldSwitchLink(const std::string& site, const std::string& product) {
  const std::string old = site + ".switch";
  if (IsSiteLinkOf(old, product)) unlink(old.c_str());
}

// Switches the site in: syncs `partial`, renames it to `target` and replaces
// the <out>/<product> symlink with one rename (`*switched` set once it is);
// then removes older published trees, except the one live until now (readers
// may still be fetching from it).
absl::Status SwitchIn(const PublishOptions& options, const std::string& partial,
                      const std::string& target, uint64_t serial, bool* switched) {
  const std::string site = JoinPath(options.out_dir, options.product);
  const std::string published = JoinPath(options.out_dir, ".published");
  PF_RETURN_IF_ERROR(SyncFileSystem(partial));
  if (rename(partial.c_str(), target.c_str()) != 0) return ErrnoToStatus(errno, "rename", target);
  // The tree's name is on disk before the symlink names it.
  PF_RETURN_IF_ERROR(FsyncDirectory(published));
  std::string previous;
  char link[4096];
  ssize_t link_size = readlink(site.c_str(), link, sizeof(link));
  if (link_size > 0 && static_cast<size_t>(link_size) < sizeof(link)) {
    previous = std::string(link, static_cast<size_t>(link_size));
    previous = previous.substr(previous.rfind('/') + 1);
  }
  // A dot-file: product names cannot start with a dot, so it is no other
  // product's site.
  const std::string link_tmp = JoinPath(options.out_dir, absl::StrCat(".switch-", options.product));
  RemoveOldSwitchLink(site, options.product);
  unlink(link_tmp.c_str());
  std::string relative = absl::StrCat(".published/", options.product, ".", serial);
  if (symlink(relative.c_str(), link_tmp.c_str()) != 0) return ErrnoToStatus(errno, "symlink", link_tmp);
  if (rename(link_tmp.c_str(), site.c_str()) != 0) {
    absl::Status failed = ErrnoToStatus(errno, "rename to", site);
    unlink(link_tmp.c_str());
    return failed;
  }
  *switched = true;
  PF_RETURN_IF_ERROR(FsyncDirectory(options.out_dir));
  if (DIR* d = opendir(published.c_str())) {
    const std::string prefix = options.product + ".";
    const std::string current = prefix + std::to_string(serial);
    std::vector<std::string> old;
    while (struct dirent* e = readdir(d)) {
      std::string name = e->d_name;
      uint64_t s = 0;
      if (name.compare(0, prefix.size(), prefix) == 0 &&
          absl::SimpleAtoi(name.substr(prefix.size()), &s) && name != current &&
          name != previous) {
        old.push_back(name);
      }
    }
    closedir(d);
    for (const std::string& name : old) {
      RemoveTree(JoinPath(published, name)).IgnoreError();
    }
  }
  return absl::OkStatus();
}

// Takes <out_dir>/.publish-<product>.lock (flock), held while the returned
// lock lives, waiting for another publish of the product into the site to end
// (then `*waited`) or, without options.wait_for_others, Aborted. Publishes of
// one product (a CI job's, the coordinator's) thus run one at a time, each
// reading the farm and the live serial after the one before switched in: at
// once, two took the same serial and .partial tree, and a slower one could
// switch in an older status over a newer one.
absl::StatusOr<std::unique_ptr<FileLock>> LockProductPublish(const PublishOptions& options,
                                                             bool* waited) {
  const std::string path =
      JoinPath(options.out_dir, absl::StrCat(".publish-", options.product, ".lock"));
  *waited = false;
  while (true) {
    absl::StatusOr<std::unique_ptr<FileLock>> lock = DefaultFileSystem()->LockFile(path);
    if (!absl::IsUnavailable(lock.status())) return lock;
    if (!options.wait_for_others) {
      return absl::AbortedError(absl::StrCat("another publish of ", options.product, " into ",
                                             options.out_dir, " is running"));
    }
    *waited = true;
    options.clock->SleepFor(absl::Milliseconds(100));
  }
}

// Publish proper: builds the new site beside the live one and switches it in.
absl::StatusOr<PublishReport> WriteSite(const PublishOptions& options, FarmSource* farm) {
  if (mkdir(options.out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, "mkdir", options.out_dir);
  }
  bool waited = false;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileLock> publish_lock,  // Released last.
                      LockProductPublish(options, &waited));
  // Held before the .partial tree exists: another product's publish prunes
  // the .partial trees of killed publishes only while it holds this alone.
  PF_ASSIGN_OR_RETURN(std::unique_ptr<SiteCacheLock> cache_lock,
                      SiteCacheLock::Shared(options.out_dir, /*create=*/true));
  const std::string site = JoinPath(options.out_dir, options.product);
  PF_RETURN_IF_ERROR(CheckSiteLink(site, options.product));
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixSeconds(options.clock->Now()));
  const uint64_t serial = std::max(CurrentSerial(site) + 1, now);
  const std::string published = JoinPath(options.out_dir, ".published");
  const std::string target = absl::StrCat(published, "/", options.product, ".", serial);
  const std::string partial = target + ".partial";
  for (const std::string& d : {published}) {
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoToStatus(errno, "mkdir", d);
  }
  PF_RETURN_IF_ERROR(RemoveTree(partial));
  if (mkdir(partial.c_str(), 0755) != 0) return ErrnoToStatus(errno, "mkdir", partial);
  // A publish that fails leaves no tree behind (target's serial is above the
  // live one's, so it is never the live tree nor the previous one).
  bool switched = false;
  absl::Cleanup remove_unpublished = [&] {
    if (switched) return;
    RemoveTree(partial).IgnoreError();
    RemoveTree(target).IgnoreError();
  };

  SiteWriter writer(options, farm, JoinPath(options.out_dir, ".cache"));
  PF_RETURN_IF_ERROR(writer.Open());
  writer.TrustPublished(SignedPatchDigests(site, options.private_key_pem));
  PF_ASSIGN_OR_RETURN(v1::StatusResponse status, writer.Status());
  // The full packages a failed publish built are recorded too: the next
  // publish's size gate needs no rebuild of those the cache then drops.
  absl::Cleanup record_if_failed = [&] {
    if (!switched) writer.RecordFullPackages(status).IgnoreError();
  };
  // The gate's full sizes: cached, recorded by an earlier publish, or built.
  FullSizeFn full_size = [&](const v1::ReleaseStatus& r) -> absl::StatusOr<std::optional<uint64_t>> {
    if (std::optional<uint64_t> cached = writer.CachedFullPackageSize(r)) return cached;
    if (r.full_package_size() > 0) return r.full_package_size();
    PF_ASSIGN_OR_RETURN(SiteWriter::FullPackage built, writer.BuildFullPackage(r));
    return built.size;
  };
  PF_ASSIGN_OR_RETURN(std::vector<PlatformPlan> plans,
                      PlanSite(status, PolicyOf(status), NowOf(status, *options.clock), full_size));
  PublishReport report;
  if (waited) report.notes.push_back("waited for another publish of this product to end");
  for (const auto& [channel, platforms] : ByChannel(plans)) {
    PF_RETURN_IF_ERROR(
        WriteChannel(options, channel, platforms, JoinPath(partial, channel), serial, now, &writer,
                     &report));
  }
  if (report.channels == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.product, ": no finished formal tree release to publish"));
  }
  PF_RETURN_IF_ERROR(SwitchIn(options, partial, target, serial, &switched));
  absl::StatusOr<uint64_t> pruned =
      cache_lock->TryExclusive()
          ? PruneSiteCache(options.out_dir, options.clock->Now(), options.cache_grace)
          : absl::UnavailableError("another publish is using it");
  cache_lock.reset();  // What follows waits on the coordinator: publishes need not.
  if (!pruned.ok()) {
    report.notes.push_back(absl::StrCat("the site's cache was not pruned: ", pruned.status().message()));
  } else if (*pruned > 0) {
    report.notes.push_back(absl::StrCat("pruned ", *pruned, " bytes from the site's cache"));
  }
  // For `status --sizes` and later publishes' size gate.
  if (absl::Status recorded = writer.RecordFullPackages(status); !recorded.ok()) {
    report.notes.push_back(absl::StrCat("full package sizes not recorded with the coordinator: ",
                                        recorded.message()));
  }
  report.serial = serial;
  report.site = site;
  report.files = writer.files();
  report.bytes = writer.bytes();
  report.checked = writer.checked();
  return report;
}

}  // namespace

absl::StatusOr<PublishReport> Publish(const PublishOptions& options) {
  PF_RETURN_IF_ERROR(ValidateName("product", options.product));
  std::unique_ptr<FarmSource> connected;
  FarmSource* farm = options.farm;
  if (farm == nullptr) {
    GrpcFarmOptions grpc;
    grpc.address = options.coordinator;
    grpc.token = options.token;
    grpc.tls_ca_pem = options.tls_ca_pem;
    grpc.tls_cert_pem = options.tls_cert_pem;
    grpc.tls_key_pem = options.tls_key_pem;
    connected = ConnectFarmSource(grpc);
    farm = connected.get();
  }
  if (options.dry_run) return DryRun(options, farm);
  PF_ASSIGN_OR_RETURN(PublishReport report, WriteSite(options, farm));
  AskForReruns(farm, &report.refused);  // The site's locks are released: each is a check.
  return report;
}

}  // namespace patchfarm
