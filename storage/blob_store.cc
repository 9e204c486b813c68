#include "storage/blob_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

absl::StatusOr<Digest> HashPath(FileSystem* fs, const std::string& path, uint64_t* size) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, fs->OpenReadable(path));
  return HashSource(*source, size);
}

// Creates `dir` unless it exists; sets *created if it made it.
absl::Status MakeDirectoryIfMissing(FileSystem* fs, const std::string& dir,
                                    bool* created = nullptr) {
  absl::Status status = fs->MakeDirectory(dir, 0755);
  if (created != nullptr) *created = status.ok();
  return status.ok() || absl::IsAlreadyExists(status) ? absl::OkStatus() : status;
}

bool IsHex(absl::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
  });
}

}  // namespace

absl::StatusOr<std::unique_ptr<BlobStore>> BlobStore::Open(const std::string& dir,
                                                           FileSystem* fs) {
  bool created = false;
  PF_RETURN_IF_ERROR(MakeDirectoryIfMissing(fs, dir, &created));
  PF_RETURN_IF_ERROR(MakeDirectoryIfMissing(fs, dir + "/partial"));
  // Whether this run or a crashed one made them, their entries become durable
  // before any blob relies on them. The parent may not be readable (a store
  // an operator made under a private directory): then only a store made just
  // now needs it.
  PF_RETURN_IF_ERROR(fs->SyncDirectory(dir));
  absl::Status parent = fs->SyncDirectory(DirName(dir));
  if (created) PF_RETURN_IF_ERROR(parent);
  return std::unique_ptr<BlobStore>(new BlobStore(dir, fs));
}

std::string BlobStore::BlobPath(const Digest& digest) const {
  std::string hex = DigestToHex(digest);
  return absl::StrCat(dir_, "/", hex.substr(0, 2), "/", hex);
}

absl::StatusOr<BlobStore::DiskSpace> BlobStore::Space() const {
  struct statvfs st;
  if (statvfs(dir_.c_str(), &st) != 0) return ErrnoToStatus(errno, "statvfs", dir_);
  const uint64_t reserved = st.f_bfree - st.f_bavail;  // For root alone.
  return DiskSpace{static_cast<uint64_t>(st.f_bavail) * st.f_frsize,
                   static_cast<uint64_t>(st.f_blocks - reserved) * st.f_frsize};
}

std::string BlobStore::ShardPath(const Digest& digest) const {
  return absl::StrCat(dir_, "/", DigestToHex(digest).substr(0, 2));
}

std::string BlobStore::PartialPath(const Digest& digest) const {
  return absl::StrCat(dir_, "/partial/", DigestToHex(digest));
}

bool BlobStore::Has(const Digest& digest) const { return fs_->Stat(BlobPath(digest)).ok(); }

absl::StatusOr<std::string> BlobStore::PathOf(const Digest& digest) const {
  if (!Has(digest)) return absl::NotFoundError(absl::StrCat("blob ", DigestToHex(digest), " not stored"));
  return BlobPath(digest);
}

absl::StatusOr<BlobStore::StoredBlob> BlobStore::Info(const Digest& digest) const {
  PF_ASSIGN_OR_RETURN(FileInfo info, fs_->Stat(BlobPath(digest)));
  return StoredBlob{digest, info.size, info.modified, std::max(info.modified, info.changed)};
}

uint64_t BlobStore::ReceivedBytes(const Digest& digest) const {
  absl::StatusOr<FileInfo> info = fs_->Stat(PartialPath(digest));
  return info.ok() ? info->size : 0;
}

absl::StatusOr<std::unique_ptr<BlobStore::Upload>> BlobStore::StartUpload(const Digest& digest,
                                                                          uint64_t size,
                                                                          uint64_t offset) {
  return BeginUpload(digest, size, offset, /*restart=*/false);
}

absl::StatusOr<std::unique_ptr<BlobStore::Upload>> BlobStore::BeginUpload(const Digest& digest,
                                                                          uint64_t size,
                                                                          uint64_t offset,
                                                                          bool restart) {
  if (size > kMaxBlobBytes) {
    return absl::ResourceExhaustedError(absl::StrCat("blob of ", size, " bytes exceeds the limit"));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!uploading_.insert(digest).second) {
      return absl::AbortedError(absl::StrCat("blob ", DigestToHex(digest), " is being uploaded"));
    }
  }
  const std::string path = PartialPath(digest);
  auto fail = [&](absl::Status status) {
    EndUpload(digest);
    return status;
  };
  if (restart) {
    absl::Status removed = fs_->Unlink(path);
    if (!removed.ok() && !absl::IsNotFound(removed)) return fail(removed);
  }
  uint64_t received = ReceivedBytes(digest);
  if (received > size) {  // Bytes of a longer upload under this name: not this blob's.
    absl::Status removed = fs_->Unlink(path);
    if (!removed.ok() && !absl::IsNotFound(removed)) return fail(removed);
    received = 0;
  }
  if (offset != received || offset > size) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "upload of ", DigestToHex(digest), " must resume at ", received, ", not ", offset)));
  }
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      fs_->OpenWritable(path, OpenMode::kAppend, 0644);
  if (!file.ok()) return fail(file.status());
  return std::unique_ptr<Upload>(new Upload(this, digest, size, std::move(*file), offset));
}

void BlobStore::EndUpload(const Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  uploading_.erase(digest);
}

absl::Status BlobStore::EnsureShard(const Digest& digest) {
  const std::string shard = ShardPath(digest);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (durable_shards_.count(shard) != 0) return absl::OkStatus();
  }
  PF_RETURN_IF_ERROR(MakeDirectoryIfMissing(fs_, shard));
  // The shard's entry in the store directory: without it a power loss could
  // take the new directory, and every blob in it, away.
  PF_RETURN_IF_ERROR(fs_->SyncDirectory(dir_));
  std::lock_guard<std::mutex> lock(mu_);
  durable_shards_.insert(shard);
  return absl::OkStatus();
}

BlobStore::Upload::~Upload() {
  file_.reset();
  store_->EndUpload(digest_);
}

absl::Status BlobStore::Upload::Append(absl::string_view data) {
  if (file_ == nullptr) return absl::FailedPreconditionError("append after commit");
  if (data.size() > size_ - written_) {
    return absl::InvalidArgumentError("upload longer than its declared size");
  }
  PF_RETURN_IF_ERROR(file_->Append(data));
  written_ += data.size();
  return absl::OkStatus();
}

absl::Status BlobStore::Upload::Commit() {
  if (file_ == nullptr) return absl::FailedPreconditionError("upload already committed");
  FileSystem* fs = store_->fs_;
  const std::string partial = store_->PartialPath(digest_);
  std::unique_ptr<WritableFile> file = std::move(file_);
  PF_RETURN_IF_ERROR(file->Sync());
  PF_RETURN_IF_ERROR(file->Close());
  if (written_ != size_) {
    return absl::DataLossError(absl::StrCat("upload incomplete: ", written_, " of ", size_, " bytes"));
  }
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest actual, HashPath(fs, partial, &size));
  if (actual != digest_ || size != size_) {
    fs->Unlink(partial).IgnoreError();  // This upload holds the digest's slot.
    return absl::DataLossError(absl::StrCat("uploaded bytes hash to ", DigestToHex(actual),
                                            ", not ", DigestToHex(digest_)));
  }
  PF_RETURN_IF_ERROR(store_->EnsureShard(digest_));
  PF_RETURN_IF_ERROR(fs->Rename(partial, store_->BlobPath(digest_)));
  return fs->SyncDirectory(store_->ShardPath(digest_));
}

absl::StatusOr<Digest> BlobStore::PutFile(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ByteSource> source, fs_->OpenReadable(path));
  return PutSource(*source);
}

absl::StatusOr<Digest> BlobStore::PutSource(const ByteSource& source) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(Digest digest, HashSource(source, &size));
  PF_RETURN_IF_ERROR(PutSource(source, digest, size));
  return digest;
}

absl::Status BlobStore::PutSource(const ByteSource& source, const Digest& digest,
                                  uint64_t size) {
  if (Has(digest)) return absl::OkStatus();
  PF_ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload,
                      BeginUpload(digest, size, 0, /*restart=*/true));
  std::string buffer(1 << 20, '\0');
  for (uint64_t offset = 0; offset < size;) {
    PF_ASSIGN_OR_RETURN(size_t n, source.ReadAt(offset, buffer.data(), buffer.size()));
    if (n == 0) break;
    PF_RETURN_IF_ERROR(upload->Append(absl::string_view(buffer.data(), n)));
    offset += n;
  }
  return upload->Commit();
}

absl::StatusOr<Digest> BlobStore::Put(absl::string_view data) {
  Digest digest = Sha256Of(data);
  if (Has(digest)) return digest;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<Upload> upload,
                      BeginUpload(digest, data.size(), 0, /*restart=*/true));
  PF_RETURN_IF_ERROR(upload->Append(data));
  PF_RETURN_IF_ERROR(upload->Commit());
  return digest;
}

BlobStore::Pin BlobStore::PinBlob(const Digest& digest) {
  std::lock_guard<std::mutex> lock(mu_);
  ++pins_[digest];
  return Pin(this, digest);
}

BlobStore::Pin& BlobStore::Pin::operator=(Pin&& other) noexcept {
  if (this != &other) {
    Release();
    store_ = other.store_;
    digest_ = other.digest_;
    other.store_ = nullptr;
  }
  return *this;
}

void BlobStore::Pin::Release() {
  if (store_ == nullptr) return;
  std::lock_guard<std::mutex> lock(store_->mu_);
  auto it = store_->pins_.find(digest_);
  if (it != store_->pins_.end() && --it->second == 0) store_->pins_.erase(it);
  store_ = nullptr;
}

void BlobStore::Touch(const Digest& digest) { fs_->Touch(BlobPath(digest)).IgnoreError(); }

absl::StatusOr<uint64_t> BlobStore::DropStalePartials(absl::Time now, absl::Duration age) {
  std::lock_guard<std::mutex> lock(mu_);  // No upload starts meanwhile.
  const std::string dir = absl::StrCat(dir_, "/partial");
  PF_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_->ListDirectory(dir));
  uint64_t freed = 0;
  for (const std::string& hex : names) {
    if (hex.size() != 64 || !IsHex(hex)) continue;
    Digest digest{};
    const std::string raw = absl::HexStringToBytes(hex);
    std::copy(raw.begin(), raw.end(), digest.begin());
    if (uploading_.count(digest) != 0) continue;
    const std::string path = absl::StrCat(dir, "/", hex);
    absl::StatusOr<FileInfo> info = fs_->Stat(path);
    if (!info.ok() || info->modified > now - age) continue;
    if (fs_->Unlink(path).ok()) freed += info->size;
  }
  return freed;
}

absl::StatusOr<std::vector<BlobStore::StoredBlob>> BlobStore::List() const {
  PF_ASSIGN_OR_RETURN(std::vector<std::string> shards, fs_->ListDirectory(dir_));
  std::vector<StoredBlob> blobs;
  for (const std::string& shard : shards) {
    if (shard.size() != 2 || !IsHex(shard)) continue;
    const std::string sub = absl::StrCat(dir_, "/", shard);
    absl::StatusOr<std::vector<std::string>> names = fs_->ListDirectory(sub);
    if (!names.ok()) continue;
    for (const std::string& hex : *names) {
      if (hex.size() != 64 || !IsHex(hex) || hex.compare(0, 2, shard) != 0) continue;
      absl::StatusOr<FileInfo> info = fs_->Stat(absl::StrCat(sub, "/", hex));
      if (!info.ok()) continue;
      std::string raw = absl::HexStringToBytes(hex);
      StoredBlob blob{{}, info->size, info->modified, std::max(info->modified, info->changed)};
      std::copy(raw.begin(), raw.end(), blob.digest.begin());
      blobs.push_back(blob);
    }
  }
  return blobs;
}

absl::Status BlobStore::EvictTo(uint64_t max_bytes, const std::set<Digest>& keep) {
  std::lock_guard<std::mutex> lock(mu_);  // No pin, upload or commit slips in meanwhile.
  PF_ASSIGN_OR_RETURN(std::vector<StoredBlob> blobs, List());
  uint64_t total = 0;
  for (const StoredBlob& b : blobs) total += b.size;
  std::sort(blobs.begin(), blobs.end(),
            [](const StoredBlob& a, const StoredBlob& b) { return a.modified < b.modified; });
  for (const StoredBlob& b : blobs) {
    if (total <= max_bytes) break;
    if (keep.count(b.digest) != 0 || pins_.count(b.digest) != 0 ||
        uploading_.count(b.digest) != 0) {
      continue;
    }
    if (fs_->Unlink(BlobPath(b.digest)).ok()) total -= b.size;
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
