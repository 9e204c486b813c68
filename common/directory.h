// Directory trees: creating parents, removing a tree without following
// symlinks, and making a whole file system's writes durable at once.
// Stateless functions; thread-safe.
#ifndef PATCHFARM_COMMON_DIRECTORY_H_
#define PATCHFARM_COMMON_DIRECTORY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace patchfarm {

// Creates `root`/`relative` and any missing directories between (mode 0755);
// `root` must exist. Existing directories are fine; anything else in the way
// (a file, a symlink) is InvalidArgument.
absl::Status MakeDirectories(const std::string& root, const std::string& relative);

// chmod(path, mode), as a Status naming the path.
absl::Status Chmod(const std::string& path, uint32_t mode);

// Removes `path` and everything under it, never following symlinks, making
// read-only directories in it writable first. A missing `path` is fine.
absl::Status RemoveTree(const std::string& path);

// Flushes every pending write of the file system holding `path` (syncfs): one
// call instead of an fsync per file when many files are made together.
absl::Status SyncFileSystem(const std::string& path);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_DIRECTORY_H_
