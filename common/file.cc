#include "common/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr size_t kWriteBufferBytes = 1 << 20;

}  // namespace

absl::Status FsyncDirectory(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "open directory", dir);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return ErrnoToStatus(err, "fsync directory", dir);
  return absl::OkStatus();
}

namespace {

// Opens `path` for reading and checks it is a regular file.
absl::StatusOr<int> OpenRegular(const std::string& path, uint64_t* size) {
  int fd = open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // A FIFO must not hang.
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "stat", path);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  *size = static_cast<uint64_t>(st.st_size);
  return fd;
}

}  // namespace

absl::Status ErrnoToStatus(int err, absl::string_view operation, absl::string_view path) {
  std::string message = absl::StrCat(operation, " ", path, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    case EISDIR:
    case ENOTDIR:
    case EEXIST:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(int fd, OpenRegular(path, &size));
  if (size == 0) {
    close(fd);
    return std::unique_ptr<MappedFile>(new MappedFile(nullptr, 0));
  }
  void* addr = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) return ErrnoToStatus(err, "mmap", path);
  return std::unique_ptr<MappedFile>(new MappedFile(addr, size));
}

MappedFile::~MappedFile() {
  if (addr_ != nullptr) munmap(addr_, data_.size());
}

void MappedFile::ReleasePages() const {
  // Advice only: on failure the pages simply stay resident.
  if (addr_ != nullptr) madvise(addr_, data_.size(), MADV_DONTNEED);
}

PageReleaser::PageReleaser(std::vector<const MappedFile*> files,
                           std::chrono::milliseconds interval)
    : files_(std::move(files)),
      interval_(interval),
      held_(files_.size(), false),
      thread_([this] { Run(); }) {}

PageReleaser::~PageReleaser() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void PageReleaser::Hold(const MappedFile& file, bool held) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < files_.size(); ++i) {
    if (files_[i] == &file) held_[i] = held;
  }
}

void PageReleaser::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    for (size_t i = 0; i < files_.size(); ++i) {
      if (!held_[i]) files_[i]->ReleasePages();
    }
  }
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  return std::string(file->data());
}

absl::StatusOr<std::unique_ptr<FileSource>> FileSource::Open(const std::string& path) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(int fd, OpenRegular(path, &size));
  return std::unique_ptr<FileSource>(new FileSource(fd, size, path));
}

FileSource::~FileSource() { close(fd_); }

absl::StatusOr<std::unique_ptr<ScratchFile>> ScratchFile::Create(const std::string& dir) {
  int fd = open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    std::string name = dir + "/.patchfarm-scratch-XXXXXX";
    fd = mkostemp(name.data(), O_CLOEXEC);
    if (fd >= 0) unlink(name.c_str());
  }
  if (fd < 0) return ErrnoToStatus(errno, "create scratch file in", dir);
  return std::unique_ptr<ScratchFile>(new ScratchFile(fd, dir));
}

ScratchFile::~ScratchFile() { close(fd_); }

absl::Status ScratchFile::Append(absl::string_view data) {
  constexpr size_t kBufferBytes = size_t{1} << 20;
  std::lock_guard<std::mutex> lock(mu_);
  if (buffer_.size() + data.size() < kBufferBytes) {
    buffer_.append(data.data(), data.size());
    size_ += data.size();
    return absl::OkStatus();
  }
  // What is buffered, then `data` written as it is (not copied: appends of
  // tens of MiB would otherwise leave the buffer that large).
  PF_RETURN_IF_ERROR(Flush());
  PF_RETURN_IF_ERROR(WriteAt(size_, data));
  size_ += data.size();
  return absl::OkStatus();
}

absl::Status ScratchFile::WriteAt(uint64_t offset, absl::string_view data) const {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = pwrite(fd_, data.data() + done, data.size() - done,
                       static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write scratch file in", dir_);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status ScratchFile::Flush() const {
  PF_RETURN_IF_ERROR(WriteAt(size_ - buffer_.size(), buffer_));
  buffer_.clear();
  return absl::OkStatus();
}

absl::StatusOr<size_t> ScratchFile::ReadAt(uint64_t offset, char* buf, size_t n) const {
  uint64_t size;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!buffer_.empty()) PF_RETURN_IF_ERROR(Flush());
    size = size_;
  }
  size_t done = 0;
  while (done < n && offset + done < size) {
    ssize_t got = pread(fd_, buf + done, std::min<uint64_t>(n - done, size - offset - done),
                        static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "read scratch file in", dir_);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

absl::StatusOr<size_t> FileSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t got = pread(fd_, buf + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "read", path_);
    }
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

AtomicFileWriter::AtomicFileWriter(FileSystem* fs, std::unique_ptr<WritableFile> file,
                                   std::string path, std::string temp_path)
    : fs_(fs), file_(std::move(file)), path_(std::move(path)), temp_path_(std::move(temp_path)) {
  buffer_.reserve(kWriteBufferBytes);
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path, int mode, FileSystem* fs) {
  std::string temp;
  PF_ASSIGN_OR_RETURN(
      std::unique_ptr<WritableFile> file,
      fs->CreateTemporary(absl::StrCat(path, ".tmp-"), static_cast<uint32_t>(mode), &temp));
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(fs, std::move(file), path, temp));
}

AtomicFileWriter::~AtomicFileWriter() {
  file_.reset();
  if (!committed_) fs_->Unlink(temp_path_).IgnoreError();
}

absl::Status AtomicFileWriter::Append(absl::string_view data) {
  if (committed_ || file_ == nullptr) return absl::FailedPreconditionError("append after commit");
  if (buffer_.size() + data.size() > kWriteBufferBytes) {
    PF_RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBufferBytes) return file_->Append(data);
  }
  buffer_.append(data.data(), data.size());
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Flush() {
  PF_RETURN_IF_ERROR(file_->Append(buffer_));
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (committed_ || file_ == nullptr) return absl::FailedPreconditionError("already committed");
  PF_RETURN_IF_ERROR(Flush());
  PF_RETURN_IF_ERROR(file_->Sync());
  absl::Status closed = file_->Close();
  file_.reset();
  PF_RETURN_IF_ERROR(closed);
  PF_RETURN_IF_ERROR(fs_->Rename(temp_path_, path_));
  committed_ = true;
  return fs_->SyncDirectory(DirName(path_));
}

absl::StatusOr<std::unique_ptr<FileWriter>> FileWriter::Create(const std::string& path, int mode,
                                                              FileSystem* fs) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      fs->OpenWritable(path, OpenMode::kCreateNew, static_cast<uint32_t>(mode)));
  return std::unique_ptr<FileWriter>(new FileWriter(std::move(file)));
}

FileWriter::~FileWriter() = default;

absl::Status FileWriter::Append(absl::string_view data) {
  if (file_ == nullptr) return absl::FailedPreconditionError("append after close");
  if (buffer_.size() + data.size() <= kWriteBufferBytes) {
    buffer_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  PF_RETURN_IF_ERROR(file_->Append(buffer_));
  buffer_.clear();
  if (data.size() >= kWriteBufferBytes) return file_->Append(data);
  buffer_.append(data.data(), data.size());
  return absl::OkStatus();
}

absl::Status FileWriter::Close() {
  if (file_ == nullptr) return absl::OkStatus();
  absl::Status status = file_->Append(buffer_);
  buffer_.clear();
  absl::Status closed = file_->Close();
  file_.reset();
  return status.ok() ? closed : status;
}

absl::Status CopyFile(const std::string& from, const std::string& to, int mode, FileSystem* fs) {
  return fs->CopyFile(from, to, static_cast<uint32_t>(mode));
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data, int mode,
                                 FileSystem* fs) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                      AtomicFileWriter::Create(path, mode, fs));
  PF_RETURN_IF_ERROR(writer->Append(data));
  return writer->Commit();
}

absl::Status CopyFileAtomically(const std::string& from, const std::string& to, int mode,
                                FileSystem* fs) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<FileSource> source, FileSource::Open(from));
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                      AtomicFileWriter::Create(to, mode, fs));
  std::string buffer(kWriteBufferBytes, '\0');
  for (uint64_t at = 0; at < source->size();) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), source->size() - at));
    PF_ASSIGN_OR_RETURN(size_t got, source->ReadAt(at, buffer.data(), want));
    if (got == 0) return absl::DataLossError(absl::StrCat(from, " shrank while it was copied"));
    PF_RETURN_IF_ERROR(writer->Append(absl::string_view(buffer.data(), got)));
    at += got;
  }
  return writer->Commit();
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace patchfarm
