#include "core/tree/manifest.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/delta/varint.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

constexpr char kManifestDigestTag[] = "patchfarm manifest v1\n";

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoToStatus(errno, "open directory", dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    absl::string_view name = e->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int err = errno;
  closedir(d);
  if (err != 0) return ErrnoToStatus(err, "read directory", dir);
  std::sort(names.begin(), names.end());
  return names;
}

// Reads the entry at `entry->path` under `root` (not following symlinks).
absl::Status ScanEntry(const std::string& root, ManifestEntry* entry) {
  std::string full = JoinPath(root, entry->path);
  struct stat st;
  if (lstat(full.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", full);
  if (S_ISREG(st.st_mode)) {
    entry->type = EntryType::kFile;
    entry->mode = st.st_mode & kModeMask;
    PF_ASSIGN_OR_RETURN(entry->digest, HashFile(full, &entry->size));
  } else if (S_ISDIR(st.st_mode)) {
    entry->type = EntryType::kDirectory;
    entry->mode = st.st_mode & kModeMask;
  } else if (S_ISLNK(st.st_mode)) {
    entry->type = EntryType::kSymlink;
    std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
    ssize_t n = readlink(full.c_str(), target.data(), target.size());
    if (n < 0) return ErrnoToStatus(errno, "readlink", full);
    if (static_cast<size_t>(n) >= target.size()) {
      return absl::InternalError(absl::StrCat(full, ": symlink changed while reading"));
    }
    target.resize(static_cast<size_t>(n));
    PF_RETURN_IF_ERROR(ValidateSymlinkTarget(entry->path, target));
    entry->target = std::move(target);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(QuotePath(full), ": device files, FIFOs and sockets are not supported"));
  }
  return absl::OkStatus();
}

absl::Status ScanInto(const std::string& root, const std::string& relative, Manifest* out) {
  PF_ASSIGN_OR_RETURN(std::vector<std::string> names,
                      ListDirectory(relative.empty() ? root : JoinPath(root, relative)));
  for (const std::string& name : names) {
    if (relative.empty() && name == kStateDirName) continue;
    ManifestEntry entry;
    entry.path = relative.empty() ? name : absl::StrCat(relative, "/", name);
    PF_RETURN_IF_ERROR(ValidateTreePath(entry.path));
    PF_RETURN_IF_ERROR(ScanEntry(root, &entry));
    bool directory = entry.type == EntryType::kDirectory;
    std::string path = entry.path;
    out->push_back(std::move(entry));
    if (directory) PF_RETURN_IF_ERROR(ScanInto(root, path, out));
  }
  return absl::OkStatus();
}

}  // namespace

const char* EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
  }
  return "unknown";
}

absl::StatusOr<Manifest> ScanTree(const std::string& root) {
  struct stat st;
  if (stat(root.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", root);
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(root + ": not a directory");
  Manifest manifest;
  PF_RETURN_IF_ERROR(ScanInto(root, "", &manifest));
  // Directory-first recursion yields "a", "a/b", "a-c"; byte order wants "a-c" before "a/b".
  std::sort(manifest.begin(), manifest.end(),
            [](const ManifestEntry& a, const ManifestEntry& b) { return a.path < b.path; });
  return manifest;
}

absl::StatusOr<Manifest> ScanPaths(const std::string& root, const std::vector<std::string>& paths) {
  Manifest manifest;
  manifest.reserve(paths.size());
  for (const std::string& path : paths) {
    PF_RETURN_IF_ERROR(ValidateTreePath(path));
    if (!manifest.empty() && path <= manifest.back().path) {
      return absl::InvalidArgumentError(absl::StrCat(QuotePath(path), " is out of order or repeated"));
    }
    ManifestEntry entry;
    entry.path = path;
    PF_RETURN_IF_ERROR(ScanEntry(root, &entry));
    manifest.push_back(std::move(entry));
  }
  return manifest;
}

const ManifestEntry* FindEntry(const Manifest& manifest, const std::string& path) {
  auto it = std::lower_bound(
      manifest.begin(), manifest.end(), path,
      [](const ManifestEntry& m, const std::string& p) { return m.path < p; });
  return it == manifest.end() || it->path != path ? nullptr : &*it;
}

absl::StatusOr<std::pair<ManifestEntry, ManifestEntry>> SplitFilePair(const Manifest& old_tree,
                                                                      const Manifest& new_tree,
                                                                      const std::string& path) {
  const ManifestEntry* old_file = nullptr;
  const ManifestEntry* new_file = nullptr;
  if (path.empty()) {
    if (old_tree.size() == 1 && new_tree.size() == 1) {
      old_file = &old_tree[0];
      new_file = &new_tree[0];
    }
  } else {
    old_file = FindEntry(old_tree, path);
    new_file = FindEntry(new_tree, path);
  }
  if (old_file == nullptr || new_file == nullptr || old_file->type != EntryType::kFile ||
      new_file->type != EntryType::kFile) {
    return absl::InvalidArgumentError(
        path.empty() ? std::string("a file pair's job needs one file on each side")
                     : absl::StrCat("no file ", path, " on both sides of the pair"));
  }
  return std::make_pair(*old_file, *new_file);
}

Digest ManifestDigest(const Manifest& manifest) {
  Sha256 hasher;
  hasher.Update(kManifestDigestTag);
  std::string record;
  for (const ManifestEntry& e : manifest) {
    record.clear();
    PutVarint(e.path.size(), &record);
    record += e.path;
    record.push_back(static_cast<char>(e.type));
    switch (e.type) {
      case EntryType::kFile:
        PutVarint(e.mode, &record);
        PutVarint(e.size, &record);
        record.append(reinterpret_cast<const char*>(e.digest.data()), e.digest.size());
        break;
      case EntryType::kDirectory:
        PutVarint(e.mode, &record);
        break;
      case EntryType::kSymlink:
        PutVarint(e.target.size(), &record);
        record += e.target;
        break;
    }
    hasher.Update(record);
  }
  return hasher.Finish();
}

absl::StatusOr<Digest> HashFile(const std::string& path, uint64_t* size) {
  // O_NONBLOCK: a FIFO swapped in after a check must not hang the open.
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(QuotePath(path), ": not a regular file"));
  }
  Sha256 hasher;
  thread_local std::string buffer(256 << 10, '\0');  // Not per call: trees have many small files.
  uint64_t total = 0;
  while (true) {
    ssize_t n = read(fd, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      close(fd);
      return ErrnoToStatus(err, "read", path);
    }
    if (n == 0) break;
    hasher.Update(absl::string_view(buffer.data(), static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
  }
  close(fd);
  *size = total;
  return hasher.Finish();
}

}  // namespace patchfarm
