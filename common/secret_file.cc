#include "common/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file.h"

namespace patchfarm {
namespace {

constexpr size_t kMaxSecretFileBytes = 1 << 20;

}  // namespace

absl::Status CheckSecretFileMode(absl::string_view path, absl::string_view what,
                                 unsigned mode, unsigned owner, unsigned reader) {
  mode &= 07777;
  const bool root_owned_group_read = owner == 0 && reader != 0 && (mode & 070) == 040;
  if ((mode & 007) == 0 && ((mode & 070) == 0 || root_owned_group_read))
    return absl::OkStatus();
  const char* exposure = (mode & 007) != 0 ? "other users" : "its group";
  return absl::PermissionDeniedError(
      absl::StrFormat("%s: mode %04o gives %s access; %s must be mode 0600 or 0400 "
                      "(chmod 600 %s), or 0440 owned by "
                      "root (a Kubernetes secret with defaultMode 0400 and fsGroup)",
                      path, mode, exposure, what, path));
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                           absl::string_view what) {
  int fd =
      open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // A FIFO must not hang.
  if (fd < 0) return ErrnoToStatus(errno, "open", path);
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0) return ErrnoToStatus(errno, "stat", path);
  if (!S_ISREG(st.st_mode))
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  absl::Status allowed =
      CheckSecretFileMode(path, what, st.st_mode, st.st_uid, geteuid());
  if (!allowed.ok()) return allowed;
  if (static_cast<uint64_t>(st.st_size) > kMaxSecretFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", st.st_size, " bytes; ",
                                                   what, " is at most ",
                                                   kMaxSecretFileBytes, " bytes"));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = read(fd, &data[done], data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoToStatus(errno, "read", path);
    if (n == 0) break;  // Shrunk since fstat.
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

}  // namespace patchfarm
