#include "publisher/publisher.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <memory>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/html.h"
#include "client/blob_transfer.h"
#include "common/directory.h"
#include "common/ed25519.h"
#include "common/grpc_channel.h"
#include "common/file.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "coordinator/version.h"
#include "core/tree/result_binding.h"
#include "core/tree/tree_diff.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "proto/patchfarm/v1/manifest_convert.h"
#include "proto/patchfarm/v1/site.pb.h"

namespace patchfarm {
namespace {

// Everything one publish run needs.
class SiteWriter {
 public:
  SiteWriter(const PublishOptions& options, const std::string& site_dir)
      : options_(options), site_dir_(site_dir) {
    ChannelOptions channel_options;
    channel_options.token = options.token;
    channel_options.tls_ca_pem = options.tls_ca_pem;
    channel_options.tls_cert_pem = options.tls_cert_pem;
    channel_options.tls_key_pem = options.tls_key_pem;
    auto channel = MakeChannel(options.coordinator, channel_options);
    coordinator_ = v1::CoordinatorService::NewStub(channel);
    blobs_ = v1::BlobService::NewStub(channel);
  }

  absl::Status Open() {
    PF_ASSIGN_OR_RETURN(cache_, BlobStore::Open(options_.out_dir + "/.cache"));
    return absl::OkStatus();
  }

  // Copies blob `digest` into the site as `name`.
  absl::StatusOr<v1::SiteFile> AddBlob(const std::string& channel_dir, const std::string& name,
                                       const Digest& digest) {
    PF_RETURN_IF_ERROR(DownloadToStore(blobs_.get(), digest, cache_.get()));
    PF_ASSIGN_OR_RETURN(std::string path, cache_->PathOf(digest));
    return AddFile(channel_dir, name, path, digest);
  }

  // Copies job `job`'s package into the site as `name` after checking that it
  // leads from release `from` to release `to` (core/tree/result_binding.h):
  // what the index signs is checked here, whatever the coordinator accepted.
  absl::StatusOr<v1::SitePatch> AddPatch(const std::string& channel_dir, const std::string& name,
                                         const v1::JobStatus& job, const v1::ReleaseStatus& from,
                                         const v1::ReleaseStatus& to) {
    Digest digest, to_digest;
    PF_RETURN_IF_ERROR(ParseDigest(job.package_digest(), &digest));
    PF_RETURN_IF_ERROR(ParseDigest(to.manifest_digest(), &to_digest));
    PF_RETURN_IF_ERROR(DownloadToStore(blobs_.get(), digest, cache_.get()));
    PF_ASSIGN_OR_RETURN(std::string path, cache_->PathOf(digest));
    PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> package, FileSource::Open(path));
    PF_ASSIGN_OR_RETURN(const Manifest* from_manifest, ManifestOf(from));
    absl::Status bound = CheckPackageBinding(*package, *from_manifest, to_digest);
    if (!bound.ok()) {
      return absl::Status(bound.code(), absl::StrCat("package ", from.release().version(), " -> ",
                                                     to.release().version(), " (job ", job.job_id(),
                                                     "): ", bound.message()));
    }
    v1::SitePatch patch;
    patch.set_from_version(from.release().version());
    patch.set_to_version(to.release().version());
    PF_ASSIGN_OR_RETURN(Digest from_digest, ManifestDigestOf(from));
    patch.set_from_manifest_sha256(DigestToHex(from_digest));
    patch.set_to_manifest_sha256(DigestToHex(to_digest));
    PF_ASSIGN_OR_RETURN(*patch.mutable_file(), AddFile(channel_dir, name, path, digest));
    return patch;
  }

  // The manifest of `release`, fetched once per publish.
  absl::StatusOr<const Manifest*> ManifestOf(const v1::ReleaseStatus& release) {
    auto it = manifests_.find(release.release_id());
    if (it != manifests_.end()) return &it->second;
    v1::GetManifestRequest request;
    request.set_release_id(release.release_id());
    v1::GetManifestResponse response;
    grpc::ClientContext context;
    PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator_->GetManifest(&context, request, &response)));
    PF_ASSIGN_OR_RETURN(Manifest manifest, FromProto(response.entries()));
    if (DigestBytes(ManifestDigest(manifest)) != release.manifest_digest()) {
      return absl::DataLossError(
          absl::StrCat("release ", release.release_id(), ": its manifest does not match its digest"));
    }
    return &(manifests_[release.release_id()] = std::move(manifest));
  }

  absl::StatusOr<Digest> ManifestDigestOf(const v1::ReleaseStatus& release) {
    Digest digest;
    PF_RETURN_IF_ERROR(ParseDigest(release.manifest_digest(), &digest));
    return digest;
  }

  absl::StatusOr<v1::SiteFile> AddFile(const std::string& channel_dir, const std::string& name,
                                       const std::string& path, const Digest& digest) {
    PF_RETURN_IF_ERROR(CopyFile(path, JoinPath(channel_dir, name), 0644));
    struct stat st;
    if (stat(JoinPath(channel_dir, name).c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", name);
    v1::SiteFile file;
    file.set_url(name);
    file.set_size(static_cast<uint64_t>(st.st_size));
    file.set_sha256(DigestToHex(digest));
    ++report.files;
    report.bytes += file.size();
    return file;
  }

  // The full package of a release (a tree package from an empty tree), built
  // once per manifest and kept in the cache.
  absl::StatusOr<v1::SiteFile> AddFullPackage(const std::string& channel_dir, const std::string& name,
                                              const v1::ReleaseStatus& release) {
    std::string cached = absl::StrCat(options_.out_dir, "/.cache/full-",
                                      DigestToHex(Sha256Of(release.manifest_digest())));
    struct stat st;
    if (stat(cached.c_str(), &st) != 0) {
      PF_ASSIGN_OR_RETURN(const Manifest* found, ManifestOf(release));
      const Manifest& manifest = *found;
      for (const ManifestEntry& e : manifest) {
        if (e.type == EntryType::kFile) {
          PF_RETURN_IF_ERROR(DownloadToStore(blobs_.get(), e.digest, cache_.get()));
        }
      }
      FileLocator locate = [this](const ManifestEntry& e) {
        absl::StatusOr<std::string> path = cache_->PathOf(e.digest);
        return path.ok() ? *path : std::string("/nonexistent/blob");
      };
      PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> out, AtomicFileWriter::Create(cached));
      PF_RETURN_IF_ERROR(
          MakePackageFromManifests(Manifest(), locate, manifest, locate, TreeDiffOptions(), out.get()));
      PF_RETURN_IF_ERROR(out->Commit());
    }
    uint64_t size = 0;
    PF_ASSIGN_OR_RETURN(Digest digest, HashFile(cached, &size));
    return AddFile(channel_dir, name, cached, digest);
  }

  std::unique_ptr<v1::CoordinatorService::Stub> coordinator_;
  PublishReport report;

 private:
  const PublishOptions& options_;
  std::string site_dir_;
  std::unique_ptr<v1::BlobService::Stub> blobs_;
  std::unique_ptr<BlobStore> cache_;
  std::map<std::string, Manifest> manifests_;  // By release id.
};

bool Done(const v1::JobStatus& j) { return j.state() == v1::JOB_STATE_DONE; }

// The serial of the index currently published for `product` (0 if none).
uint64_t CurrentSerial(const std::string& site) {
  uint64_t serial = 0;
  DIR* d = opendir(site.c_str());
  if (d == nullptr) return 0;
  while (struct dirent* e = readdir(d)) {
    std::string index = absl::StrCat(site, "/", e->d_name, "/index.json");
    auto file = MappedFile::Open(index);
    if (!file.ok()) continue;
    v1::UpdateIndex parsed;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (google::protobuf::util::JsonStringToMessage(std::string((*file)->data()), &parsed, options).ok()) {
      serial = std::max<uint64_t>(serial, parsed.serial());
    }
  }
  closedir(d);
  return serial;
}

std::string Ini(const std::string& product, const std::string& version, const std::string& motd) {
  std::string one_line = motd;
  std::replace(one_line.begin(), one_line.end(), '\n', ' ');
  return absl::StrCat("[", product, "]\nVersion=", version, "\nMOTD=", one_line, "\n");
}

}  // namespace

absl::StatusOr<PublishReport> Publish(const PublishOptions& options) {
  PF_RETURN_IF_ERROR(ValidateName("product", options.product));
  if (mkdir(options.out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, "mkdir", options.out_dir);
  }
  const std::string site = JoinPath(options.out_dir, options.product);
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
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

  SiteWriter writer(options, partial);
  PF_RETURN_IF_ERROR(writer.Open());
  v1::StatusRequest request;
  request.set_product(options.product);
  v1::StatusResponse status;
  grpc::ClientContext context;
  PF_RETURN_IF_ERROR(FromGrpcStatus(writer.coordinator_->Status(&context, request, &status)));

  // channel -> platform -> releases (tree releases only; see SITE.md).
  std::map<std::string, std::map<std::string, std::vector<const v1::ReleaseStatus*>>> groups;
  for (const v1::ReleaseStatus& r : status.releases()) {
    if (r.kind() == v1::RELEASE_KIND_TREE) groups[r.release().channel()][r.release().platform()].push_back(&r);
  }
  for (auto& [channel, platforms] : groups) {
    const std::string channel_dir = JoinPath(partial, channel);
    if (mkdir(channel_dir.c_str(), 0755) != 0) return ErrnoToStatus(errno, "mkdir", channel_dir);
    v1::UpdateIndex index;
    index.set_format(1);
    index.set_product(options.product);
    index.set_channel(channel);
    index.set_serial(serial);
    index.set_published(static_cast<int64_t>(now));
    index.set_expires(static_cast<int64_t>(now) + int64_t{options.valid_days} * 86400);
    index.set_motd(options.motd);
    std::string newest_overall;
    std::string html = absl::StrCat("<!-- patchfarm download fragment: ", HtmlEscape(options.product),
                                    " ", HtmlEscape(channel), " -->\n<ul class=\"patchfarm-downloads\">\n");
    for (auto& [platform, releases] : platforms) {
      std::sort(releases.begin(), releases.end(), [](auto* a, auto* b) {
        return CompareVersions(a->release().version(), b->release().version()) < 0;
      });
      // The newest formal release whose jobs are all done.
      const v1::ReleaseStatus* newest = nullptr;
      for (const v1::ReleaseStatus* r : releases) {
        if (!r->intermediate() && std::all_of(r->jobs().begin(), r->jobs().end(), Done)) newest = r;
      }
      if (newest == nullptr) continue;
      v1::SitePlatform* p = index.add_platforms();
      p->set_platform(platform);
      p->set_newest(newest->release().version());
      PF_ASSIGN_OR_RETURN(Digest newest_digest, writer.ManifestDigestOf(*newest));
      p->set_newest_manifest_sha256(DigestToHex(newest_digest));
      std::map<std::string, const v1::ReleaseStatus*> by_version;
      for (const v1::ReleaseStatus* r : releases) by_version[r->release().version()] = r;
      if (newest_overall.empty() || CompareVersions(p->newest(), newest_overall) > 0) {
        newest_overall = p->newest();
      }
      for (const v1::JobStatus& j : newest->jobs()) {  // Cumulative patches.
        auto from = by_version.find(j.from_version());
        if (from == by_version.end()) {
          return absl::DataLossError(absl::StrCat("job ", j.job_id(), ": no release ", j.from_version()));
        }
        v1::SitePatch* patch = p->add_patches();
        PF_ASSIGN_OR_RETURN(*patch, writer.AddPatch(channel_dir, absl::StrCat("from_", platform, "_", j.from_version()),
                                                    j, *from->second, *newest));
        patch->set_cumulative(true);
      }
      // Chained patches: each formal release from its predecessor, within the window.
      std::vector<const v1::ReleaseStatus*> formal;
      for (const v1::ReleaseStatus* r : releases) {
        if (!r->intermediate() && CompareVersions(r->release().version(), newest->release().version()) <= 0) {
          formal.push_back(r);
        }
      }
      for (size_t i = 1; i < formal.size(); ++i) {
        const std::string& from = formal[i - 1]->release().version();
        const std::string& to = formal[i]->release().version();
        bool covered = false;
        for (const v1::SitePatch& c : p->patches()) covered |= c.from_version() == from;
        if (!covered) continue;  // Outside the window: no chain through it.
        for (const v1::JobStatus& j : formal[i]->jobs()) {
          if (j.from_version() != from || !Done(j) || to == newest->release().version()) continue;
          PF_ASSIGN_OR_RETURN(*p->add_patches(),
                              writer.AddPatch(channel_dir, absl::StrCat("chain_", platform, "_", from, "_to_", to),
                                              j, *formal[i - 1], *formal[i]));
        }
      }
      // Hotfixes: for installs at exactly their release.
      for (const v1::ReleaseStatus* r : releases) {
        if (r->hotfix_files_size() == 0) continue;
        v1::SiteHotfix* hotfix = p->add_hotfixes();
        hotfix->set_version(r->release().version());
        for (const v1::ManifestEntry& e : r->hotfix_files()) {
          PF_RETURN_IF_ERROR(ValidateHotfixName(e.path()));
          Digest digest;
          PF_RETURN_IF_ERROR(ParseDigest(e.digest(), &digest));
          v1::SiteHotfixFile* file = hotfix->add_files();
          file->set_name(e.path());
          file->set_mode(e.mode());
          PF_ASSIGN_OR_RETURN(*file->mutable_file(),
                              writer.AddBlob(channel_dir,
                                             absl::StrCat("hotfix_", platform, "_", hotfix->version(), "_", e.path()),
                                             digest));
        }
      }
      // Full packages: the newest formal release and intermediate releases after it.
      for (const v1::ReleaseStatus* r : releases) {
        bool later_intermediate = r->intermediate() &&
                                  CompareVersions(r->release().version(), newest->release().version()) > 0;
        if (r != newest && !later_intermediate) continue;
        v1::SiteRelease* full = p->add_releases();
        full->set_version(r->release().version());
        full->set_intermediate(r->intermediate());
        PF_ASSIGN_OR_RETURN(Digest manifest_digest, writer.ManifestDigestOf(*r));
        full->set_manifest_sha256(DigestToHex(manifest_digest));
        PF_ASSIGN_OR_RETURN(*full->mutable_full(),
                            writer.AddFullPackage(channel_dir, absl::StrCat("full_", platform, "_", full->version()), *r));
        absl::StrAppend(&html, "  <li data-platform=\"", HtmlEscape(platform), "\"><a href=\"",
                        HtmlEscape(full->full().url()), "\">", HtmlEscape(options.product), " ",
                        HtmlEscape(full->version()), full->intermediate() ? " (test build)" : "",
                        " for ", HtmlEscape(platform), "</a> <span class=\"size\">", full->full().size(),
                        " bytes</span> <code class=\"sha256\">", full->full().sha256(), "</code></li>\n");
      }
    }
    if (index.platforms_size() == 0) continue;
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
    ++writer.report.channels;
  }
  if (writer.report.channels == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.product, ": no finished formal tree release to publish"));
  }
  // Switch: <out>/<product> is a symlink to the new tree, replaced in one rename.
  PF_RETURN_IF_ERROR(SyncFileSystem(partial));
  if (rename(partial.c_str(), target.c_str()) != 0) return ErrnoToStatus(errno, "rename", target);
  // The tree live until now: readers may still be fetching from it.
  std::string previous;
  char link[4096];
  ssize_t link_size = readlink(site.c_str(), link, sizeof(link));
  if (link_size > 0 && static_cast<size_t>(link_size) < sizeof(link)) {
    previous = std::string(link, static_cast<size_t>(link_size));
    previous = previous.substr(previous.rfind('/') + 1);
  }
  const std::string link_tmp = site + ".switch";
  unlink(link_tmp.c_str());
  std::string relative = absl::StrCat(".published/", options.product, ".", serial);
  if (symlink(relative.c_str(), link_tmp.c_str()) != 0) return ErrnoToStatus(errno, "symlink", link_tmp);
  if (rename(link_tmp.c_str(), site.c_str()) != 0) {
    absl::Status failed = ErrnoToStatus(errno, "rename to", site);
    unlink(link_tmp.c_str());
    return failed;
  }
  switched = true;
  PF_RETURN_IF_ERROR(FsyncDirectory(options.out_dir));
  // Older sites go, except the previous one.
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
  writer.report.serial = serial;
  writer.report.site = site;
  return writer.report;
}

}  // namespace patchfarm
