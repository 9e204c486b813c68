// A content-addressed store of blobs (release files, packages) in a directory:
// <dir>/<first 2 hex>/<64 hex>, each verified against its SHA-256 before it
// becomes visible, written atomically. Interrupted uploads keep their bytes in
// <dir>/partial/<hex> and resume from there. The coordinator keeps release
// files and packages in one; the worker's cache is one with a size bound
// (EvictTo). All disk access goes through a FileSystem (common/file_system.h).
// Thread-safe.
//
// Durability: once Commit (or Put, PutFile) has returned OK the blob survives
// a crash or power loss, complete: its bytes are fsynced before it is renamed
// into its shard directory, the shard directory is fsynced after the rename,
// and the shard directory's own entry (and the store's, and partial/'s) is
// fsynced before the first blob goes into it. A blob reported present (Has,
// PathOf) is never partial. Bytes of an upload in progress are not fsynced:
// after a power loss ReceivedBytes may be less than was appended (resume from
// it; Commit verifies the whole blob anyway).
//
// Eviction: EvictTo holds the store's lock while it lists and removes, and
// never removes a blob in its `keep` set, pinned (PinBlob) or being uploaded.
// A reader pins a blob before PathOf and keeps the Pin while it uses the path.
#ifndef PATCHFARM_STORAGE_BLOB_STORE_H_
#define PATCHFARM_STORAGE_BLOB_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/file_system.h"
#include "common/sha256.h"

namespace patchfarm {

// How long the coordinator's store and a worker's cache keep the bytes of an
// upload or download nobody resumes (DropStalePartials, run hourly and after
// jobs): a CI job killed mid-submit, a worker's lost job, would otherwise
// leave them in <dir>/partial for good.
inline constexpr absl::Duration kStalePartialAge = absl::Hours(24);

inline constexpr uint64_t kMaxBlobBytes = uint64_t{64} << 30;

class BlobStore {
 public:
  // Creates `dir` and `dir`/partial if missing and makes them durable. `fs`
  // must outlive the store.
  static absl::StatusOr<std::unique_ptr<BlobStore>> Open(const std::string& dir,
                                                         FileSystem* fs = DefaultFileSystem());

  // One upload in progress: Append bytes in order, then Commit. Holds the
  // digest's upload slot until destroyed.
  class Upload {
   public:
    ~Upload();
    // InvalidArgument past the declared size.
    absl::Status Append(absl::string_view data);
    // DataLoss if the bytes are not `size` long (they are kept, to resume) or
    // do not hash to the digest (they are dropped); then the blob is visible
    // and durable. FailedPrecondition if called again.
    absl::Status Commit();

   private:
    friend class BlobStore;
    Upload(BlobStore* store, Digest digest, uint64_t size, std::unique_ptr<WritableFile> file,
           uint64_t written)
        : store_(store), digest_(digest), size_(size), file_(std::move(file)), written_(written) {}
    BlobStore* store_;
    Digest digest_;
    uint64_t size_;
    std::unique_ptr<WritableFile> file_;  // Null once Commit has begun.
    uint64_t written_;
  };

  // Keeps one blob from eviction while it lives. Movable; pins of a digest count.
  class Pin {
   public:
    Pin() = default;
    Pin(Pin&& other) noexcept : store_(other.store_), digest_(other.digest_) {
      other.store_ = nullptr;
    }
    Pin& operator=(Pin&& other) noexcept;
    Pin(const Pin&) = delete;
    Pin& operator=(const Pin&) = delete;
    ~Pin() { Release(); }

   private:
    friend class BlobStore;
    Pin(BlobStore* store, const Digest& digest) : store_(store), digest_(digest) {}
    void Release();
    BlobStore* store_ = nullptr;
    Digest digest_{};
  };

  // Where the store's files are read and written.
  FileSystem* file_system() const { return fs_; }

  bool Has(const Digest& digest) const;
  // The path of a stored blob (to read it). NotFound if absent. Pin the blob
  // first if an eviction may run meanwhile.
  absl::StatusOr<std::string> PathOf(const Digest& digest) const;
  // Bytes already received of an interrupted upload (0 if none).
  uint64_t ReceivedBytes(const Digest& digest) const;
  // The store's file system as an unprivileged writer sees it.
  struct DiskSpace {
    uint64_t available;  // Bytes free.
    uint64_t capacity;   // Bytes it could ever hold.
  };
  absl::StatusOr<DiskSpace> Space() const;
  // Starts or resumes an upload at `offset`, which must equal ReceivedBytes
  // (FailedPrecondition otherwise; Aborted if another upload of it is running;
  // ResourceExhausted above kMaxBlobBytes). Received bytes beyond `size` are
  // dropped first (they were sent under another size), so the upload starts
  // at 0.
  absl::StatusOr<std::unique_ptr<Upload>> StartUpload(const Digest& digest, uint64_t size,
                                                      uint64_t offset);
  // Stores the file at `path` (hashing it); returns its digest. Bytes of an
  // interrupted upload of the same blob are discarded; Aborted if an upload of
  // it is running.
  absl::StatusOr<Digest> PutFile(const std::string& path);
  // Stores the bytes of `source` (read twice: to hash, then to store). As PutFile.
  absl::StatusOr<Digest> PutSource(const ByteSource& source);
  // As PutSource, for a caller that has hashed `source` already: `digest`
  // and `size` are its hash and length. A blob already stored is left as it
  // is (nothing read); else `source` is read once, to store, and the stored
  // bytes are hashed again before they count, as every upload's are.
  absl::Status PutSource(const ByteSource& source, const Digest& digest, uint64_t size);
  // Stores `data`; returns its digest. As PutFile.
  absl::StatusOr<Digest> Put(absl::string_view data);
  // Keeps `digest` (stored or not yet) from eviction until the Pin is gone.
  Pin PinBlob(const Digest& digest);
  // Marks a blob as recently used (for EvictTo).
  void Touch(const Digest& digest);
  // Removes least recently used blobs until at most `max_bytes` remain, except
  // those in `keep`, pinned or being uploaded (so it may stop above the bound).
  // Errors only if the store's directory cannot be listed.
  absl::Status EvictTo(uint64_t max_bytes, const std::set<Digest>& keep);
  struct StoredBlob {
    Digest digest;
    uint64_t size;
    absl::Time modified;  // mtime: written or touched (EvictTo's LRU order).
    // The later of mtime and ctime: also renamed into the store, linked, or
    // restored from a copy (which can set the mtime back, not the ctime).
    absl::Time changed;
  };
  // A stored blob's size and times. NotFound if absent.
  absl::StatusOr<StoredBlob> Info(const Digest& digest) const;
  // Every blob stored when each shard was read (without the store's lock:
  // blobs may come and go meanwhile). Errors only if the store's directory
  // cannot be listed.
  absl::StatusOr<std::vector<StoredBlob>> List() const;
  // Removes the bytes of interrupted uploads (or downloads into this store)
  // not resumed since `now - age`
  // (partial/<hex> last written before then), except those being uploaded.
  // Returns the bytes freed; errors only if partial/ cannot be listed.
  absl::StatusOr<uint64_t> DropStalePartials(absl::Time now, absl::Duration age);

 private:
  BlobStore(std::string dir, FileSystem* fs) : dir_(std::move(dir)), fs_(fs) {}
  std::string BlobPath(const Digest& digest) const;
  std::string ShardPath(const Digest& digest) const;
  std::string PartialPath(const Digest& digest) const;
  // Takes the digest's upload slot; with `restart`, drops any partial bytes
  // first (under the slot, so never those of a running upload).
  absl::StatusOr<std::unique_ptr<Upload>> BeginUpload(const Digest& digest, uint64_t size,
                                                      uint64_t offset, bool restart);
  void EndUpload(const Digest& digest);
  // Creates the blob's shard directory if needed and makes its entry durable
  // (once per shard and process).
  absl::Status EnsureShard(const Digest& digest);

  const std::string dir_;
  FileSystem* const fs_;
  mutable std::mutex mu_;
  std::set<Digest> uploading_;
  std::map<Digest, int> pins_;
  std::set<std::string> durable_shards_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_STORAGE_BLOB_STORE_H_
