#include "core/delta/apply.h"

#include <algorithm>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/delta/diff_model.h"
#include "core/delta/varint.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {
namespace {

constexpr size_t kChunkBytes = 256 << 10;
constexpr int kMaxStreamWindowLog = 24;

// Writes output and hashes it on the way.
class HashingOutput {
 public:
  explicit HashingOutput(ByteSink* sink) : sink_(sink) {}
  absl::Status Append(absl::string_view data) {
    hasher_.Update(data);
    written_ += data.size();
    return sink_->Append(data);
  }
  uint64_t written() const { return written_; }
  Digest Finish() { return hasher_.Finish(); }

 private:
  ByteSink* sink_;
  Sha256 hasher_;
  uint64_t written_ = 0;
};

absl::StatusOr<std::unique_ptr<ZstdFrameReader>> OpenStream(const ByteSource& patch,
                                                           const StreamExtent& extent,
                                                           absl::string_view prefix,
                                                           int max_window_log) {
  ZstdFrameReader::Limits limits;
  limits.content_size = extent.raw_size;
  limits.max_window_log = max_window_log;
  limits.prefix = prefix;
  return ZstdFrameReader::Open(&patch, extent.offset, extent.compressed_size, limits);
}

absl::Status ApplyStreams(absl::string_view old_data, const ByteSource& patch,
                          const PatchHeader& header, HashingOutput* out) {
  const bool modeled = header.method == PatchMethod::kModeledStreams;
  std::unique_ptr<ZstdFrameReader> streams[3];
  for (int i = 0; i < 3; ++i) {
    if (modeled && i == kDiffStream) continue;
    auto opened = OpenStream(patch, header.streams[i], {}, kMaxStreamWindowLog);
    if (!opened.ok()) {
      return absl::Status(opened.status().code(),
                          absl::StrCat("stream ", i, ": ", opened.status().message()));
    }
    streams[i] = *std::move(opened);
  }
  ZstdFrameReader& control = *streams[kControlStream];
  ZstdFrameReader& extra = *streams[kExtraStream];
  const StreamExtent& diff_extent = header.streams[kDiffStream];
  std::unique_ptr<DiffModelDecoder> model;
  if (modeled) {
    model = std::make_unique<DiffModelDecoder>(&patch, diff_extent.offset,
                                               diff_extent.compressed_size);
  }
  uint64_t diff_remaining = diff_extent.raw_size;
  const uint64_t old_size = old_data.size();
  const uint64_t new_size = header.new_size;
  std::string buf(kChunkBytes, '\0');
  uint64_t old_pos = 0;
  while (!control.AtEnd()) {
    PF_ASSIGN_OR_RETURN(uint64_t zigzag_seek, control.ReadVarint());
    PF_ASSIGN_OR_RETURN(uint64_t diff_len, control.ReadVarint());
    PF_ASSIGN_OR_RETURN(uint64_t extra_len, control.ReadVarint());
    int64_t seek = UnZigZag(zigzag_seek);
    uint64_t remaining = new_size - out->written();
    if ((seek < 0 && static_cast<uint64_t>(-(seek + 1)) >= old_pos) ||
        (seek > 0 && static_cast<uint64_t>(seek) > old_size - old_pos)) {
      return absl::DataLossError("corrupt patch: control seeks outside the old file");
    }
    old_pos += seek;
    if (diff_len == 0 && extra_len == 0) {
      return absl::DataLossError("corrupt patch: empty control entry");
    }
    if (diff_len > old_size - old_pos || diff_len > remaining ||
        extra_len > remaining - diff_len) {
      return absl::DataLossError("corrupt patch: control entry exceeds the file sizes");
    }
    if (diff_len > diff_remaining) {
      return absl::DataLossError("corrupt patch: diff stream ends early");
    }
    diff_remaining -= diff_len;
    for (uint64_t done = 0; done < diff_len;) {
      size_t n = std::min<uint64_t>(buf.size(), diff_len - done);
      const char* old_bytes = old_data.data() + old_pos + done;
      if (modeled) {
        PF_RETURN_IF_ERROR(model->Decode(reinterpret_cast<const uint8_t*>(old_bytes),
                                        diff_len - done,
                                        reinterpret_cast<uint8_t*>(buf.data()), n));
      } else {
        PF_RETURN_IF_ERROR(streams[kDiffStream]->Read(buf.data(), n));
      }
      for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>(buf[i] + old_bytes[i]);
      PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
      done += n;
    }
    old_pos += diff_len;
    for (uint64_t done = 0; done < extra_len;) {
      size_t n = std::min<uint64_t>(buf.size(), extra_len - done);
      PF_RETURN_IF_ERROR(extra.Read(buf.data(), n));
      PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
      done += n;
    }
  }
  if (out->written() != new_size) {
    return absl::DataLossError(absl::StrCat("corrupt patch: control covers ",
                                            out->written(), " of ", new_size, " bytes"));
  }
  for (auto& stream : streams) {
    if (stream != nullptr) PF_RETURN_IF_ERROR(stream->CheckFinished());
  }
  if (modeled) PF_RETURN_IF_ERROR(model->CheckFinished());
  return absl::OkStatus();
}

absl::Status ApplyPrefix(absl::string_view old_data, const ByteSource& patch,
                         const PatchHeader& header, HashingOutput* out) {
  PF_ASSIGN_OR_RETURN(
      std::unique_ptr<ZstdFrameReader> frame,
      OpenStream(patch, header.streams[0], old_data, kMaxPrefixWindowLog));
  std::string buf(kChunkBytes, '\0');
  while (out->written() < header.new_size) {
    size_t n = std::min<uint64_t>(buf.size(), header.new_size - out->written());
    PF_RETURN_IF_ERROR(frame->Read(buf.data(), n));
    PF_RETURN_IF_ERROR(out->Append(absl::string_view(buf.data(), n)));
  }
  return frame->CheckFinished();
}

}  // namespace

absl::StatusOr<PatchHeader> InspectPatch(const ByteSource& patch) {
  return ReadPatchHeader(patch);
}

absl::Status Apply(absl::string_view old_data, const ByteSource& patch, ByteSink* out,
                   const ApplyOptions& options) {
  PF_ASSIGN_OR_RETURN(PatchHeader header, ReadPatchHeader(patch));
  if (header.new_size > options.max_output_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("patch would write ", header.new_size, " bytes, limit ",
                     options.max_output_bytes));
  }
  if (old_data.size() != header.old_size) {
    return absl::FailedPreconditionError(
        absl::StrCat("old file is ", old_data.size(), " bytes but the patch was made from a ",
                     header.old_size, "-byte file"));
  }
  PF_RETURN_IF_ERROR(VerifyStreamChecksums(patch, header));
  Digest old_digest = Sha256Of(old_data);
  if (old_digest != header.old_digest) {
    return absl::FailedPreconditionError(absl::StrCat(
        "old file's SHA-256 is ", DigestToHex(old_digest), " but the patch was made from ",
        DigestToHex(header.old_digest)));
  }
  HashingOutput output(out);
  absl::Status status = HasThreeStreams(header.method)
                            ? ApplyStreams(old_data, patch, header, &output)
                            : ApplyPrefix(old_data, patch, header, &output);
  PF_RETURN_IF_ERROR(status);
  Digest new_digest = output.Finish();
  if (new_digest != header.new_digest) {
    return absl::DataLossError(absl::StrCat("output's SHA-256 is ", DigestToHex(new_digest),
                                            " but the patch promises ",
                                            DigestToHex(header.new_digest)));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
