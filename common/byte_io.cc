#include "common/byte_io.h"

#include <algorithm>
#include <cstring>

namespace patchfarm {

absl::StatusOr<size_t> StringSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  if (offset >= data_.size()) return 0;
  size_t count = std::min<uint64_t>(n, data_.size() - offset);
  std::memcpy(buf, data_.data() + offset, count);
  return count;
}

}  // namespace patchfarm
