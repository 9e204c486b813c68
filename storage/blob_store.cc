#include "storage/blob_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, "write", path);
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<Digest> HashPath(const std::string& path, uint64_t* size) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  Sha256 hasher;
  std::string buffer(1 << 20, '\0');
  uint64_t offset = 0;
  while (offset < source->size()) {
    PF_ASSIGN_OR_RETURN(size_t n, source->ReadAt(offset, buffer.data(), buffer.size()));
    if (n == 0) break;
    hasher.Update(absl::string_view(buffer.data(), n));
    offset += n;
  }
  *size = offset;
  return hasher.Finish();
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/partial"}) {
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoToStatus(errno, "mkdir", d);
  }
  return std::unique_ptr<BlobStore>(new BlobStore(dir));
}

std::string BlobStore::BlobPath(const Digest& digest) const {
  std::string hex = DigestToHex(digest);
  return absl::StrCat(dir_, "/", hex.substr(0, 2), "/", hex);
}

std::string BlobStore::PartialPath(const Digest& digest) const {
  return absl::StrCat(dir_, "/partial/", DigestToHex(digest));
}

bool BlobStore::Has(const Digest& digest) const {
  struct stat st;
  return stat(BlobPath(digest).c_str(), &st) == 0;
}

absl::StatusOr<std::string> BlobStore::PathOf(const Digest& digest) const {
  if (!Has(digest)) return absl::NotFoundError(absl::StrCat("blob ", DigestToHex(digest), " not stored"));
  return BlobPath(digest);
}

uint64_t BlobStore::ReceivedBytes(const Digest& digest) const {
  struct stat st;
  return stat(PartialPath(digest).c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

absl::StatusOr<std::unique_ptr<BlobStore::Upload>> BlobStore::StartUpload(const Digest& digest,
                                                                          uint64_t size,
                                                                          uint64_t offset) {
  if (size > kMaxBlobBytes) {
    return absl::ResourceExhaustedError(absl::StrCat("blob of ", size, " bytes exceeds the limit"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!uploading_.insert(digest).second) {
      return absl::AbortedError(absl::StrCat("blob ", DigestToHex(digest), " is being uploaded"));
    }
  }
  uint64_t received = ReceivedBytes(digest);
  if (offset != received || offset > size) {
    EndUpload(digest);
    return absl::FailedPreconditionError(absl::StrCat(
        "upload of ", DigestToHex(digest), " must resume at ", received, ", not ", offset));
  }
  std::string path = PartialPath(digest);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    EndUpload(digest);
    return ErrnoToStatus(errno, "open", path);
  }
  return std::unique_ptr<Upload>(new Upload(this, digest, size, fd, offset));
}

void BlobStore::EndUpload(const Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  uploading_.erase(digest);
}

BlobStore::Upload::~Upload() {
  if (fd_ >= 0) close(fd_);
  store_->EndUpload(digest_);
}

absl::Status BlobStore::Upload::Append(absl::string_view data) {
  if (data.size() > size_ - written_) {
    return absl::InvalidArgumentError("upload longer than its declared size");
  }
  PF_RETURN_IF_ERROR(WriteAll(fd_, data, store_->PartialPath(digest_)));
  written_ += data.size();
  return absl::OkStatus();
}

absl::Status BlobStore::Upload::Commit() {
  const std::string partial = store_->PartialPath(digest_);
  if (fsync(fd_) != 0) return ErrnoToStatus(errno, "fsync", partial);
  close(fd_);
  fd_ = -1;
  if (written_ != size_) {
    return absl::DataLossError(absl::StrCat("upload incomplete: ", written_, " of ", size_, " bytes"));
  }
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest actual, HashPath(partial, &size));
  if (actual != digest_ || size != size_) {
    unlink(partial.c_str());
    return absl::DataLossError(absl::StrCat("uploaded bytes hash to ", DigestToHex(actual),
                                            ", not ", DigestToHex(digest_)));
  }
  std::string target = store_->BlobPath(digest_);
  std::string dir = target.substr(0, target.rfind('/'));
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoToStatus(errno, "mkdir", dir);
  if (rename(partial.c_str(), target.c_str()) != 0) return ErrnoToStatus(errno, "rename to", target);
  return FsyncDirectory(dir);
}

absl::StatusOr<Digest> BlobStore::PutFile(const std::string& path) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest digest, HashPath(path, &size));
  if (Has(digest)) return digest;
  unlink(PartialPath(digest).c_str());
  PF_ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload, StartUpload(digest, size, 0));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(path));
  std::string buffer(1 << 20, '\0');
  for (uint64_t offset = 0; offset < size;) {
    PF_ASSIGN_OR_RETURN(size_t n, source->ReadAt(offset, buffer.data(), buffer.size()));
    if (n == 0) break;
    PF_RETURN_IF_ERROR(upload->Append(absl::string_view(buffer.data(), n)));
    offset += n;
  }
  PF_RETURN_IF_ERROR(upload->Commit());
  return digest;
}

absl::StatusOr<Digest> BlobStore::Put(absl::string_view data) {
  Digest digest = Sha256Of(data);
  if (Has(digest)) return digest;
  unlink(PartialPath(digest).c_str());
  PF_ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload, StartUpload(digest, data.size(), 0));
  PF_RETURN_IF_ERROR(upload->Append(data));
  PF_RETURN_IF_ERROR(upload->Commit());
  return digest;
}

void BlobStore::Touch(const Digest& digest) { utimensat(AT_FDCWD, BlobPath(digest).c_str(), nullptr, 0); }

absl::Status BlobStore::EvictTo(uint64_t max_bytes, const std::set<Digest>& keep) {
  struct Entry {
    std::string path;
    uint64_t size;
    int64_t mtime;
    bool keep;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  DIR* top = opendir(dir_.c_str());
  if (top == nullptr) return ErrnoToStatus(errno, "open directory", dir_);
  while (struct dirent* d = readdir(top)) {
    std::string name = d->d_name;
    if (name.size() != 2) continue;
    std::string sub = absl::StrCat(dir_, "/", name);
    DIR* inner = opendir(sub.c_str());
    if (inner == nullptr) continue;
    while (struct dirent* f = readdir(inner)) {
      std::string hex = f->d_name;
      if (hex.size() != 64) continue;
      struct stat st;
      std::string path = absl::StrCat(sub, "/", hex);
      if (stat(path.c_str(), &st) != 0) continue;
      std::string raw = absl::HexStringToBytes(hex);
      Digest digest{};
      std::copy(raw.begin(), raw.end(), digest.begin());
      entries.push_back({path, static_cast<uint64_t>(st.st_size), st.st_mtime, keep.count(digest) != 0});
      total += static_cast<uint64_t>(st.st_size);
    }
    closedir(inner);
  }
  closedir(top);
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.mtime < b.mtime; });
  for (const Entry& e : entries) {
    if (total <= max_bytes) break;
    if (e.keep) continue;
    if (unlink(e.path.c_str()) == 0) total -= e.size;
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
