#include "common/byte_io.h"

#include <algorithm>
#include <cstring>
#include <utility>

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

ConcatSource::ConcatSource(std::vector<const ByteSource*> parts) : parts_(std::move(parts)) {
  uint64_t end = 0;
  for (const ByteSource* part : parts_) ends_.push_back(end += part->size());
}

absl::StatusOr<size_t> ConcatSource::ReadAt(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  size_t i = std::upper_bound(ends_.begin(), ends_.end(), offset) - ends_.begin();
  for (; i < parts_.size() && done < n; ++i) {
    const uint64_t start = i == 0 ? 0 : ends_[i - 1];
    const uint64_t at = offset + done - start;
    const size_t want = std::min<uint64_t>(n - done, ends_[i] - start - at);
    absl::StatusOr<size_t> got = parts_[i]->ReadAt(at, buf + done, want);
    if (!got.ok()) return got.status();
    if (*got != want) return absl::FailedPreconditionError("a part of a source shrank while read");
    done += want;
  }
  return done;
}

absl::Status CopySource(const ByteSource& from, ByteSink* to) {
  std::string buffer(size_t{1} << 20, '\0');
  for (uint64_t at = 0; at < from.size();) {
    absl::StatusOr<size_t> got = from.ReadAt(at, buffer.data(), buffer.size());
    if (!got.ok()) return got.status();
    if (*got == 0) return absl::FailedPreconditionError("a source shrank while copied");
    absl::Status appended = to->Append(absl::string_view(buffer.data(), *got));
    if (!appended.ok()) return appended;
    at += *got;
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
