#include "core/tree/base_tree.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"

namespace patchfarm {

std::string BaseTree::FullPath(const std::string& path) const { return JoinPath(root_, path); }

absl::Status BaseTree::CheckParents(const std::string& path, bool* missing) {
  *missing = false;
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    std::string parent = path.substr(0, slash);
    if (directories_.count(parent) != 0) continue;
    struct stat st;
    if (lstat(FullPath(parent).c_str(), &st) != 0) {
      if (errno == ENOENT) {
        *missing = true;
        return absl::OkStatus();
      }
      return ErrnoToStatus(errno, "stat", FullPath(parent));
    }
    if (S_ISLNK(st.st_mode)) {
      return absl::FailedPreconditionError(absl::StrCat(
          QuotePath(path), ": refusing to go through the symlink ", QuotePath(parent)));
    }
    if (!S_ISDIR(st.st_mode)) {  // Nothing can be under a file.
      *missing = true;
      return absl::OkStatus();
    }
    directories_.insert(parent);
  }
  return absl::OkStatus();
}

absl::StatusOr<BaseTree::Entry> BaseTree::Lookup(const std::string& path) {
  Entry entry;
  bool missing = false;
  PF_RETURN_IF_ERROR(CheckParents(path, &missing));
  if (missing) return entry;
  std::string full = FullPath(path);
  struct stat st;
  if (lstat(full.c_str(), &st) != 0) {
    if (errno == ENOENT) return entry;
    return ErrnoToStatus(errno, "stat", full);
  }
  entry.exists = true;
  entry.mode = st.st_mode & kModeMask;
  if (S_ISREG(st.st_mode)) {
    entry.type = EntryType::kFile;
    entry.size = static_cast<uint64_t>(st.st_size);
  } else if (S_ISDIR(st.st_mode)) {
    entry.type = EntryType::kDirectory;
  } else if (S_ISLNK(st.st_mode)) {
    entry.type = EntryType::kSymlink;
    entry.mode = 0;
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlink(full.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoToStatus(errno, "readlink", full);
    target.resize(static_cast<size_t>(n));
    entry.target = std::move(target);
  } else {
    return absl::FailedPreconditionError(absl::StrCat(
        QuotePath(full), " is a device file, FIFO or socket; refusing to touch it"));
  }
  return entry;
}

absl::StatusOr<Digest> BaseTree::FileDigest(const std::string& path) {
  auto it = digests_.find(path);
  if (it != digests_.end()) return it->second;
  bool missing = false;
  PF_RETURN_IF_ERROR(CheckParents(path, &missing));
  if (missing) return absl::NotFoundError(absl::StrCat(QuotePath(path), " is missing"));
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest digest, HashFile(FullPath(path), &size));
  digests_[path] = digest;
  return digest;
}

const ManifestEntry* ManifestTree::Find(absl::string_view path) const {
  auto it = std::lower_bound(manifest_.begin(), manifest_.end(), path,
                             [](const ManifestEntry& e, absl::string_view p) { return e.path < p; });
  return it != manifest_.end() && it->path == path ? &*it : nullptr;
}

absl::StatusOr<TreeSource::Entry> ManifestTree::Lookup(const std::string& path) {
  Entry entry;
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    const ManifestEntry* parent = Find(absl::string_view(path).substr(0, slash));
    if (parent == nullptr || parent->type != EntryType::kDirectory) return entry;
  }
  const ManifestEntry* found = Find(path);
  if (found == nullptr) return entry;
  const ManifestEntry& e = *found;
  entry.exists = true;
  entry.type = e.type;
  entry.mode = e.mode;
  entry.size = e.size;
  entry.target = e.target;
  return entry;
}

absl::StatusOr<Digest> ManifestTree::FileDigest(const std::string& path) {
  const ManifestEntry* e = Find(path);
  if (e == nullptr || e->type != EntryType::kFile) {
    return absl::NotFoundError(absl::StrCat(QuotePath(path), " is not a file of the tree"));
  }
  return e->digest;
}

std::string ManifestTree::FullPath(const std::string& path) const {
  const ManifestEntry* e = Find(path);
  return e != nullptr ? locate_(*e) : std::string("/nonexistent/entry");
}

}  // namespace patchfarm
