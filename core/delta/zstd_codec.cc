#include "core/delta/zstd_codec.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_getFrameHeader
#include <zstd.h>

namespace patchfarm {
namespace {

int CeilLog2(uint64_t n) {
  int log = 0;
  while ((uint64_t{1} << log) < n) ++log;
  return log;
}

absl::Status SetParam(ZSTD_CCtx* cctx, ZSTD_cParameter param, int value) {
  size_t rc = ZSTD_CCtx_setParameter(cctx, param, value);
  if (ZSTD_isError(rc)) {
    return FromZstd(rc, "setting compression parameter", absl::StatusCode::kInternal);
  }
  return absl::OkStatus();
}

// The window ZstdCompress and ZstdStreamWriter use for `span` bytes.
int WindowLogFor(uint64_t span, const ZstdOptions& options) {
  int window_log = std::max(ZSTD_WINDOWLOG_MIN, CeilLog2(std::max<uint64_t>(span, 1)));
  if (options.prefix.empty()) window_log = std::min(window_log, options.max_window_log);
  return window_log;
}

}  // namespace

absl::Status FromZstd(size_t code, absl::string_view context,
                      absl::StatusCode status_code) {
  return absl::Status(status_code,
                      absl::StrCat(context, ": zstd: ", ZSTD_getErrorName(code)));
}

absl::StatusOr<std::string> ZstdCompress(absl::string_view data,
                                         const ZstdOptions& options) {
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(),
                                                          ZSTD_freeCCtx);
  if (cctx == nullptr) return absl::ResourceExhaustedError("ZSTD_createCCtx failed");
  int window_log = WindowLogFor(data.size() + options.prefix.size(), options);
  PF_RETURN_IF_ERROR(SetParam(cctx.get(), ZSTD_c_compressionLevel, options.level));
  PF_RETURN_IF_ERROR(SetParam(cctx.get(), ZSTD_c_windowLog, window_log));
  PF_RETURN_IF_ERROR(SetParam(cctx.get(), ZSTD_c_checksumFlag, 1));
  PF_RETURN_IF_ERROR(SetParam(cctx.get(), ZSTD_c_contentSizeFlag, 1));
  if (!options.prefix.empty()) {
    PF_RETURN_IF_ERROR(SetParam(cctx.get(), ZSTD_c_enableLongDistanceMatching, 1));
    size_t rc = ZSTD_CCtx_refPrefix(cctx.get(), options.prefix.data(),
                                    options.prefix.size());
    if (ZSTD_isError(rc)) {
      return FromZstd(rc, "referencing prefix", absl::StatusCode::kInternal);
    }
  }
  std::string out(ZSTD_compressBound(data.size()), '\0');
  size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), data.data(), data.size());
  if (ZSTD_isError(n)) return FromZstd(n, "compressing", absl::StatusCode::kInternal);
  out.resize(n);
  return out;
}

absl::StatusOr<bool> Incompressible(absl::string_view piece) {
  ZstdOptions fastest;
  fastest.level = 1;
  PF_ASSIGN_OR_RETURN(std::string compressed, ZstdCompress(piece, fastest));
  return compressed.size() * 50 >= piece.size() * 49;
}

ZstdStreamWriter::ZstdStreamWriter(void* cctx, uint64_t content_size, ByteSink* out)
    : cctx_(cctx), content_size_(content_size), out_(out), out_buf_(ZSTD_CStreamOutSize(), '\0') {}

ZstdStreamWriter::~ZstdStreamWriter() { ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(cctx_)); }

uint64_t ZstdStreamWriter::MemoryFor(uint64_t content_size, const ZstdOptions& options) {
  ZSTD_compressionParameters params = ZSTD_getCParams(options.level, content_size, 0);
  params.windowLog = WindowLogFor(content_size, options);  // As Create sets it.
  params = ZSTD_adjustCParams(params, content_size, 0);
  // zstd's estimate falls about a quarter short at levels 18-19 (measured
  // on this machine); with workers, each holds a context and its jobs' input,
  // about three single contexts in all for two workers (measured).
  const uint64_t single = (ZSTD_estimateCStreamSize_usingCParams(params) + ZSTD_CStreamOutSize()) * 5 / 4;
  return options.workers > 0 ? single * (options.workers + 1) : single;
}

absl::StatusOr<std::unique_ptr<ZstdStreamWriter>> ZstdStreamWriter::Create(
    uint64_t content_size, const ZstdOptions& options, ByteSink* out) {
  if (!options.prefix.empty()) {
    return absl::InvalidArgumentError("ZstdStreamWriter takes no prefix");
  }
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  if (cctx == nullptr) return absl::ResourceExhaustedError("ZSTD_createCCtx failed");
  std::unique_ptr<ZstdStreamWriter> writer(new ZstdStreamWriter(cctx, content_size, out));
  PF_RETURN_IF_ERROR(SetParam(cctx, ZSTD_c_compressionLevel, options.level));
  PF_RETURN_IF_ERROR(SetParam(cctx, ZSTD_c_windowLog, WindowLogFor(content_size, options)));
  PF_RETURN_IF_ERROR(SetParam(cctx, ZSTD_c_checksumFlag, 1));
  PF_RETURN_IF_ERROR(SetParam(cctx, ZSTD_c_contentSizeFlag, 1));
  if (options.workers > 0) PF_RETURN_IF_ERROR(SetParam(cctx, ZSTD_c_nbWorkers, options.workers));
  size_t rc = ZSTD_CCtx_setPledgedSrcSize(cctx, content_size);
  if (ZSTD_isError(rc)) return FromZstd(rc, "pledging size", absl::StatusCode::kInternal);
  return writer;
}

absl::Status ZstdStreamWriter::Drain(void* in_buffer, int mode) {
  auto* in = static_cast<ZSTD_inBuffer*>(in_buffer);
  for (;;) {
    ZSTD_outBuffer out = {out_buf_.data(), out_buf_.size(), 0};
    size_t left = ZSTD_compressStream2(static_cast<ZSTD_CCtx*>(cctx_), &out, in,
                                       static_cast<ZSTD_EndDirective>(mode));
    if (ZSTD_isError(left)) return FromZstd(left, "compressing", absl::StatusCode::kInternal);
    absl::string_view produced(out_buf_.data(), out.pos);
    if (!produced.empty()) {
      frame_hash_.Update(produced);
      compressed_size_ += produced.size();
      PF_RETURN_IF_ERROR(out_->Append(produced));
    }
    const bool input_done = in->pos == in->size;
    if (mode == ZSTD_e_end ? left == 0 : input_done) return absl::OkStatus();
  }
}

absl::Status ZstdStreamWriter::Write(absl::string_view data) {
  if (data.size() > content_size_ - written_) {
    return absl::FailedPreconditionError("zstd stream: more bytes than pledged");
  }
  written_ += data.size();
  ZSTD_inBuffer in = {data.data(), data.size(), 0};
  return Drain(&in, ZSTD_e_continue);
}

absl::Status ZstdStreamWriter::Finish() {
  if (written_ != content_size_) {
    return absl::FailedPreconditionError(absl::StrCat("zstd stream: ", written_, " of ",
                                                      content_size_, " pledged bytes written"));
  }
  ZSTD_inBuffer in = {nullptr, 0, 0};
  PF_RETURN_IF_ERROR(Drain(&in, ZSTD_e_end));
  frame_digest_ = frame_hash_.Finish();
  return absl::OkStatus();
}

ZstdFrameReader::ZstdFrameReader(const ByteSource* source, uint64_t offset,
                                 uint64_t length, const Limits& limits, void* dctx)
    : StreamReader(source, offset, length, limits.content_size, ZSTD_DStreamInSize(),
                   ZSTD_DStreamOutSize()),
      dctx_(dctx) {}

ZstdFrameReader::~ZstdFrameReader() { ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(dctx_)); }

absl::StatusOr<std::unique_ptr<ZstdFrameReader>> ZstdFrameReader::Open(
    const ByteSource* source, uint64_t offset, uint64_t length, const Limits& limits) {
  char head[ZSTD_FRAMEHEADERSIZE_MAX];
  PF_ASSIGN_OR_RETURN(size_t got,
                      source->ReadAt(offset, head, std::min<uint64_t>(length, sizeof head)));
  ZSTD_frameHeader header;
  size_t rc = ZSTD_getFrameHeader(&header, head, got);
  if (rc != 0 || header.frameType != ZSTD_frame) {
    return absl::DataLossError("stream does not start with a complete zstd frame header");
  }
  if (header.frameContentSize >= ZSTD_CONTENTSIZE_ERROR ||
      header.frameContentSize != limits.content_size) {
    return absl::DataLossError(absl::StrCat("zstd frame declares ",
                                            header.frameContentSize, " bytes, expected ",
                                            limits.content_size));
  }
  if (header.windowSize > (uint64_t{1} << limits.max_window_log)) {
    return absl::DataLossError(absl::StrCat("zstd frame window of ", header.windowSize,
                                            " bytes exceeds the limit"));
  }
  ZSTD_DCtx* dctx = ZSTD_createDCtx();
  if (dctx == nullptr) return absl::ResourceExhaustedError("ZSTD_createDCtx failed");
  std::unique_ptr<ZstdFrameReader> reader(
      new ZstdFrameReader(source, offset, length, limits, dctx));
  rc = ZSTD_DCtx_setParameter(dctx, ZSTD_d_windowLogMax, limits.max_window_log);
  if (ZSTD_isError(rc)) return FromZstd(rc, "setting window limit");
  if (!limits.prefix.empty()) {
    rc = ZSTD_DCtx_refPrefix(dctx, limits.prefix.data(), limits.prefix.size());
    if (ZSTD_isError(rc)) return FromZstd(rc, "referencing prefix");
  }
  return reader;
}

absl::Status ZstdFrameReader::Step() {
  if (frame_done_) return absl::DataLossError("stream ends before its declared size");
  if (!output_was_full_) PF_RETURN_IF_ERROR(ReadInput());
  ZSTD_inBuffer in{in_buf_.data(), in_end_, in_pos_};
  ZSTD_outBuffer out{out_buf_.data(), out_buf_.size(), 0};
  size_t rc = ZSTD_decompressStream(static_cast<ZSTD_DCtx*>(dctx_), &out, &in);
  if (ZSTD_isError(rc)) return FromZstd(rc, "decompressing stream");
  in_pos_ = in.pos;
  output_was_full_ = out.pos == out.size;
  PF_RETURN_IF_ERROR(Produced(out.pos));
  if (rc == 0) frame_done_ = true;
  return absl::OkStatus();
}

absl::Status ZstdFrameReader::CheckFinished() {
  PF_RETURN_IF_ERROR(CheckContentRead());
  // The content is complete; drive the decoder on to verify the checksum.
  while (!frame_done_) {
    PF_RETURN_IF_ERROR(Step());  // Fails if the frame holds more content.
  }
  if (!InputConsumed()) return absl::DataLossError("unexpected bytes after stream");
  return absl::OkStatus();
}

}  // namespace patchfarm
