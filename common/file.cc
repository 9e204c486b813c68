#include "common/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr size_t kWriteBufferBytes = 1 << 20;

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

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

absl::Status WriteFd(int fd, absl::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoToStatus(errno, "write", path);
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

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

AtomicFileWriter::AtomicFileWriter(int fd, std::string path, std::string temp_path)
    : fd_(fd), path_(std::move(path)), temp_path_(std::move(temp_path)) {
  buffer_.reserve(kWriteBufferBytes);
}

absl::StatusOr<std::unique_ptr<AtomicFileWriter>> AtomicFileWriter::Create(
    const std::string& path, int mode) {
  std::string temp = absl::StrCat(path, ".tmp-XXXXXX");
  int fd = mkostemp(temp.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, "create temporary file", temp);
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) {
    int err = errno;
    close(fd);
    unlink(temp.c_str());
    return ErrnoToStatus(err, "chmod", temp);
  }
  return std::unique_ptr<AtomicFileWriter>(new AtomicFileWriter(fd, path, temp));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) close(fd_);
  if (!committed_) unlink(temp_path_.c_str());
}

absl::Status AtomicFileWriter::Append(absl::string_view data) {
  if (committed_) return absl::FailedPreconditionError("append after commit");
  if (buffer_.size() + data.size() > kWriteBufferBytes) {
    PF_RETURN_IF_ERROR(Flush());
    if (data.size() >= kWriteBufferBytes) return WriteAll(data);
  }
  buffer_.append(data.data(), data.size());
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::WriteAll(absl::string_view data) {
  return WriteFd(fd_, data, temp_path_);
}

absl::Status AtomicFileWriter::Flush() {
  PF_RETURN_IF_ERROR(WriteAll(buffer_));
  buffer_.clear();
  return absl::OkStatus();
}

absl::Status AtomicFileWriter::Commit() {
  if (committed_) return absl::FailedPreconditionError("already committed");
  PF_RETURN_IF_ERROR(Flush());
  if (fsync(fd_) != 0) return ErrnoToStatus(errno, "fsync", temp_path_);
  int rc = close(fd_);
  fd_ = -1;
  if (rc != 0) return ErrnoToStatus(errno, "close", temp_path_);
  if (rename(temp_path_.c_str(), path_.c_str()) != 0) {
    return ErrnoToStatus(errno, "rename to", path_);
  }
  committed_ = true;
  return FsyncDirectory(DirName(path_));
}

absl::StatusOr<std::unique_ptr<FileWriter>> FileWriter::Create(const std::string& path,
                                                              int mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                static_cast<mode_t>(mode));
  if (fd < 0) return ErrnoToStatus(errno, "create", path);
  if (fchmod(fd, static_cast<mode_t>(mode)) != 0) {  // Not narrowed by the umask.
    int err = errno;
    close(fd);
    return ErrnoToStatus(err, "chmod", path);
  }
  return std::unique_ptr<FileWriter>(new FileWriter(fd, path));
}

FileWriter::~FileWriter() {
  if (fd_ >= 0) close(fd_);
}

absl::Status FileWriter::Append(absl::string_view data) {
  if (fd_ < 0) return absl::FailedPreconditionError("append after close");
  if (buffer_.size() + data.size() <= kWriteBufferBytes) {
    buffer_.append(data.data(), data.size());
    return absl::OkStatus();
  }
  PF_RETURN_IF_ERROR(WriteFd(fd_, buffer_, path_));
  buffer_.clear();
  if (data.size() >= kWriteBufferBytes) return WriteFd(fd_, data, path_);
  buffer_.append(data.data(), data.size());
  return absl::OkStatus();
}

absl::Status FileWriter::Close() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status status = WriteFd(fd_, buffer_, path_);
  buffer_.clear();
  if (close(fd_) != 0 && status.ok()) status = ErrnoToStatus(errno, "close", path_);
  fd_ = -1;
  return status;
}

absl::Status CopyFile(const std::string& from, const std::string& to, int mode) {
  uint64_t size = 0;
  PF_ASSIGN_OR_RETURN(int in, OpenRegular(from, &size));
  int out = open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 static_cast<mode_t>(mode));
  if (out < 0) {
    int err = errno;
    close(in);
    return ErrnoToStatus(err, "create", to);
  }
  absl::Status status;
  if (fchmod(out, static_cast<mode_t>(mode)) != 0) status = ErrnoToStatus(errno, "chmod", to);
  uint64_t done = 0;
  while (status.ok() && done < size) {
    ssize_t n = copy_file_range(in, nullptr, out, nullptr, size - done, 0);
    if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL)) {
      std::string buffer(kWriteBufferBytes, '\0');  // Fallback: read and write.
      while (status.ok()) {
        ssize_t got = read(in, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) status = ErrnoToStatus(errno, "read", from);
        if (got <= 0) break;
        status = WriteFd(out, absl::string_view(buffer.data(), static_cast<size_t>(got)), to);
        done += static_cast<uint64_t>(got);
      }
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) status = ErrnoToStatus(errno, "copy to", to);
    if (n == 0) status = absl::DataLossError(absl::StrCat(from, ": shrank while copying"));
    if (n > 0) done += static_cast<uint64_t>(n);
  }
  close(in);
  if (close(out) != 0 && status.ok()) status = ErrnoToStatus(errno, "close", to);
  return status;
}

absl::Status WriteFileAtomically(const std::string& path, absl::string_view data,
                                 int mode) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> writer,
                      AtomicFileWriter::Create(path, mode));
  PF_RETURN_IF_ERROR(writer->Append(data));
  return writer->Commit();
}

}  // namespace patchfarm
