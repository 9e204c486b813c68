#include "core/delta/segments.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/status_macros.h"
#include "core/delta/bounded_streams.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

constexpr size_t kChecksumAt = kSegmentHeaderBytes - 8;

std::string Checksum(absl::string_view bytes) {
  Digest digest = Sha256Of(bytes);
  return std::string(reinterpret_cast<const char*>(digest.data()), 8);
}

void PutExtent(const StreamExtent& extent, std::string* out) {
  PutFixed64(extent.compressed_size, out);
  PutFixed64(extent.raw_size, out);
  PutFixed64(extent.frame_checksum, out);
}

StreamExtent GetExtent(const char* p) {
  return {0, GetFixed64(p), GetFixed64(p + 8), GetFixed64(p + 16)};
}

// Appends `segment`'s control entries to `control` (one cursor for the whole
// patch), checking each against the files and the segment's frames.
absl::Status RewriteControl(const ByteSource& segment, const SegmentHeader& header,
                            ControlWriter* control) {
  const SliceSource raw(&segment, kSegmentHeaderBytes, header.control_bytes);
  const absl::Status corrupt = absl::DataLossError(
      absl::StrCat("corrupt segment [", header.begin, ", ", header.end, "): bad control entry"));
  PF_ASSIGN_OR_RETURN(Digest digest, HashSource(raw));
  if (FrameChecksum(digest) != header.control_checksum) return corrupt;
  ControlReader reader(&raw);
  uint64_t cursor = 0, diff_left = header.diff.raw_size, extra_left = 0;
  for (const StreamExtent& e : header.extra) extra_left += e.raw_size;
  while (diff_left + extra_left > 0) {
    absl::StatusOr<uint64_t> seek = reader.Next(), diff_len = reader.Next(),
                             extra_len = reader.Next();
    if (!seek.ok() || !diff_len.ok() || !extra_len.ok()) return corrupt;
    const int64_t delta = UnZigZag(*seek);
    if ((delta < 0 && static_cast<uint64_t>(-(delta + 1)) >= cursor) ||
        (delta > 0 && static_cast<uint64_t>(delta) > header.old_size - cursor)) {
      return corrupt;
    }
    cursor += delta;
    if ((*diff_len == 0 && *extra_len == 0) || *diff_len > diff_left ||
        *extra_len > extra_left || *diff_len > header.old_size - cursor) {
      return corrupt;
    }
    PF_RETURN_IF_ERROR(control->Add(cursor, *diff_len, *extra_len));
    cursor += *diff_len;
    diff_left -= *diff_len;
    extra_left -= *extra_len;
  }
  if (reader.position() != header.control_bytes) return corrupt;
  return absl::OkStatus();
}

// Copies a segment's frame to `patch`, checking it against its checksum.
absl::Status CopyFrame(const ByteSource& segment, const StreamExtent& frame, ByteSink* patch) {
  const SliceSource bytes(&segment, frame.offset, frame.compressed_size);
  Sha256 hash;
  PF_RETURN_IF_ERROR(ForEachPiece(bytes, [&](absl::string_view piece) {
    hash.Update(piece);
    return patch->Append(piece);
  }));
  if (FrameChecksum(hash.Finish()) != frame.frame_checksum) {
    return absl::DataLossError("corrupt segment: frame checksum mismatch");
  }
  return absl::OkStatus();
}

// A sink that keeps nothing: what checking a segment writes.
class DiscardSink : public ByteSink {
 public:
  absl::Status Append(absl::string_view) override { return absl::OkStatus(); }
};

}  // namespace

std::string SerializeSegmentHeader(const SegmentHeader& header) {
  std::string out(kSegmentMagic, sizeof kSegmentMagic);
  out.push_back(static_cast<char>(kSegmentFormatVersion & 0xff));
  out.push_back(static_cast<char>(kSegmentFormatVersion >> 8));
  out.append(2, '\0');
  PutFixed64(header.old_size, &out);
  PutFixed64(header.new_size, &out);
  out.append(reinterpret_cast<const char*>(header.old_digest.data()), 32);
  out.append(reinterpret_cast<const char*>(header.new_digest.data()), 32);
  PutFixed64(header.begin, &out);
  PutFixed64(header.end, &out);
  PutFixed64(header.control_bytes, &out);
  PutFixed64(header.control_checksum, &out);
  PutExtent(header.diff, &out);
  PutFixed64(header.extra.size(), &out);
  for (size_t i = 0; i < kMaxSegmentExtraFrames; ++i) {
    PutExtent(i < header.extra.size() ? header.extra[i] : StreamExtent(), &out);
  }
  out += Checksum(out);
  return out;
}

absl::StatusOr<SegmentHeader> ReadSegmentHeader(const ByteSource& segment) {
  char buf[kSegmentHeaderBytes];
  PF_ASSIGN_OR_RETURN(size_t got, segment.ReadAt(0, buf, sizeof buf));
  if (got < 8 || std::memcmp(buf, kSegmentMagic, sizeof kSegmentMagic) != 0) {
    return absl::InvalidArgumentError("not a patchfarm segment (bad magic)");
  }
  const uint16_t version = static_cast<uint8_t>(buf[4]) | (static_cast<uint8_t>(buf[5]) << 8);
  if (version != kSegmentFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("segment format version ", version, " is not supported"));
  }
  if (got < kSegmentHeaderBytes) return absl::DataLossError("segment is truncated in its header");
  if (Checksum(absl::string_view(buf, kChecksumAt)) != absl::string_view(buf + kChecksumAt, 8)) {
    return absl::DataLossError("corrupt segment header: checksum mismatch");
  }
  SegmentHeader header;
  header.old_size = GetFixed64(buf + 8);
  header.new_size = GetFixed64(buf + 16);
  std::memcpy(header.old_digest.data(), buf + 24, 32);
  std::memcpy(header.new_digest.data(), buf + 56, 32);
  header.begin = GetFixed64(buf + 88);
  header.end = GetFixed64(buf + 96);
  header.control_bytes = GetFixed64(buf + 104);
  header.control_checksum = GetFixed64(buf + 112);
  header.diff = GetExtent(buf + 120);
  const uint64_t frames = GetFixed64(buf + 144);
  if (frames < 1 || frames > kMaxSegmentExtraFrames) {
    return absl::DataLossError("corrupt segment header: bad extra frame count");
  }
  uint64_t extra_raw = 0;
  for (size_t i = 0; i < kMaxSegmentExtraFrames; ++i) {
    const StreamExtent extent = GetExtent(buf + 152 + 24 * i);
    if (i < frames) {
      header.extra.push_back(extent);
      extra_raw += std::min<uint64_t>(extent.raw_size, uint64_t{1} << 62);
    } else if (extent.compressed_size != 0 || extent.raw_size != 0 || extent.frame_checksum != 0) {
      return absl::DataLossError("corrupt segment header: an unused frame entry is set");
    }
  }
  if (header.begin >= header.end || header.end > header.new_size ||
      header.diff.raw_size > header.end - header.begin ||
      extra_raw != header.end - header.begin - header.diff.raw_size) {
    return absl::DataLossError("corrupt segment header: its range and frames disagree");
  }
  uint64_t offset = kSegmentHeaderBytes;
  std::vector<StreamExtent*> parts = {&header.diff};
  for (StreamExtent& e : header.extra) parts.push_back(&e);
  if (header.control_bytes > segment.size() - offset) return absl::DataLossError("segment is truncated");
  offset += header.control_bytes;
  for (StreamExtent* part : parts) {
    if (part->compressed_size > segment.size() - offset) {
      return absl::DataLossError("segment is truncated");
    }
    part->offset = offset;
    offset += part->compressed_size;
  }
  if (offset != segment.size()) return absl::DataLossError("segment has trailing bytes");
  return header;
}

absl::StatusOr<SegmentHeader> CheckSegment(const ByteSource& segment) {
  PF_ASSIGN_OR_RETURN(SegmentHeader header, ReadSegmentHeader(segment));
  DiscardSink discard;
  ControlWriter control(&discard);
  PF_RETURN_IF_ERROR(RewriteControl(segment, header, &control));
  PF_RETURN_IF_ERROR(CopyFrame(segment, header.diff, &discard));
  for (const StreamExtent& frame : header.extra) {
    PF_RETURN_IF_ERROR(CopyFrame(segment, frame, &discard));
  }
  return header;
}

absl::Status JoinSegments(const std::vector<const ByteSource*>& segments,
                          const std::string& scratch_dir, ByteSink* patch, int level) {
  if (segments.empty() || segments.size() > kMaxSegments) {
    return absl::InvalidArgumentError(absl::StrCat("a patch joins 1 to ", kMaxSegments,
                                                   " segments, not ", segments.size()));
  }
  std::vector<SegmentHeader> headers;
  for (const ByteSource* segment : segments) {
    PF_ASSIGN_OR_RETURN(SegmentHeader header, ReadSegmentHeader(*segment));
    const SegmentHeader& first = headers.empty() ? header : headers[0];
    const uint64_t expected_begin = headers.empty() ? 0 : headers.back().end;
    if (header.old_size != first.old_size || header.new_size != first.new_size ||
        header.old_digest != first.old_digest || header.new_digest != first.new_digest) {
      return absl::InvalidArgumentError("the segments are of different pairs");
    }
    if (header.begin != expected_begin) {
      return absl::InvalidArgumentError(absl::StrCat("a segment starts at ", header.begin,
                                                     " where ", expected_begin, " was expected"));
    }
    headers.push_back(header);
  }
  if (headers.back().end != headers[0].new_size) {
    return absl::InvalidArgumentError(absl::StrCat("the segments end at ", headers.back().end,
                                                   " of new's ", headers[0].new_size, " bytes"));
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> control_raw, ScratchFile::Create(scratch_dir));
  ControlWriter control(control_raw.get());
  for (size_t i = 0; i < segments.size(); ++i) {
    PF_RETURN_IF_ERROR(RewriteControl(*segments[i], headers[i], &control));
  }
  PF_RETURN_IF_ERROR(control.Flush());
  PF_ASSIGN_OR_RETURN(std::unique_ptr<ScratchFile> control_frame, ScratchFile::Create(scratch_dir));
  ZstdOptions zstd;
  zstd.level = level;
  PF_ASSIGN_OR_RETURN(StreamExtent control_extent,
                      CompressSource(*control_raw, zstd, control_frame.get()));

  // The diff stream: each segment's frame, then empty frames for its extra
  // frames after the first, so that both streams have as many.
  StreamExtent empty_extent;
  PF_ASSIGN_OR_RETURN(const std::string empty_frame, EmptyFrame(&empty_extent));
  PatchHeader header;
  header.method = PatchMethod::kFramedStreams;
  header.old_size = headers[0].old_size;
  header.new_size = headers[0].new_size;
  header.old_digest = headers[0].old_digest;
  header.new_digest = headers[0].new_digest;
  header.streams.push_back(control_extent);
  for (const SegmentHeader& h : headers) {
    header.streams.push_back(h.diff);
    for (size_t i = 1; i < h.extra.size(); ++i) header.streams.push_back(empty_extent);
  }
  for (const SegmentHeader& h : headers) {
    header.streams.insert(header.streams.end(), h.extra.begin(), h.extra.end());
  }
  PF_RETURN_IF_ERROR(patch->Append(SerializePatchHeader(header)));
  PF_RETURN_IF_ERROR(CopySource(*control_frame, patch));
  for (size_t i = 0; i < segments.size(); ++i) {
    PF_RETURN_IF_ERROR(CopyFrame(*segments[i], headers[i].diff, patch));
    for (size_t k = 1; k < headers[i].extra.size(); ++k) PF_RETURN_IF_ERROR(patch->Append(empty_frame));
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    for (const StreamExtent& frame : headers[i].extra) {
      PF_RETURN_IF_ERROR(CopyFrame(*segments[i], frame, patch));
    }
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
