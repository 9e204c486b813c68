// Files that hold secrets: a client's or worker's bearer token (--token-file,
// common/grpc_channel.h) and the coordinator's tokens file (--tokens,
// coordinator/token_auth.h). They are read only when no other user may read
// them. Thread-safe (no state).
//
// The accepted modes:
//   0600, 0400   no group or other permission: the usual owner-only file.
//   0640, 0440   group read on top, only for a file owned by root and read by
//                a process that is not root. This is what Kubernetes makes of
//                a secret volume mounted with defaultMode 0400 in a pod that
//                sets securityContext.fsGroup (deploy/kubernetes/): the kubelet
//                adds group read for the pod's fsGroup, the owner stays root
//                (kubernetes/kubernetes#57923), and a non-root pod reads the
//                file through that group. Debian's root:ssl-cert 0640 keys
//                follow the same rule (as PostgreSQL's ssl_key_file check).
// Everything else is refused: any permission for other users, group write or
// execute, group read on a file the reader owns or when the reader is root.
#ifndef PATCHFARM_COMMON_SECRET_FILE_H_
#define PATCHFARM_COMMON_SECRET_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// OK if a file with permission bits `mode` (st_mode; the type bits are
// ignored) owned by user `owner` may hold a secret read by user `reader` (see
// above). PermissionDenied otherwise, with a message naming `path`, the mode
// in octal and the fix. `what` names the file in that message ("a token file").
absl::Status CheckSecretFileMode(absl::string_view path, absl::string_view what,
                                 unsigned mode, unsigned owner, unsigned reader);

// The content of the regular file at `path`, checked by CheckSecretFileMode
// for this process's effective user (the open file is the one checked and
// read). Errors: those of open and read (ErrnoToStatus in common/file.h);
// InvalidArgument if `path` is not a regular file or is over 1 MiB;
// PermissionDenied from the mode check.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path,
                                           absl::string_view what);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_SECRET_FILE_H_
