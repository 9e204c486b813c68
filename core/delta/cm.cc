#include "core/delta/cm.h"

#include <cstdint>
#include <cstring>

#include "common/status_macros.h"

namespace patchfarm {
namespace cm {

namespace {

// 4096 / (1 + e^-(d / 256)), interpolated between knots every 128 steps of d.
int SquashOf(int d) {
  static constexpr int kKnots[33] = {
      1,    2,    3,    6,    10,   16,   27,   45,   73,   120,  194,
      310,  488,  747,  1101, 1546, 2047, 2549, 2994, 3348, 3607, 3785,
      3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094};
  if (d > 2047) return 4095;
  if (d < -2047) return 0;
  int w = d & 127;
  int k = (d >> 7) + 16;
  return (kKnots[k] * (128 - w) + kKnots[k + 1] * w + 64) >> 7;
}

}  // namespace

Tables::Tables() {
  auto squash_of = SquashOf;
  for (int d = -2048; d < 2048; ++d) {
    squash[d + 2048] = static_cast<int16_t>(std::clamp(squash_of(d), 1, 4095));
  }
  int next = 0;
  for (int d = -2047; d <= 2047; ++d) {
    int p = squash_of(d);
    for (; next <= p && next < 4096; ++next) stretch[next] = static_cast<int16_t>(d);
  }
  for (; next < 4096; ++next) stretch[next] = 2047;
  for (int n = 0; n < 256; ++n) reciprocal[n] = 327680 / (10 * n + 16);
}

const Tables kTables;

Counters::Counters(int bits, bool eager)
    : table_(sizeof(uint32_t) << bits,
             eager ? ZeroedBytes::Pages::kHuge : ZeroedBytes::Pages::kSmall),
      slots_(reinterpret_cast<uint32_t*>(table_.data())),
      mask_((1u << bits) - 1) {
  // Written through at once (zero is the initial state): coding then takes
  // no page faults, and huge pages are allocated whole. Faulting pages in
  // while coding cost about 5% of a decode.
  if (eager) std::memset(slots_, 0, table_.size());
}

std::string ArithmeticEncoder::Finish() {
  for (int i = 0; i < 4; ++i) {
    out_.push_back(static_cast<char>(low_ >> 24));
    low_ <<= 8;
  }
  return std::move(out_);
}

ArithmeticDecoder::ArithmeticDecoder(const ByteSource* source, uint64_t offset,
                                     uint64_t length)
    : source_(source), next_(offset), end_(offset + length), buf_(64 << 10, '\0') {}

void ArithmeticDecoder::Start() {
  started_ = true;
  for (int i = 0; i < 4; ++i) code_ = code_ << 8 | NextByte();
}

uint8_t ArithmeticDecoder::Refill() {
  if (next_ == end_ || !read_error_.ok()) {
    overrun_ = true;
    return 0;
  }
  size_t want = std::min<uint64_t>(buf_.size(), end_ - next_);
  absl::StatusOr<size_t> got = source_->ReadAt(next_, buf_.data(), want);
  if (!got.ok() || *got != want) {
    read_error_ = got.ok() ? absl::DataLossError("patch is shorter than its header says")
                           : got.status();
    overrun_ = true;
    return 0;
  }
  next_ += want;
  pos_ = 1;
  len_ = want;
  return static_cast<uint8_t>(buf_[0]);
}

absl::Status ArithmeticDecoder::status() const {
  PF_RETURN_IF_ERROR(read_error_);
  if (overrun_) return absl::DataLossError("modeled stream is truncated");
  return absl::OkStatus();
}

absl::Status ArithmeticDecoder::CheckFinished() {
  if (!started_) Start();
  PF_RETURN_IF_ERROR(status());
  if (pos_ != len_ || next_ != end_) {
    return absl::DataLossError("modeled stream has unexpected trailing bytes");
  }
  return absl::OkStatus();
}

}  // namespace cm
}  // namespace patchfarm
