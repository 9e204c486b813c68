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

absl::StatusOr<size_t> SliceSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  if (offset >= length_) return 0;
  size_t count = std::min<uint64_t>(n, length_ - offset);
  return base_->ReadAt(offset_ + offset, buf, count);
}

}  // namespace patchfarm
