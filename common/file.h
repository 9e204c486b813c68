// Files: read-only memory maps, positional reads, and atomic replacement
// (write a temporary file beside the target, fsync, rename, fsync the directory),
// so a reader or a crash never sees a half-written file. The writers go through
// a FileSystem (common/file_system.h; DefaultFileSystem() unless given one), so
// that tests can simulate power loss under them.
// Each object is used by one thread at a time, except where noted.
#ifndef PATCHFARM_COMMON_FILE_H_
#define PATCHFARM_COMMON_FILE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "common/file_system.h"
#include "common/interrupt_paths.h"

namespace patchfarm {

// Converts errno from a failed `operation` on `path` into a Status:
// NotFound for ENOENT, PermissionDenied for EACCES/EPERM, ResourceExhausted for
// ENOSPC/EDQUOT, InvalidArgument for EISDIR/ENOTDIR/EEXIST, Internal otherwise.
absl::Status ErrnoToStatus(int err, absl::string_view operation, absl::string_view path);

// fsyncs the directory `dir`, making renames and creations in it durable.
absl::Status FsyncDirectory(const std::string& dir);

// The directory part of `path`: "." without a slash, "/" for a file in the
// root ("a/b" -> "a", "/a" -> "/", "a" -> ".").
std::string DirName(const std::string& path);

// A regular file mapped read-only. Empty files map to an empty view.
// data() is safe to read from several threads.
class MappedFile {
 public:
  // NotFound, PermissionDenied, or InvalidArgument if `path` is not a regular file.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  absl::string_view data() const { return data_; }

  // Drops the mapping's pages from this process's resident set; later reads
  // fault them back from the file (the page cache). What data() reads does
  // not change. Safe beside concurrent reads, which only fault.
  void ReleasePages() const;

 private:
  MappedFile(void* addr, size_t size)
      : addr_(addr), data_(static_cast<const char*>(addr), size) {}
  void* addr_;
  absl::string_view data_;
};

// While it lives, a thread of its own drops the pages of `files` from the
// resident set every `interval` (MappedFile::ReleasePages), so that passes
// over big mappings keep resident about what they read in the last interval,
// not all they have read: the page cache keeps the pages, and reading them
// again costs minor faults. The files must outlive it. Thread-safe.
class PageReleaser {
 public:
  PageReleaser(std::vector<const MappedFile*> files, std::chrono::milliseconds interval);
  ~PageReleaser();  // Stops the thread and waits for it.
  PageReleaser(const PageReleaser&) = delete;
  PageReleaser& operator=(const PageReleaser&) = delete;

  // While `file` (one of `files`) is held, its pages are not dropped: for
  // passes that read it all over and again (a suffix sort), which would
  // fault them back in as fast as they went.
  void Hold(const MappedFile& file, bool held);

 private:
  void Run();

  const std::vector<const MappedFile*> files_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // Guarded by mu_.
  std::vector<bool> held_;  // Per file. Guarded by mu_.
  std::thread thread_;
};

// A ByteSource reading a file with pread. Safe for concurrent reads.
class FileSource : public ByteSource {
 public:
  static absl::StatusOr<std::unique_ptr<FileSource>> Open(const std::string& path);
  ~FileSource() override;
  uint64_t size() const override { return size_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

 private:
  FileSource(int fd, uint64_t size, std::string path)
      : fd_(fd), size_(size), path_(std::move(path)) {}
  int fd_;
  uint64_t size_;
  std::string path_;
};

// An anonymous temporary file for bytes too large to keep in memory (a patch's
// streams while its header cannot be written yet): appended to, then read
// back. It has no name (O_TMPFILE, or unlinked at once where the file system
// lacks it), so nothing is left behind, even by a crash. Thread-safe: reads
// (ReadAt, size) may run beside each other and beside an append.
class ScratchFile : public ByteSink, public ByteSource {
 public:
  // A scratch file on the file system of directory `dir`.
  static absl::StatusOr<std::unique_ptr<ScratchFile>> Create(const std::string& dir);
  ~ScratchFile() override;
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  absl::Status Append(absl::string_view data) override;
  // Reads see every byte appended before them.
  uint64_t size() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return size_;
  }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

 private:
  ScratchFile(int fd, std::string dir) : fd_(fd), dir_(std::move(dir)) {}
  absl::Status WriteAt(uint64_t offset, absl::string_view data) const;
  absl::Status Flush() const;

  int fd_;
  std::string dir_;  // For messages.
  uint64_t size_ = 0;
  mutable std::mutex mu_;       // Guards size_ and buffer_.
  mutable std::string buffer_;  // Appended bytes not yet written.
};

// Writes `path` atomically: data goes to a temporary file in the same directory
// and replaces `path` only on Commit(). Destroying an uncommitted writer removes
// the temporary file, leaving `path` as it was.
// Crash contract: after a crash or power loss at any point, `path` holds either
// its old content (or is absent, if it was) or the whole new content, and the
// new content once Commit() has returned OK. A temporary file
// (`path`.tmp-XXXXXX) may be left behind by a crash; an interrupted command
// line tool removes it (common/interrupt_paths.h).
class AtomicFileWriter : public ByteSink {
 public:
  // `mode` is the permission of the final file (not narrowed by the umask).
  // Fails if the directory of `path` does not exist or is not writable.
  // `fs` must outlive the writer.
  static absl::StatusOr<std::unique_ptr<AtomicFileWriter>> Create(
      const std::string& path, int mode = 0644, FileSystem* fs = DefaultFileSystem());
  ~AtomicFileWriter() override;

  absl::Status Append(absl::string_view data) override;
  // Flushes, fsyncs, renames over `path` and fsyncs the directory. An error
  // from the last step means `path` is replaced but may not survive a crash.
  // FailedPrecondition if called twice.
  absl::Status Commit();

 private:
  AtomicFileWriter(FileSystem* fs, std::unique_ptr<WritableFile> file, std::string path,
                   std::string temp_path);
  absl::Status Flush();

  FileSystem* fs_;
  std::unique_ptr<WritableFile> file_;  // Null once closed.
  std::string path_;
  std::string temp_path_;
  RemoveOnInterrupt remove_on_interrupt_{temp_path_};
  std::string buffer_;
  bool committed_ = false;
};

// The whole content of the regular file at `path` (keys, certificates, small
// files to diff). Errors as MappedFile::Open.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// Writes a new file (never an existing one, never through a symlink) with
// buffering and without fsync: for many files made durable together
// (FileSystem::SyncFileSystem). Destroying an unclosed writer closes the file
// and leaves it as written so far.
class FileWriter : public ByteSink {
 public:
  // AlreadyExists if `path` exists. `mode` is exact (not narrowed by the
  // umask). `fs` must outlive the writer.
  static absl::StatusOr<std::unique_ptr<FileWriter>> Create(const std::string& path, int mode,
                                                            FileSystem* fs = DefaultFileSystem());
  ~FileWriter() override;
  absl::Status Append(absl::string_view data) override;
  absl::Status Close();

 private:
  explicit FileWriter(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  std::unique_ptr<WritableFile> file_;  // Null once closed.
  std::string buffer_;
};

// Copies the regular file `from` to the new file `to` (which must not exist)
// with permission `mode`, in the kernel where it can (copy_file_range), without
// fsync.
absl::Status CopyFile(const std::string& from, const std::string& to, int mode,
                      FileSystem* fs = DefaultFileSystem());

// Replaces `path` with `data` atomically (see AtomicFileWriter).
absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 int mode = 0644, FileSystem* fs = DefaultFileSystem());

// Replaces `to` atomically with the bytes of the file `from` as large as it
// was when opened, read 1 MiB at a time (a multi-GB file is never resident
// whole). DataLoss if it shrinks meanwhile. On error `to` is as it was.
absl::Status CopyFileAtomically(const std::string& from, const std::string& to,
                                int mode = 0644, FileSystem* fs = DefaultFileSystem());

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_FILE_H_
