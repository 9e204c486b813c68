#include "updater/replaced_files.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/tree/manifest.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

constexpr char kField[] = "replaced";

struct Entry {
  std::string path;
  std::string original_sha256;
  std::string new_sha256;
};

bool IsHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::vector<Entry> ReadList(const Marker& marker) {
  std::vector<Entry> list;
  for (absl::string_view item : absl::StrSplit(marker.Get(kField), ',', absl::SkipEmpty())) {
    std::vector<std::string> parts = absl::StrSplit(item, ':');
    if (parts.size() != 3) continue;
    list.push_back({absl::HexStringToBytes(parts[0]), parts[1], parts[2]});
  }
  return list;
}

void WriteList(const std::vector<Entry>& list, Marker* marker) {
  std::vector<std::string> items;
  for (const Entry& e : list) {
    items.push_back(absl::StrCat(absl::BytesToHexString(e.path), ":", e.original_sha256, ":",
                                 e.new_sha256));
  }
  marker->fields[kField] = absl::StrJoin(items, ",");
}

absl::StatusOr<std::string> Sha256Hex(const std::string& path) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest digest, HashFile(path, &size));
  return DigestToHex(digest);
}

int ModeOf(const std::string& path, int fallback) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : fallback;
}

}  // namespace

absl::Status EnsureRealDirectory(const std::string& path) {
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoToStatus(errno, "mkdir", path);
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", path);
  if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(QuotePath(path), " is not a real directory (a symlink?): refusing to write through it"));
  }
  return absl::OkStatus();
}

absl::Status ReplacedFiles::Validate(const v1::SiteHotfixReplacement& r) {
  if (absl::Status valid = ValidateTreePath(r.path()); !valid.ok()) {
    return absl::DataLossError(absl::StrCat("the index names a replaced file badly: ", valid.message()));
  }
  if (!IsHex64(r.original_sha256()) || !IsHex64(r.file().sha256())) {
    return absl::DataLossError(
        absl::StrCat("the index names the digests of replaced ", QuotePath(r.path()), " badly"));
  }
  return absl::OkStatus();
}

void ReplacedFiles::RemoveTempCopies(const std::string& install_dir, const Marker& marker) {
  for (const Entry& e : ReadList(marker)) {
    if (!ValidateTreePath(e.path).ok()) continue;
    std::vector<std::string> parts = absl::StrSplit(e.path, '/');
    std::string dir = install_dir;
    bool real = true;  // No symlink on the way: nothing outside the install is touched.
    for (size_t i = 0; real && i + 1 < parts.size(); ++i) {
      dir = JoinPath(dir, parts[i]);
      struct stat st;
      real = lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    }
    DIR* listing = real ? opendir(dir.c_str()) : nullptr;
    if (listing == nullptr) continue;
    const std::string& base = parts.back();
    std::vector<std::string> left;
    while (struct dirent* d = readdir(listing)) {
      const std::string name = d->d_name;
      // <base>.tmp-XXXXXX: the copy CopyFileAtomically was writing.
      if (IsTemporaryFileName(name) && name.size() == base.size() + 11 &&
          name.compare(0, base.size(), base) == 0) {
        left.push_back(JoinPath(dir, name));
      }
    }
    closedir(listing);
    for (const std::string& path : left) {
      struct stat st;
      if (lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) unlink(path.c_str());
    }
  }
}

absl::StatusOr<std::string> ReplacedFiles::InstalledFile(const std::string& path) const {
  PF_RETURN_IF_ERROR(ValidateTreePath(path));
  std::string at = install_dir_;
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  for (size_t i = 0; i < parts.size(); ++i) {
    at = JoinPath(at, parts[i]);
    struct stat st;
    const bool last = i + 1 == parts.size();
    if (lstat(at.c_str(), &st) != 0 && errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat(QuotePath(at), " is missing"));
    }
    if (lstat(at.c_str(), &st) != 0 || (last ? !S_ISREG(st.st_mode) : !S_ISDIR(st.st_mode))) {
      return absl::FailedPreconditionError(absl::StrCat(
          QuotePath(at), last ? " is not a regular file" : " is not a real directory (a symlink?)",
          ": the hotfix does not replace it"));
    }
  }
  return at;
}

std::string ReplacedFiles::KeptOriginal(const std::string& path) const {
  return JoinPath(JoinPath(state_dir_, "replaced"), DigestToHex(Sha256Of(path)));
}

absl::Status ReplacedFiles::RestoreAll(Marker* marker) {
  std::vector<Entry> list = ReadList(*marker);
  while (!list.empty()) {
    const Entry& e = list.back();
    // A symlink on the way is refused; a file (or directory) the user
    // removed is put back.
    absl::StatusOr<std::string> installed = InstalledFile(e.path);
    if (!installed.ok() && !absl::IsNotFound(installed.status())) return installed.status();
    const std::string target = JoinPath(install_dir_, e.path);
    const std::string kept = KeptOriginal(e.path);
    absl::StatusOr<std::string> kept_sha = Sha256Hex(kept);
    absl::StatusOr<std::string> have = installed.ok() ? Sha256Hex(target) : installed.status();
    if (have.ok() && *have == e.original_sha256) {  // Restored before a crash.
      log_(absl::StrCat("hotfix restored ", QuotePath(e.path), " (sha256 ", e.original_sha256, ")"));
    } else if (kept_sha.ok() && *kept_sha == e.original_sha256 &&
               (installed.ok() || EnsureParents(e.path).ok())) {
      PF_RETURN_IF_ERROR(CopyFileAtomically(kept, target, ModeOf(kept, 0644)));
      log_(absl::StrCat("hotfix restored ", QuotePath(e.path), " (sha256 ", e.original_sha256, ")"));
    } else {
      // Nothing to restore it from: the list forgets it, and the update's
      // own checks of the file decide (a package that needs the original
      // fails, and the full package rewrites it).
      log_(absl::StrCat("hotfix cannot restore ", QuotePath(e.path), ": its kept original ",
                        QuotePath(kept), " is missing or damaged"));
    }
    list.pop_back();
    WriteList(list, marker);
    PF_RETURN_IF_ERROR(save_(*marker));
    unlink(kept.c_str());
  }
  return absl::OkStatus();
}

absl::Status ReplacedFiles::EnsureParents(const std::string& path) const {
  std::string at = install_dir_;
  std::vector<std::string> parts = absl::StrSplit(path, '/');
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    at = JoinPath(at, parts[i]);
    PF_RETURN_IF_ERROR(EnsureRealDirectory(at));
  }
  return absl::OkStatus();
}

absl::Status ReplacedFiles::Sync(const v1::SitePlatform& p, const std::string& version,
                                 const Downloader& download, Marker* marker) {
  std::vector<const v1::SiteHotfixReplacement*> wanted;
  for (const v1::SiteHotfix& h : p.hotfixes()) {
    if (h.version() != version) continue;
    for (const v1::SiteHotfixReplacement& r : h.replacements()) {
      PF_RETURN_IF_ERROR(Validate(r));
      wanted.push_back(&r);
    }
  }
  // Nothing to do when the marker lists exactly these, each file in place.
  const std::vector<Entry> current = ReadList(*marker);
  bool same = current.size() == wanted.size();
  for (size_t i = 0; same && i < wanted.size(); ++i) {
    const Entry& e = current[i];
    same = e.path == wanted[i]->path() && e.original_sha256 == wanted[i]->original_sha256() &&
           e.new_sha256 == wanted[i]->file().sha256();
    if (!same) break;
    absl::StatusOr<std::string> target = InstalledFile(e.path);
    absl::StatusOr<std::string> have = target.ok() ? Sha256Hex(*target) : target.status();
    same = have.ok() && *have == e.new_sha256;
  }
  if (same) return absl::OkStatus();
  PF_RETURN_IF_ERROR(RestoreAll(marker));
  std::vector<Entry> list;
  for (const v1::SiteHotfixReplacement* r : wanted) {
    PF_ASSIGN_OR_RETURN(std::string target, InstalledFile(r->path()));
    PF_ASSIGN_OR_RETURN(std::string have, Sha256Hex(target));
    if (have != r->original_sha256()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the install's ", QuotePath(r->path()), " is not the file the hotfix replaces (sha256 ",
          have, ", not ", r->original_sha256(), ")"));
    }
    PF_ASSIGN_OR_RETURN(std::string downloaded, download(r->file()));
    PF_RETURN_IF_ERROR(EnsureRealDirectory(JoinPath(state_dir_, "replaced")));
    const int mode = ModeOf(target, 0644);
    PF_RETURN_IF_ERROR(CopyFileAtomically(target, KeptOriginal(r->path()), mode));
    list.push_back({r->path(), r->original_sha256(), r->file().sha256()});
    WriteList(list, marker);
    PF_RETURN_IF_ERROR(save_(*marker));
    PF_RETURN_IF_ERROR(CopyFileAtomically(
        downloaded, target, r->mode() != 0 ? static_cast<int>(r->mode() & 0777) : mode));
    log_(absl::StrCat("hotfix replaced ", QuotePath(r->path()), " for ", version, " (sha256 ",
                      r->file().sha256(), "; the original is kept)"));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
