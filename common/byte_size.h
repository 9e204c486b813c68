// Byte sizes as people write them in flags ("512M", "8G", "1048576") and the
// machine's memory, for the budgets of `diff --max-memory` and the worker's
// --job-memory.
#ifndef PATCHFARM_COMMON_BYTE_SIZE_H_
#define PATCHFARM_COMMON_BYTE_SIZE_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace patchfarm {

// Parses a count of bytes, optionally followed by K, M, G or T (powers of
// 1024; lower case and a trailing "B" or "iB" accepted). False for anything
// else, for 0 and for values above 2^62.
bool ParseByteSize(absl::string_view text, uint64_t* bytes);

// The machine's physical memory in bytes (0 if unknown).
uint64_t PhysicalMemoryBytes();

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_BYTE_SIZE_H_
