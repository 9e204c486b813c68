#include "core/delta/stream_reader.h"

#include <algorithm>
#include <cstring>

#include "common/status_macros.h"

namespace patchfarm {

StreamReader::StreamReader(const ByteSource* source, uint64_t offset, uint64_t length,
                           uint64_t content_size, size_t in_bytes, size_t out_bytes)
    : in_buf_(in_bytes, '\0'),
      out_buf_(out_bytes, '\0'),
      source_(source),
      next_in_(offset),
      end_in_(offset + length),
      content_size_(content_size) {}

absl::Status StreamReader::ReadInput() {
  if (in_pos_ != in_end_) return absl::OkStatus();
  if (next_in_ == end_in_) return absl::DataLossError("stream is truncated");
  size_t want = std::min<uint64_t>(in_buf_.size(), end_in_ - next_in_);
  PF_ASSIGN_OR_RETURN(size_t got, source_->ReadAt(next_in_, in_buf_.data(), want));
  if (got != want) return absl::DataLossError("patch is shorter than its header says");
  next_in_ += got;
  in_pos_ = 0;
  in_end_ = got;
  return absl::OkStatus();
}

absl::Status StreamReader::Produced(size_t n) {
  out_pos_ = 0;
  out_end_ = n;
  produced_ += n;
  if (produced_ > content_size_) {
    return absl::DataLossError("stream is longer than its declared size");
  }
  return absl::OkStatus();
}

absl::Status StreamReader::CheckContentRead() const {
  if (out_pos_ != out_end_ || produced_ != content_size_) {
    return absl::DataLossError("stream has unread content");
  }
  return absl::OkStatus();
}

absl::Status StreamReader::Refill() {
  do {
    PF_RETURN_IF_ERROR(Step());
  } while (out_end_ == 0);
  return absl::OkStatus();
}

absl::Status StreamReader::Read(char* dst, size_t n) {
  while (n > 0) {
    if (out_pos_ == out_end_) PF_RETURN_IF_ERROR(Refill());
    size_t take = std::min(n, out_end_ - out_pos_);
    std::memcpy(dst, out_buf_.data() + out_pos_, take);
    out_pos_ += take;
    dst += take;
    n -= take;
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> StreamReader::ReadVarint() {
  uint64_t value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (out_pos_ == out_end_) PF_RETURN_IF_ERROR(Refill());
    uint8_t byte = static_cast<uint8_t>(out_buf_[out_pos_++]);
    if (shift == 63 && byte > 1) break;
    value |= uint64_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return absl::DataLossError("malformed varint in control stream");
}

}  // namespace patchfarm
