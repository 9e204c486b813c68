#include "updater/updater.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/directory.h"
#include "common/ed25519.h"
#include "common/file.h"
#include "common/file_system.h"
#include "common/http_fetch.h"
#include "common/status_macros.h"
#include "core/tree/in_place.h"
#include "core/tree/manifest.h"
#include "core/tree/package.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/util/json_util.h"
#include "proto/patchfarm/v1/site.pb.h"
#include "updater/marker.h"
#include "updater/replaced_files.h"
#include "updater/update_path.h"

namespace patchfarm {
namespace {

constexpr uint64_t kMaxIndexBytes = 16 << 20;

// `name` as one segment of a URL's path: every byte but [A-Za-z0-9._~-] as %XX.
std::string UrlEscape(absl::string_view name) {
  std::string out;
  for (unsigned char c : name) {
    if (absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// Whether the install holds nothing but its state (or does not exist). Its
// top level is listed, not its files read: every run asks.
bool InstallIsEmpty(const std::string& dir) {
  auto names = DefaultFileSystem()->ListDirectory(dir);
  if (!names.ok()) return absl::IsNotFound(names.status());
  for (const std::string& name : *names) {
    if (name != kStateDirName) return false;
  }
  return true;
}

// Removes the files of `dir` named as AtomicFileWriter names its temporary
// files (<name>.tmp-XXXXXX), which a killed run leaves; errors are ignored.
// A `dir` that is not a real directory (a symlink out of the install) is
// left alone.
void RemoveTempFiles(const std::string& dir) {
  auto real = DefaultFileSystem()->LStat(dir);
  if (!real.ok() || real->type != FileType::kDirectory) return;
  auto names = DefaultFileSystem()->ListDirectory(dir);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (!IsTemporaryFileName(name)) continue;
    const std::string path = JoinPath(dir, name);
    auto info = DefaultFileSystem()->LStat(path);
    if (info.ok() && info->type == FileType::kRegular) {
      DefaultFileSystem()->Unlink(path).IgnoreError();
    }
  }
}

// Where the install is while a run follows its paths.
struct Position {
  PathStart start;            // What the next path starts from.
  std::string label;          // start's version as logged: "(empty)", "(unknown)".
  std::string origin;         // The label `applied` starts from.
  std::vector<PathEdge> applied;  // Committed and verified since `origin`.
};

// A package of a path that failed: the graph drops it.
struct StepFailure {
  size_t edge = 0;
  std::string url;
  absl::Status status;
};

// A package downloaded and checked against the index, ready to apply.
struct CheckedPackage {
  std::unique_ptr<FileSource> source;
  Package package;
};

class Updater {
 public:
  explicit Updater(const UpdateOptions& options) : options_(options) {
    base_url_ = options.index_url.substr(0, options.index_url.rfind('/') + 1);
    state_ = JoinPath(options.install_dir, kStateDirName);
    marker_path_ = JoinPath(state_, "marker");
  }

  void Log(const std::string& line) {
    if (options_.log) options_.log("patchfarm-update: " + line);
  }

  absl::StatusOr<UpdateReport> Run();

 private:
  absl::StatusOr<v1::UpdateIndex> FetchIndex();
  absl::StatusOr<std::string> Download(const v1::SiteFile& file);
  // Downloads `step`'s package, checks its size and SHA-256, and that it
  // declares the tree the index signs for it.
  absl::StatusOr<CheckedPackage> Check(const PathEdge& step);
  // Follows `path` from `*at`: checks every package first (Check), restores
  // replaced files (replaced_), then applies the packages one at a time,
  // writing the marker as each switch commits and checking the install
  // against the step's signed tree. nullopt once
  // the install is the newest tree; the failed package otherwise, with *at
  // where the install then is. An error only when the marker cannot be
  // written.
  absl::StatusOr<std::optional<StepFailure>> Follow(const UpdatePath& path, Position* at);
  // Checks the install's entries against the manifest digest `target`
  // (hex) that the index signs; a user's own files are not looked at.
  absl::Status CheckInstall(const Package& last, const std::string& target);
  // Records in the marker that the install is `version` with the tree
  // `manifest` (both "" for unknown content), from this run's index, and
  // that no switch is pending.
  absl::Status Record(const std::string& version, const std::string& manifest);
  // Before `step`'s switch: the marker names the step (pending_version,
  // pending_manifest, pending_package), so that a run after a crash between
  // the switch's commit and Record knows where the install is.
  absl::Status MarkPending(const PathEdge& step);
  // The serial the marker records as accepted (0 for none).
  uint64_t MarkerSerial() const;
  // FailedPrecondition if index_ is older than the marker's serial, or for
  // another product or channel than the marker's.
  absl::Status CheckIndexAgainstMarker();
  // FailedPrecondition if the index is for another product or channel than
  // a non-empty `product` or `channel`.
  absl::Status CheckProductAndChannel(const std::string& product, const std::string& channel);
  // Removes the downloads (finished or partial) of files `index` does not
  // name: what failed or cut runs left for packages no longer published.
  void RemoveDownloadsNotNamed(const v1::UpdateIndex& index);
  void ClearPending();  // In memory: the caller saves the marker.
  // At the start of a run that may change the install: finishes or undoes
  // an interrupted switch (RecoverInstall) and, if the marker names a
  // pending step, records the version the install is now.
  absl::Status Recover();
  // Whether the install is the tree `manifest` that the downloaded package
  // `package_sha256` leads to (false if that package is gone).
  bool PendingApplied(const std::string& manifest, const std::string& package_sha256);
  // Writes `marker` to the install's marker file, atomically and durably.
  absl::Status SaveMarker(const Marker& marker);
  absl::Status SyncHotfixes(const v1::SitePlatform& p, const std::string& version, Marker* marker);

  const UpdateOptions& options_;
  std::string base_url_;
  std::string state_;
  std::string marker_path_;
  // One run at a time per install: held from before Recover to the end.
  std::unique_ptr<FileLock> run_lock_;
  ReplacedFiles* replaced_ = nullptr;  // Set by Run before Follow.
  // Set by Run before anything is recorded.
  v1::UpdateIndex index_;
  std::string platform_;
  Marker marker_;
};

absl::StatusOr<v1::UpdateIndex> Updater::FetchIndex() {
  std::string json;
  absl::Status verified;
  // The index and its signature are two requests: a publish between them
  // pairs one index with the next one's signature. Fetched again once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    PF_ASSIGN_OR_RETURN(json, FetchUrl(options_.index_url, kMaxIndexBytes));
    PF_ASSIGN_OR_RETURN(std::string signature, FetchUrl(options_.index_url + ".sig", 1024));
    verified = VerifyEd25519(options_.public_key_pem, json, signature);
    if (verified.ok()) break;
    Log(absl::StrCat("index rejected: ", verified.message(),
                     attempt == 0 ? "; fetching the index and its signature again" : ""));
  }
  if (!verified.ok()) return verified;
  v1::UpdateIndex index;
  google::protobuf::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(json, &index, parse).ok() || index.format() != 1) {
    return absl::DataLossError("signed index is not a format 1 update index");
  }
  return index;
}

absl::StatusOr<std::string> Updater::Download(const v1::SiteFile& file) {
  if (!IsHexDigest(file.sha256()) || file.url().empty() ||
      file.url().find('/') != std::string::npos || file.url()[0] == '.') {
    return absl::DataLossError("index names a file badly");
  }
  const std::string dir = JoinPath(state_, "downloads");
  PF_RETURN_IF_ERROR(EnsureRealDirectory(state_));
  PF_RETURN_IF_ERROR(EnsureRealDirectory(dir));
  const std::string done = JoinPath(dir, file.sha256());
  const std::string part = done + ".part";
  uint64_t size = 0;
  auto have = HashFile(done, &size);
  if (have.ok() && DigestToHex(*have) == file.sha256()) return done;
  const std::string url = base_url_ + UrlEscape(file.url());  // A hotfix name may hold '#'.
  absl::StatusOr<DownloadResult> attempt = DownloadUrl(url, part, file.size());
  if (absl::IsFailedPrecondition(attempt.status())) {  // The server refused the range: start over.
    Log(absl::StrCat(file.url(), ": ", attempt.status().message(), "; downloading from the start"));
    unlink(part.c_str());
    attempt = DownloadUrl(url, part, file.size());
  }
  PF_ASSIGN_OR_RETURN(DownloadResult got, std::move(attempt));
  if (got.resumed_from > 0) Log(absl::StrCat("resumed ", file.url(), " at byte ", got.resumed_from));
  auto digest = HashFile(part, &size);
  auto matches = [&] {
    return digest.ok() && size == file.size() && DigestToHex(*digest) == file.sha256();
  };
  if (!matches() && got.resumed_from > 0) {  // The bytes kept from before were others.
    Log(absl::StrCat(file.url(),
                     ": the resumed download does not match the index; downloading from the start"));
    unlink(part.c_str());
    PF_RETURN_IF_ERROR(DownloadUrl(url, part, file.size()).status());
    digest = HashFile(part, &size);
  }
  if (!matches()) {
    unlink(part.c_str());
    return absl::DataLossError(absl::StrCat(file.url(), ": downloaded bytes do not match the index"));
  }
  if (rename(part.c_str(), done.c_str()) != 0) return ErrnoToStatus(errno, "rename", done);
  Log(absl::StrCat("downloaded ", file.url(), " (", size, " bytes, verified)"));
  return done;
}

absl::StatusOr<CheckedPackage> Updater::Check(const PathEdge& step) {
  PF_ASSIGN_OR_RETURN(std::string path, Download(step.file));
  CheckedPackage checked;
  PF_ASSIGN_OR_RETURN(checked.source, FileSource::Open(path));
  PF_ASSIGN_OR_RETURN(checked.package, ReadPackage(*checked.source));
  if (DigestToHex(checked.package.table.new_manifest_digest) != step.to_manifest) {
    return absl::PermissionDeniedError(absl::StrCat(
        step.file.url(), " declares another tree than the signed index names; not applied"));
  }
  return checked;
}

absl::StatusOr<std::optional<StepFailure>> Updater::Follow(const UpdatePath& path, Position* at) {
  // Every package is checked before the first is applied: a bad one costs
  // nothing, and the next path can still start from here.
  std::vector<CheckedPackage> checked;
  for (const PathEdge& step : path.steps) {
    absl::StatusOr<CheckedPackage> package = Check(step);
    if (!package.ok()) return StepFailure{step.id, step.file.url(), package.status()};
    checked.push_back(*std::move(package));
  }
  // The packages expect the release's files: replaced ones go back first
  // (not before: a run that cannot download leaves the hotfix in place).
  PF_RETURN_IF_ERROR(replaced_->RestoreAll(&marker_));
  InPlaceOptions apply;
  apply.chain.apply_threads = 2;  // FileSources read from two threads.
  for (size_t i = 0; i < path.steps.size(); ++i) {
    const PathEdge& step = path.steps[i];
    PF_RETURN_IF_ERROR(MarkPending(step));
    absl::Status applied =
        ApplyInPlace(options_.install_dir,
                     {{step.file.url(), checked[i].source.get(), &checked[i].package}}, apply);
    if (!applied.ok()) {  // The install is as it was.
      ClearPending();
      PF_RETURN_IF_ERROR(SaveMarker(marker_));
      return StepFailure{step.id, step.file.url(), applied};
    }
    // The switch committed: the marker says so before anything else runs.
    PF_RETURN_IF_ERROR(Record(step.to_version, step.to_manifest));
    Log(absl::StrCat("applied ", step.file.url(), ": ", at->label, " -> ", step.to_version,
                     " (package ", i + 1, " of ", path.steps.size(), ")"));
    absl::Status verified = CheckInstall(checked[i].package, step.to_manifest);
    if (!verified.ok()) {
      // Unknown content: only a full package leads on from here.
      PF_RETURN_IF_ERROR(Record("", ""));
      at->start = PathStart{"", ""};
      at->label = at->origin = "(unknown)";
      at->applied.clear();
      return StepFailure{step.id, step.file.url(), verified};
    }
    at->start = PathStart{step.to_version, step.to_manifest};
    at->label = step.to_version;
    at->applied.push_back(step);
  }
  return std::nullopt;
}

absl::Status Updater::Record(const std::string& version, const std::string& manifest) {
  marker_.fields["product"] = index_.product();
  marker_.fields["channel"] = index_.channel();
  marker_.fields["platform"] = platform_;
  marker_.fields["version"] = version;
  marker_.fields["manifest"] = manifest;
  marker_.fields["serial"] = std::to_string(index_.serial());
  if (marker_.Get("self_update").empty()) marker_.fields["self_update"] = "true";
  ClearPending();
  return SaveMarker(marker_);
}

void Updater::ClearPending() {
  for (const char* field : {"pending_version", "pending_manifest", "pending_package"}) {
    marker_.fields.erase(field);
  }
}

uint64_t Updater::MarkerSerial() const {
  uint64_t serial = 0;
  return absl::SimpleAtoi(marker_.Get("serial"), &serial) ? serial : 0;
}

absl::Status Updater::CheckIndexAgainstMarker() {
  const uint64_t last_serial = MarkerSerial();
  if (index_.serial() < last_serial) {
    Log(absl::StrCat("index rejected: serial ", index_.serial(), " is older than ", last_serial));
    return absl::FailedPreconditionError("the update index is older than one already accepted (replay)");
  }
  return CheckProductAndChannel(marker_.Get("product"), marker_.Get("channel"));
}

absl::Status Updater::CheckProductAndChannel(const std::string& product,
                                             const std::string& channel) {
  for (const auto& [field, want, have] :
       {std::make_tuple("product", product, index_.product()),
        std::make_tuple("channel", channel, index_.channel())}) {
    if (!want.empty() && want != have) {
      Log(absl::StrCat("index rejected: it is for ", field, " ", have, ", this install is ", want));
      return absl::FailedPreconditionError(
          absl::StrCat("the update index is for ", field, " '", have, "', not '", want, "'"));
    }
  }
  return absl::OkStatus();
}

void Updater::RemoveDownloadsNotNamed(const v1::UpdateIndex& index) {
  std::set<std::string> named;
  for (const v1::SitePlatform& p : index.platforms()) {
    for (const v1::SiteRelease& r : p.releases()) named.insert(r.full().sha256());
    for (const v1::SitePatch& patch : p.patches()) named.insert(patch.file().sha256());
    for (const v1::SiteHotfix& h : p.hotfixes()) {
      for (const v1::SiteHotfixFile& f : h.files()) named.insert(f.file().sha256());
      for (const v1::SiteHotfixReplacement& r : h.replacements()) named.insert(r.file().sha256());
    }
  }
  const std::string dir = JoinPath(state_, "downloads");
  auto real = DefaultFileSystem()->LStat(dir);
  if (!real.ok() || real->type != FileType::kDirectory) return;
  auto names = DefaultFileSystem()->ListDirectory(dir);
  if (!names.ok()) return;
  for (const std::string& name : *names) {
    if (named.count(std::string(absl::StripSuffix(name, ".part"))) != 0) continue;
    const std::string path = JoinPath(dir, name);
    auto info = DefaultFileSystem()->LStat(path);
    if (info.ok() && info->type == FileType::kRegular) {
      DefaultFileSystem()->Unlink(path).IgnoreError();
    }
  }
}

absl::Status Updater::MarkPending(const PathEdge& step) {
  marker_.fields["pending_version"] = step.to_version;
  marker_.fields["pending_manifest"] = step.to_manifest;
  marker_.fields["pending_package"] = step.file.sha256();
  return SaveMarker(marker_);
}

bool Updater::PendingApplied(const std::string& manifest, const std::string& package_sha256) {
  if (!IsHexDigest(package_sha256)) return false;
  auto source = FileSource::Open(JoinPath(JoinPath(state_, "downloads"), package_sha256));
  if (!source.ok()) return false;
  auto package = ReadPackage(**source);
  return package.ok() && DigestToHex(package->table.new_manifest_digest) == manifest &&
         CheckInstall(*package, manifest).ok();
}

absl::Status Updater::Recover() {
  PF_ASSIGN_OR_RETURN(Recovery recovery, RecoverInstall(options_.install_dir));
  if (recovery != Recovery::kNone) {
    Log(absl::StrCat("an interrupted apply was found: ", RecoveryName(recovery)));
  }
  const std::string version = marker_.Get("pending_version");
  const std::string manifest = marker_.Get("pending_manifest");
  if (manifest.empty()) return absl::OkStatus();
  // Committed and finished now, or maybe finished before the crash (the
  // journal is gone once an apply has cleaned up): the install says.
  const bool switched = recovery == Recovery::kCompleted ||
                        (recovery != Recovery::kRolledBack &&
                         PendingApplied(manifest, marker_.Get("pending_package")));
  if (switched) {
    Log(absl::StrCat("the last run's switch to ", version, " had committed"));
    marker_.fields["version"] = version;
    marker_.fields["manifest"] = manifest;
  }
  ClearPending();
  return SaveMarker(marker_);
}

absl::Status Updater::SaveMarker(const Marker& marker) {
  PF_ASSIGN_OR_RETURN(std::string encoded, EncodeMarker(marker));
  return WriteFileAtomically(marker_path_, encoded);
}

absl::Status Updater::CheckInstall(const Package& last, const std::string& target) {
  std::vector<std::string> paths;
  paths.reserve(last.table.new_entries.size());
  for (const NewEntry& e : last.table.new_entries) paths.push_back(e.entry.path);
  PF_ASSIGN_OR_RETURN(Manifest installed, ScanPaths(options_.install_dir, paths));
  if (DigestToHex(ManifestDigest(installed)) != target) {
    return absl::DataLossError("after the apply, the install does not match the signed manifest");
  }
  Log(absl::StrCat("install verified against the signed manifest ", target.substr(0, 16)));
  return absl::OkStatus();
}

// Installs the hotfix files for `version` into <install>/hotfix and removes
// those installed for another version; the marker records what is there.
absl::Status Updater::SyncHotfixes(const v1::SitePlatform& p, const std::string& version,
                                   Marker* marker) {
  std::map<std::string, const v1::SiteHotfixFile*> wanted;
  for (const v1::SiteHotfix& h : p.hotfixes()) {
    if (h.version() != version) continue;
    for (const v1::SiteHotfixFile& f : h.files()) {
      if (absl::Status valid = ValidateHotfixName(f.name()); !valid.ok()) {
        return absl::DataLossError(absl::StrCat("the index names a hotfix badly: ", valid.message()));
      }
      wanted[f.name()] = &f;
    }
  }
  const std::string dir = JoinPath(options_.install_dir, "hotfix");
  struct stat st;
  if (lstat(dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(QuotePath(dir), " is not a real directory (a symlink?): hotfixes not installed"));
  }
  for (absl::string_view item : absl::StrSplit(marker->Get("hotfixes"), ',', absl::SkipEmpty())) {
    std::string name(item.substr(0, item.find(':')));
    std::string sha(item.substr(item.find(':') + 1));
    auto it = wanted.find(name);
    if (it != wanted.end() && it->second->file().sha256() == sha) continue;
    if (!ValidateHotfixName(name).ok()) continue;
    if (unlink(JoinPath(dir, name).c_str()) == 0 || errno == ENOENT) {
      Log(absl::StrCat("hotfix removed ", name, " (not for ", version, ")"));
    }
  }
  std::vector<std::string> kept;
  for (const auto& [name, f] : wanted) kept.push_back(absl::StrCat(name, ":", f->file().sha256()));
  marker->fields["hotfixes"] = absl::StrJoin(kept, ",");
  bool listed = false;  // In the marker on disk before any is installed.
  for (const auto& [name, f] : wanted) {
    const std::string target = JoinPath(dir, name);
    uint64_t size = 0;
    auto have = HashFile(target, &size);
    if (!have.ok() || DigestToHex(*have) != f->file().sha256()) {
      PF_ASSIGN_OR_RETURN(std::string path, Download(f->file()));
      PF_RETURN_IF_ERROR(EnsureRealDirectory(dir));
      if (!listed) PF_RETURN_IF_ERROR(SaveMarker(*marker));
      listed = true;
      PF_RETURN_IF_ERROR(CopyFileAtomically(path, target, static_cast<int>(f->mode() & 0777)));
      Log(absl::StrCat("hotfix installed ", name, " for ", version, " (sha256 ", f->file().sha256(), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<UpdateReport> Updater::Run() {
  UpdateReport report;
  PF_ASSIGN_OR_RETURN(index_, FetchIndex());
  const v1::UpdateIndex& index = index_;
  const int64_t now = absl::ToUnixSeconds(options_.clock->Now());
  if (index.expires() < now) {
    Log("index rejected: expired");
    return absl::FailedPreconditionError("the update index has expired (a stale mirror?)");
  }
  PF_RETURN_IF_ERROR(CheckProductAndChannel(options_.product, options_.channel));
  PF_ASSIGN_OR_RETURN(marker_, ReadMarker(marker_path_));
  Marker& marker = marker_;
  PF_RETURN_IF_ERROR(CheckIndexAgainstMarker());
  if (marker.Get("self_update") == "false") {
    Log("self-update is disabled for this install (package-manager install)");
    return report;
  }
  platform_ = options_.platform.empty() ? marker.Get("platform") : options_.platform;
  if (platform_.empty()) return absl::InvalidArgumentError("no --platform and no marker naming one");
  const v1::SitePlatform* p = nullptr;
  for (const v1::SitePlatform& candidate : index.platforms()) {
    if (candidate.platform() == platform_) p = &candidate;
  }
  if (p == nullptr) return absl::NotFoundError(absl::StrCat("the index has no platform ", platform_));
  // A bad hotfix name refuses the index before anything changes.
  for (const v1::SiteHotfix& h : p->hotfixes()) {
    for (const v1::SiteHotfixFile& f : h.files()) {
      if (absl::Status valid = ValidateHotfixName(f.name()); !valid.ok()) {
        Log(absl::StrCat("index rejected: ", valid.message()));
        return absl::DataLossError(
            absl::StrCat("the index names a hotfix badly: ", valid.message()));
      }
    }
    for (const v1::SiteHotfixReplacement& r : h.replacements()) {
      if (absl::Status valid = ReplacedFiles::Validate(r); !valid.ok()) {
        Log(absl::StrCat("index rejected: ", valid.message()));
        return valid;
      }
    }
  }
  if (!options_.check_only) {
    PF_RETURN_IF_ERROR(EnsureRealDirectory(options_.install_dir));
    PF_RETURN_IF_ERROR(EnsureRealDirectory(state_));
    absl::StatusOr<std::unique_ptr<FileLock>> lock =
        DefaultFileSystem()->LockFile(JoinPath(state_, "update.lock"));
    if (!lock.ok()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "another update of ", QuotePath(options_.install_dir), " is running (",
          lock.status().message(), ")"));
    }
    run_lock_ = *std::move(lock);
    // Read again under the lock: a run that held it meanwhile may have
    // recorded a version or a newer serial, which this run must see and
    // not write back over.
    PF_ASSIGN_OR_RETURN(marker_, ReadMarker(marker_path_));
    PF_RETURN_IF_ERROR(CheckIndexAgainstMarker());
    if (!marker.Get("version").empty() && index.serial() > MarkerSerial()) {
      // Accepted now, whatever this run achieves: an install whose
      // downloads are cut must not take an older index next.
      marker.fields["serial"] = std::to_string(index.serial());
      PF_RETURN_IF_ERROR(SaveMarker(marker));
    }
    PF_RETURN_IF_ERROR(Recover());
    // What a run killed while writing the marker, a hotfix or a replaced
    // file's copy left: a game loading every file of hotfix/ would load it.
    RemoveTempFiles(state_);
    RemoveTempFiles(JoinPath(options_.install_dir, "hotfix"));
    RemoveTempFiles(JoinPath(state_, "replaced"));
    ReplacedFiles::RemoveTempCopies(options_.install_dir, marker_);
    RemoveDownloadsNotNamed(index);
  } else if (!marker_.Get("pending_manifest").empty() &&
             PendingApplied(marker_.Get("pending_manifest"), marker_.Get("pending_package"))) {
    // Read only: the switch committed before a crash, which the next run
    // that may change the install records.
    marker_.fields["version"] = marker_.Get("pending_version");
    marker_.fields["manifest"] = marker_.Get("pending_manifest");
  }
  report.newest = p->newest();
  report.motd = index.motd();
  const bool empty = InstallIsEmpty(options_.install_dir);
  report.installed = empty ? "" : marker.Get("version");
  Log(absl::StrCat("installed ", report.installed.empty() ? "nothing" : report.installed,
                   ", newest ", report.newest, " (index serial ", index.serial(), ")"));
  Position at;
  at.start = PathStart{report.installed, report.installed.empty() ? "" : marker.Get("manifest")};
  at.label = !report.installed.empty() ? report.installed : empty ? "(empty)" : "(unknown)";
  at.origin = at.label;
  UpdateGraph graph(*p);
  std::optional<UpdatePath> path;
  bool up_to_date = report.installed == report.newest;
  if (!up_to_date) {
    for (const std::string& url : graph.ignored()) {
      Log(absl::StrCat("ignoring ", url, ": the index does not name its trees"));
    }
    path = graph.Cheapest(at.start);
    if (!path.has_value()) {
      Log(absl::StrCat("no signed package leads from ", at.label, " to ", report.newest));
      return absl::FailedPreconditionError("no signed package leads to the newest version");
    }
    // The marker's tree is the newest already (the version was renamed).
    up_to_date = path->steps.empty();
  }
  if (!up_to_date) {
    report.way = PathName(*path);
    report.download_bytes = path->bytes;
    report.path = DescribePath(*path, at.label);
    Log("path " + report.path);
  }
  if (options_.check_only) return report;
  const ReplacedFiles::Downloader download = [this](const v1::SiteFile& file) {
    return Download(file);
  };
  ReplacedFiles replaced(
      options_.install_dir, state_, [this](const std::string& line) { Log(line); },
      [this](const Marker& m) { return SaveMarker(m); });
  if (up_to_date) {
    Log("up to date");
    PF_RETURN_IF_ERROR(Record(report.newest, marker.Get("manifest")));
  } else {
    replaced_ = &replaced;
    absl::Status last = absl::OkStatus();
    for (bool first = true;; first = false) {
      if (!first) {
        path = graph.Cheapest(at.start);
        if (!path.has_value()) {
          Log(absl::StrCat("no other signed package leads from ", at.label, " to ", report.newest));
          break;
        }
        Log("path " + DescribePath(*path, at.label));
      }
      PF_ASSIGN_OR_RETURN(std::optional<StepFailure> failure, Follow(*path, &at));
      if (!failure.has_value()) {
        report.updated = true;
        break;
      }
      last = failure->status;
      Log(absl::StrCat("the ", PathName(*path), " way failed at ", failure->url, ": ",
                       last.message()));
      graph.Drop(failure->edge);
    }
    if (!report.updated) {
      // The originals may be back (an apply failed after RestoreAll): the
      // version the install is at gets the replacements the index publishes
      // for it again (none published: left as they are).
      const std::string version = marker.Get("version");
      if (std::any_of(p->hotfixes().begin(), p->hotfixes().end(), [&](const v1::SiteHotfix& h) {
            return h.version() == version && h.replacements_size() > 0;
          })) {
        replaced.Sync(*p, version, download, &marker).IgnoreError();
      }
      return last;
    }
    UpdatePath taken;
    taken.steps = at.applied;
    for (const PathEdge& step : taken.steps) taken.bytes += step.file.size();
    report.way = PathName(taken);
    report.download_bytes = taken.bytes;
    report.path = DescribePath(taken, at.origin);
    Log(absl::StrCat("updated to ", report.newest, " by the ", report.way, " way: ", report.path));
  }
  PF_RETURN_IF_ERROR(SyncHotfixes(*p, report.newest, &marker));
  PF_RETURN_IF_ERROR(replaced.Sync(*p, report.newest, download, &marker));
  PF_RETURN_IF_ERROR(SaveMarker(marker));
  if (report.updated) RemoveTree(JoinPath(state_, "downloads")).IgnoreError();
  return report;
}

}  // namespace

absl::StatusOr<UpdateReport> RunUpdate(const UpdateOptions& options) {
  Updater updater(options);
  return updater.Run();
}

}  // namespace patchfarm
