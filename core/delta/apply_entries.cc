#include "core/delta/apply_entries.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/lzma_codec.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {

absl::Status ReadOld(const ByteSource& old, uint64_t offset, char* buf, size_t n) {
  absl::StatusOr<size_t> got = old.ReadAt(offset, buf, n);
  if (!got.ok()) {
    return absl::Status(got.status().code(),
                        absl::StrCat("reading the old file at offset ", offset, ": ",
                                     got.status().message()));
  }
  if (*got != n) {
    return absl::FailedPreconditionError(
        absl::StrCat("the old file gave ", *got, " of ", n, " bytes at offset ", offset,
                     " though it has ", old.size(), "; did it change during apply?"));
  }
  return absl::OkStatus();
}

absl::StatusOr<absl::string_view> OldReader::Read(uint64_t offset, size_t n) {
  if (offset < start_ || offset - start_ + n > length_) {
    if (buffer_.empty()) buffer_.resize(kOldBufferBytes);
    start_ = offset;
    length_ = 0;
    PF_RETURN_IF_ERROR(ReadOld(*old_, offset, buffer_.data(), n));
    length_ = n;
  }
  return absl::string_view(buffer_.data() + (offset - start_), n);
}

absl::StatusOr<std::unique_ptr<StreamReader>> OpenStream(const ByteSource& patch,
                                                        PatchMethod method,
                                                        const StreamExtent& extent) {
  if (IsLzma(method)) {
    return LzmaStreamReader::Open(&patch, extent.offset, extent.compressed_size,
                                  extent.raw_size);
  }
  ZstdFrameReader::Limits limits;
  limits.content_size = extent.raw_size;
  limits.max_window_log = kMaxStreamWindowLog;
  return ZstdFrameReader::Open(&patch, extent.offset, extent.compressed_size, limits);
}

absl::StatusOr<std::unique_ptr<StreamReader>> OpenControl(const ByteSource& patch,
                                                         const PatchHeader& header,
                                                         InstructionSet* set) {
  PF_ASSIGN_OR_RETURN(std::unique_ptr<StreamReader> control,
                      OpenStream(patch, header.method, header.streams[kControlStream]));
  if (IsPredicted(header.method)) {
    char byte = 0;
    PF_RETURN_IF_ERROR(control->Read(&byte, 1));
    if (byte != static_cast<char>(InstructionSet::kX86_64) &&
        byte != static_cast<char>(InstructionSet::kArm64)) {
      return absl::DataLossError("corrupt patch: unknown instruction set");
    }
    *set = static_cast<InstructionSet>(byte);
  }
  return control;
}

absl::StatusOr<ControlEntry> ReadEntry(StreamReader* control, PatchMethod method) {
  ControlEntry e;
  PF_ASSIGN_OR_RETURN(uint64_t zigzag_seek, control->ReadVarint());
  PF_ASSIGN_OR_RETURN(e.diff_len, control->ReadVarint());
  PF_ASSIGN_OR_RETURN(e.extra_len, control->ReadVarint());
  e.seek = UnZigZag(zigzag_seek);
  if (IsSparse(method)) {
    e.exact = (e.diff_len & 1) != 0;
    e.diff_len >>= 1;
    if (e.exact && e.diff_len == 0) {
      return absl::DataLossError("corrupt patch: exact control entry without diff bytes");
    }
  }
  return e;
}

absl::Status CheckEntry(const ControlEntry& e, uint64_t old_size, uint64_t new_size,
                        uint64_t* old_pos, uint64_t* new_pos) {
  if ((e.seek < 0 && static_cast<uint64_t>(-(e.seek + 1)) >= *old_pos) ||
      (e.seek > 0 && static_cast<uint64_t>(e.seek) > old_size - *old_pos)) {
    return absl::DataLossError("corrupt patch: control seeks outside the old file");
  }
  *old_pos += e.seek;
  if (e.diff_len == 0 && e.extra_len == 0) {
    return absl::DataLossError("corrupt patch: empty control entry");
  }
  const uint64_t remaining = new_size - *new_pos;
  if (e.diff_len > old_size - *old_pos || e.diff_len > remaining ||
      e.extra_len > remaining - e.diff_len) {
    return absl::DataLossError("corrupt patch: control entry exceeds the file sizes");
  }
  *old_pos += e.diff_len;
  *new_pos += e.diff_len + e.extra_len;
  return absl::OkStatus();
}

RegionBytes::RegionBytes(OldReader* old, const ReferenceMap* map, uint64_t old_size,
                         InstructionSet set, bool predicted)
    : old_(old), predicted_(predicted),
      predictor_(map, static_cast<int64_t>(old_size), set) {}

void RegionBytes::Start(uint64_t old_pos, uint64_t new_at, uint64_t diff_len) {
  old_pos_ = old_pos;
  diff_len_ = diff_len;
  if (!predicted_) return;
  predictor_.StartRegion(static_cast<int64_t>(old_pos), static_cast<int64_t>(new_at),
                         static_cast<int64_t>(diff_len));
  base_.clear();
  base_at_ = 0;
}

absl::StatusOr<const char*> RegionBytes::At(uint64_t done, size_t n) {
  if (!predicted_) {
    PF_ASSIGN_OR_RETURN(absl::string_view piece, old_->Read(old_pos_ + done, n));
    return piece.data();
  }
  // Bases are computed front to back: keep those from `done` on and add up to
  // `n` (the predictor reads kLookahead old bytes further).
  base_.erase(0, done - base_at_);
  base_at_ = done;
  const uint64_t have = base_.size();
  if (have < n) {
    const uint64_t from = done + have;
    const uint64_t more = n - have;
    const uint64_t readable =
        std::min<uint64_t>(diff_len_ - from, more + ReferencePredictor::kLookahead);
    PF_ASSIGN_OR_RETURN(absl::string_view piece, old_->Read(old_pos_ + from, readable));
    base_.resize(n);
    predictor_.Fill(static_cast<int64_t>(from), reinterpret_cast<const uint8_t*>(piece.data()),
                    static_cast<int64_t>(more), reinterpret_cast<uint8_t*>(&base_[have]));
  }
  return base_.data();
}

}  // namespace patchfarm
