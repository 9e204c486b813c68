#include "core/delta/format.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "core/delta/varint.h"

namespace patchfarm {
namespace {

constexpr size_t kFixedBytes = 88;  // magic .. new digest
constexpr size_t kStreamEntryBytes = 24;
constexpr size_t kChecksumBytes = 8;
constexpr size_t kMaxStreams = 1 + 2 * kMaxJoinedSegments;

std::string HeaderChecksum(absl::string_view bytes) {
  Digest digest = Sha256Of(bytes);
  return std::string(reinterpret_cast<const char*>(digest.data()), kChecksumBytes);
}

bool ValidStreamCount(PatchMethod method, size_t count) {
  if (method == PatchMethod::kFramedStreams) return count >= 3 && count % 2 == 1;
  return count == (HasThreeStreams(method) ? 3 : 1);
}

}  // namespace

uint64_t FrameChecksum(absl::string_view frame) { return FrameChecksum(Sha256Of(frame)); }

uint64_t FrameChecksum(const Digest& sha256) {
  return GetFixed64(reinterpret_cast<const char*>(sha256.data()));
}

std::vector<StreamExtent> PatchHeader::DiffFrames() const {
  const size_t segments = (streams.size() - 1) / 2;
  return {streams.begin() + 1, streams.begin() + 1 + segments};
}

std::vector<StreamExtent> PatchHeader::ExtraFrames() const {
  const size_t segments = (streams.size() - 1) / 2;
  return {streams.begin() + 1 + segments, streams.end()};
}

uint64_t PatchHeaderSize(size_t stream_count) {
  return kFixedBytes + kStreamEntryBytes * stream_count + kChecksumBytes;
}

absl::Status VerifyStreamChecksums(const ByteSource& patch, const PatchHeader& header) {
  std::string buf(64 << 10, '\0');
  for (size_t i = 0; i < header.streams.size(); ++i) {
    const StreamExtent& stream = header.streams[i];
    Sha256 hasher;
    for (uint64_t done = 0; done < stream.compressed_size;) {
      size_t want = std::min<uint64_t>(buf.size(), stream.compressed_size - done);
      PF_ASSIGN_OR_RETURN(size_t got, patch.ReadAt(stream.offset + done, buf.data(), want));
      if (got != want) return absl::DataLossError("patch is shorter than its header says");
      hasher.Update(absl::string_view(buf.data(), got));
      done += got;
    }
    if (FrameChecksum(hasher.Finish()) != stream.frame_checksum) {
      return absl::DataLossError(absl::StrCat("corrupt patch: stream ", i, " checksum mismatch"));
    }
  }
  return absl::OkStatus();
}

void AppendDiffPartsHead(const DiffParts& parts, PatchMethod method, std::string* out) {
  PutVarint(parts.first_entries, out);
  PutVarint(parts.first_bytes, out);
  if (HasSizedModel(method)) PutVarint(static_cast<uint64_t>(parts.model_bits), out);
}

absl::StatusOr<DiffParts> ReadDiffParts(const ByteSource& patch, const StreamExtent& stream,
                                        PatchMethod method) {
  char head[20];
  const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof head, stream.compressed_size));
  PF_ASSIGN_OR_RETURN(size_t got, patch.ReadAt(stream.offset, head, want));
  if (got != want) return absl::DataLossError("patch is shorter than its header says");
  DiffParts parts;
  const char* at = head;
  if (!GetVarint(&at, head + got, &parts.first_entries) ||
      !GetVarint(&at, head + got, &parts.first_bytes)) {
    return absl::DataLossError("corrupt patch: diff stream head");
  }
  parts.model_bits = FixedModelBits(method);
  if (HasSizedModel(method)) {
    uint64_t bits;
    if (!GetVarint(&at, head + got, &bits) || bits < kMinModelBits || bits > kMaxModelBits) {
      return absl::DataLossError("corrupt patch: diff stream head's table size");
    }
    parts.model_bits = static_cast<int>(bits);
  }
  parts.head_bytes = at - head;
  if (parts.first_bytes > stream.compressed_size - parts.head_bytes) {
    return absl::DataLossError("corrupt patch: diff stream's first part exceeds it");
  }
  return parts;
}

const char* PatchMethodName(PatchMethod method) {
  switch (method) {
    case PatchMethod::kStreams:
      return "streams";
    case PatchMethod::kZstdPrefix:
      return "zstd-prefix";
    case PatchMethod::kModeledStreams:
      return "modeled-streams";
    case PatchMethod::kPredictedModeledStreams:
      return "predicted-modeled-streams";
    case PatchMethod::kPredictedStreams:
      return "predicted-streams";
    case PatchMethod::kFramedStreams:
      return "framed-streams";
    case PatchMethod::kSparseModeledStreams:
      return "sparse-modeled-streams";
    case PatchMethod::kSparsePredictedModeledStreams:
      return "sparse-predicted-modeled-streams";
    case PatchMethod::kLzmaSparseModeledStreams:
      return "lzma-sparse-modeled-streams";
    case PatchMethod::kLzmaSparsePredictedModeledStreams:
      return "lzma-sparse-predicted-modeled-streams";
    case PatchMethod::kSizedLzmaSparseModeledStreams:
      return "sized-lzma-sparse-modeled-streams";
    case PatchMethod::kSizedLzmaSparsePredictedModeledStreams:
      return "sized-lzma-sparse-predicted-modeled-streams";
  }
  return "unknown";
}

std::string SerializePatch(PatchHeader header, const std::vector<absl::string_view>& frames,
                           const std::vector<uint64_t>& raw_sizes) {
  header.streams.clear();
  for (size_t i = 0; i < frames.size(); ++i) {
    header.streams.push_back({0, frames[i].size(), raw_sizes[i], FrameChecksum(frames[i])});
  }
  std::string patch = SerializePatchHeader(header);
  for (absl::string_view frame : frames) patch.append(frame.data(), frame.size());
  return patch;
}

void ControlEncoder::Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len, bool exact) {
  const int64_t seek = diff_len > 0 ? static_cast<int64_t>(old_pos - old_cursor_) : 0;
  PutVarint(ZigZag(seek), out_);
  PutVarint(sparse_ ? diff_len << 1 | exact : diff_len, out_);
  PutVarint(extra_len, out_);
  if (diff_len > 0) old_cursor_ = old_pos + diff_len;
}

std::string SerializePatchHeader(const PatchHeader& header) {
  std::string out(kPatchMagic, sizeof kPatchMagic);
  const uint16_t version = FormatVersionOf(header.method);
  out.push_back(static_cast<char>(version & 0xff));
  out.push_back(static_cast<char>(version >> 8));
  out.push_back(static_cast<char>(header.method));
  out.push_back(static_cast<char>(header.streams.size()));
  PutFixed64(header.old_size, &out);
  PutFixed64(header.new_size, &out);
  out.append(reinterpret_cast<const char*>(header.old_digest.data()), 32);
  out.append(reinterpret_cast<const char*>(header.new_digest.data()), 32);
  for (const StreamExtent& stream : header.streams) {
    PutFixed64(stream.compressed_size, &out);
    PutFixed64(stream.raw_size, &out);
    PutFixed64(stream.frame_checksum, &out);
  }
  out += HeaderChecksum(out);
  return out;
}

absl::StatusOr<PatchHeader> ReadPatchHeader(const ByteSource& patch) {
  char buf[kFixedBytes + kStreamEntryBytes * kMaxStreams + kChecksumBytes];
  PF_ASSIGN_OR_RETURN(size_t got, patch.ReadAt(0, buf, sizeof buf));
  if (got < 8 || std::memcmp(buf, kPatchMagic, sizeof kPatchMagic) != 0) {
    return absl::InvalidArgumentError("not a patchfarm patch (bad magic)");
  }
  uint16_t version = static_cast<uint8_t>(buf[4]) | (static_cast<uint8_t>(buf[5]) << 8);
  if (version < 1 || version > kPatchFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "patch format version ", version, " is not supported (this build reads versions 1 to ",
        kPatchFormatVersion, ")"));
  }
  PatchHeader header;
  header.version = version;
  const uint8_t method = static_cast<uint8_t>(buf[6]);
  header.method = static_cast<PatchMethod>(method);
  if (method < 1 || method > 12 || FormatVersionOf(header.method) != version) {
    return absl::DataLossError(absl::StrCat("corrupt patch header: unknown method ", method,
                                            " for format version ", version));
  }
  size_t stream_count = static_cast<uint8_t>(buf[7]);
  if (!ValidStreamCount(header.method, stream_count)) {
    return absl::DataLossError("corrupt patch header: wrong stream count");
  }
  uint64_t header_size = PatchHeaderSize(stream_count);
  if (got < header_size) return absl::DataLossError("patch is truncated inside its header");
  size_t checksum_at = header_size - kChecksumBytes;
  if (HeaderChecksum(absl::string_view(buf, checksum_at)) !=
      absl::string_view(buf + checksum_at, kChecksumBytes)) {
    return absl::DataLossError("corrupt patch header: checksum mismatch");
  }
  header.old_size = GetFixed64(buf + 8);
  header.new_size = GetFixed64(buf + 16);
  std::memcpy(header.old_digest.data(), buf + 24, 32);
  std::memcpy(header.new_digest.data(), buf + 56, 32);
  uint64_t offset = header_size;
  uint64_t raw_output = 0;
  for (size_t i = 0; i < stream_count; ++i) {
    StreamExtent stream;
    stream.offset = offset;
    stream.compressed_size = GetFixed64(buf + kFixedBytes + kStreamEntryBytes * i);
    stream.raw_size = GetFixed64(buf + kFixedBytes + kStreamEntryBytes * i + 8);
    stream.frame_checksum = GetFixed64(buf + kFixedBytes + kStreamEntryBytes * i + 16);
    if (stream.compressed_size > patch.size() - offset) {
      return absl::DataLossError(absl::StrCat("patch is truncated: stream ", i, " needs ",
                                              stream.compressed_size, " bytes at offset ",
                                              offset, " of ", patch.size()));
    }
    offset += stream.compressed_size;
    if (header.method == PatchMethod::kZstdPrefix || i != kControlStream) {
      raw_output += stream.raw_size;
      if (raw_output < stream.raw_size) return absl::DataLossError("stream sizes overflow");
    }
    header.streams.push_back(stream);
  }
  if (offset != patch.size()) {
    return absl::DataLossError(absl::StrCat("patch has ", patch.size() - offset,
                                            " unexpected trailing bytes"));
  }
  if (raw_output != header.new_size) {
    return absl::DataLossError("corrupt patch header: streams do not add up to the new size");
  }
  if (IsPredicted(header.method) &&
      header.streams[kControlStream].raw_size > MaxPredictedControlBytes(header.method)) {
    return absl::DataLossError("corrupt patch header: control stream too large");
  }
  if (header.method == PatchMethod::kZstdPrefix &&
      header.new_size > kMaxPrefixMethodNewBytes) {
    return absl::DataLossError("corrupt patch header: zstd-prefix patch output too large");
  }
  return header;
}

}  // namespace patchfarm
