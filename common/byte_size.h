// Byte sizes as people write them in flags ("512M", "8G", "1048576") and the
// memory this process may use, for the budgets of `diff --max-memory`, the
// worker's --job-memory and the publisher's full packages.
#ifndef PATCHFARM_COMMON_BYTE_SIZE_H_
#define PATCHFARM_COMMON_BYTE_SIZE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace patchfarm {

// Parses a count of bytes, optionally followed by K, M, G or T (powers of
// 1024; lower case and a trailing "B" or "iB" accepted). False for anything
// else, for 0 and for values above 2^62.
bool ParseByteSize(absl::string_view text, uint64_t* bytes);

// The memory this process may use, in bytes: the machine's physical memory,
// or its cgroup's memory limit where that is lower (a container's: a pod's
// limit in Kubernetes). 0 if unknown.
uint64_t MemoryLimitBytes();

// The lowest memory limit of the cgroups that `proc_self_cgroup` (the text
// of /proc/self/cgroup) names, from the process's own up to the root, read
// under `cgroup_root` (/sys/fs/cgroup): memory.max of cgroup v2, or
// memory/.../memory.limit_in_bytes of v1. nullopt if none sets one.
std::optional<uint64_t> CgroupMemoryLimit(absl::string_view proc_self_cgroup,
                                          const std::string& cgroup_root);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_BYTE_SIZE_H_
