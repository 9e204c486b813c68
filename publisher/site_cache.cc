#include "publisher/site_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/directory.h"
#include "common/file.h"
#include "common/file_system.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"
#include "google/protobuf/util/json_util.h"
#include "publisher/site_plan.h"
#include "storage/blob_store.h"

namespace patchfarm {
namespace {

constexpr char kFullPrefix[] = "full-";

bool IsDirectory(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsHex(const std::string& s, size_t length) {
  return s.size() == length && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// True for full-<64 hex>.tmp-<anything>: a full package AtomicFileWriter was
// writing when its process died.
bool IsFullPackageTemporary(const std::string& name) {
  const size_t hex = sizeof(kFullPrefix) - 1;
  return name.size() > hex + 64 + 5 && name.compare(0, hex, kFullPrefix) == 0 &&
         IsHex(name.substr(hex, 64), 64) && name.compare(hex + 64, 5, ".tmp-") == 0;
}

// The cache names (<64 hex> of a blob, full-<64 hex>) that the indexes of
// every tree under `published` name.
absl::StatusOr<std::set<std::string>> NamedFiles(const std::string& published) {
  FileSystem* fs = DefaultFileSystem();
  std::set<std::string> named;
  PF_ASSIGN_OR_RETURN(std::vector<std::string> trees, fs->ListDirectory(published));
  for (const std::string& tree : trees) {
    if (!IsDirectory(JoinPath(published, tree))) continue;
    PF_ASSIGN_OR_RETURN(std::vector<std::string> channels,
                        fs->ListDirectory(JoinPath(published, tree)));
    for (const std::string& channel : channels) {
      const std::string path = absl::StrCat(published, "/", tree, "/", channel, "/index.json");
      struct stat st;
      if (stat(path.c_str(), &st) != 0) continue;  // Not a channel, or not written yet.
      PF_ASSIGN_OR_RETURN(v1::UpdateIndex index, ParseIndexFile(path));
      for (const v1::SitePlatform& p : index.platforms()) {
        ForEachSiteFile(p, [&](const v1::SiteFile& f) { named.insert(f.sha256()); });
        for (const v1::SiteRelease& r : p.releases()) {
          if (!IsHex(r.manifest_sha256(), 64)) {
            return absl::DataLossError(absl::StrCat(path, ": a bad manifest digest"));
          }
          named.insert(FullPackageCacheName(absl::HexStringToBytes(r.manifest_sha256())));
        }
      }
    }
  }
  return named;
}

}  // namespace

std::string FullPackageCacheName(absl::string_view manifest_digest) {
  return absl::StrCat(kFullPrefix, DigestToHex(Sha256Of(manifest_digest)));
}

absl::StatusOr<v1::UpdateIndex> ParseIndex(const std::string& json, absl::string_view what) {
  v1::UpdateIndex parsed;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(json, &parsed, options).ok()) {
    return absl::DataLossError(absl::StrCat(what, ": not an update index"));
  }
  return parsed;
}

absl::StatusOr<v1::UpdateIndex> ParseIndexFile(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::string json, ReadFileToString(path));
  return ParseIndex(json, path);
}

absl::StatusOr<std::unique_ptr<SiteCacheLock>> SiteCacheLock::Shared(const std::string& out_dir,
                                                                     bool create) {
  const std::string path = JoinPath(out_dir, ".cache.lock");
  const int fd =
      open(path.c_str(), (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    if (!create && errno == ENOENT) return std::unique_ptr<SiteCacheLock>(new SiteCacheLock(-1));
    return ErrnoToStatus(errno, "open", path);
  }
  int locked;
  while ((locked = flock(fd, LOCK_SH)) != 0 && errno == EINTR) {
  }
  if (locked != 0) {
    const absl::Status status = ErrnoToStatus(errno, "flock", path);
    close(fd);
    return status;
  }
  return std::unique_ptr<SiteCacheLock>(new SiteCacheLock(fd));
}

SiteCacheLock::~SiteCacheLock() {
  if (fd_ >= 0) close(fd_);
}

bool SiteCacheLock::TryExclusive() { return fd_ >= 0 && flock(fd_, LOCK_EX | LOCK_NB) == 0; }

absl::StatusOr<uint64_t> PruneSiteCache(const std::string& out_dir, absl::Time now,
                                        absl::Duration grace) {
  FileSystem* fs = DefaultFileSystem();
  const std::string published = JoinPath(out_dir, ".published");
  PF_ASSIGN_OR_RETURN(std::vector<std::string> trees, fs->ListDirectory(published));
  for (const std::string& tree : trees) {
    const std::string suffix = ".partial";
    if (tree.size() > suffix.size() &&
        tree.compare(tree.size() - suffix.size(), suffix.size(), suffix) == 0) {
      RemoveTree(JoinPath(published, tree)).IgnoreError();  // Its publish was killed.
    }
  }
  PF_ASSIGN_OR_RETURN(std::set<std::string> named, NamedFiles(published));
  const std::string cache = JoinPath(out_dir, ".cache");
  uint64_t removed = 0;
  auto prune = [&](const std::string& path, const std::string& name) {
    struct stat st;
    if (named.count(name) != 0 || lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        absl::FromTimeT(st.st_mtime) > now - grace) {
      return;
    }
    if (unlink(path.c_str()) == 0 && st.st_nlink == 1) removed += static_cast<uint64_t>(st.st_size);
  };
  PF_ASSIGN_OR_RETURN(std::vector<std::string> entries, fs->ListDirectory(cache));
  for (const std::string& entry : entries) {
    const std::string path = JoinPath(cache, entry);
    if (entry.rfind(kFullPrefix, 0) == 0 && IsHex(entry.substr(sizeof(kFullPrefix) - 1), 64)) {
      prune(path, entry);
    } else if (IsFullPackageTemporary(entry)) {
      prune(path, "");  // Named by no index.
    } else if (IsHex(entry, 2) && IsDirectory(path)) {
      PF_ASSIGN_OR_RETURN(std::vector<std::string> blobs, fs->ListDirectory(path));
      for (const std::string& blob : blobs) {
        if (IsHex(blob, 64) && blob.compare(0, 2, entry) == 0) prune(JoinPath(path, blob), blob);
      }
    }
  }
  // Downloads into the cache that killed publishes never finished.
  PF_ASSIGN_OR_RETURN(std::unique_ptr<BlobStore> store, BlobStore::Open(cache));
  PF_ASSIGN_OR_RETURN(uint64_t partials, store->DropStalePartials(now, grace));
  return removed + partials;
}

}  // namespace patchfarm
