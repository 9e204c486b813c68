// zstd compression of patch streams and bounded-memory streaming decompression
// of a frame stored in a range of a ByteSource. The only place that talks to the
// zstd API; FromZstd converts its error codes. Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_ZSTD_CODEC_H_
#define PATCHFARM_CORE_DELTA_ZSTD_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "common/sha256.h"
#include "core/delta/stream_reader.h"

namespace patchfarm {

// A status of code `status_code` carrying zstd's description of `code` (a
// ZSTD_isError result): DataLoss for decoding, Internal for encoding.
absl::Status FromZstd(size_t code, absl::string_view context,
                      absl::StatusCode status_code = absl::StatusCode::kDataLoss);

struct ZstdOptions {
  int level = 19;  // Default: 19.
  // Upper bound on the window; the actual window also fits the input size.
  int max_window_log = 23;  // Default: 23 (8 MiB).
  // Raw content to reference as a prefix (zstd --patch-from). Enables long
  // distance matching and widens the window to cover prefix + input.
  absl::string_view prefix;
  // ZstdStreamWriter only: zstd's own compression threads (0: none, compress
  // on the caller's thread). Frames made with 1 or more are the same for any
  // count, and differ from those made with none.
  int workers = 0;  // Default: 0.
};

// Compresses `data` into one zstd frame with content size and checksum.
absl::StatusOr<std::string> ZstdCompress(absl::string_view data, const ZstdOptions& options);

// Whether zstd's fastest level leaves `piece` at 98% of its size or more:
// fresh random or already compressed bytes, which no coder shrinks.
absl::StatusOr<bool> Incompressible(absl::string_view piece);

// Compresses a stream of known total size into one zstd frame (content size
// and checksum declared, as ZstdCompress makes), writing the frame to a sink as
// it goes, in memory bounded by the level and window (MemoryFor).
class ZstdStreamWriter {
 public:
  // `content_size`: the exact number of bytes Write will be given. `out`
  // must outlive the writer.
  static absl::StatusOr<std::unique_ptr<ZstdStreamWriter>> Create(uint64_t content_size,
                                                                  const ZstdOptions& options,
                                                                  ByteSink* out);
  ~ZstdStreamWriter();
  // About the compressor's peak memory for a stream of `content_size` bytes
  // (no prefix), workers included.
  static uint64_t MemoryFor(uint64_t content_size, const ZstdOptions& options);

  absl::Status Write(absl::string_view data);
  // Ends the frame. FailedPrecondition if Write was not given exactly
  // content_size bytes.
  absl::Status Finish();
  uint64_t compressed_size() const { return compressed_size_; }
  // The SHA-256 of the whole frame, valid after Finish.
  const Digest& frame_digest() const { return frame_digest_; }

 private:
  ZstdStreamWriter(void* cctx, uint64_t content_size, ByteSink* out);
  absl::Status Drain(void* in_buffer, int mode);

  void* cctx_;  // ZSTD_CCtx*
  uint64_t content_size_;
  uint64_t written_ = 0;
  ByteSink* out_;
  std::string out_buf_;
  uint64_t compressed_size_ = 0;
  Sha256 frame_hash_;
  Digest frame_digest_{};
};

// Reads the decompressed content of one zstd frame occupying exactly
// [offset, offset + length) of a ByteSource, in bounded memory.
class ZstdFrameReader : public StreamReader {
 public:
  struct Limits {
    uint64_t content_size = 0;  // The frame must declare exactly this size.
    int max_window_log = 24;    // Frames needing a larger window are refused.
    absl::string_view prefix;   // Referenced prefix, if the frame was made with one.
  };

  // DataLoss if the frame header is malformed or disagrees with `limits`.
  static absl::StatusOr<std::unique_ptr<ZstdFrameReader>> Open(const ByteSource* source,
                                                              uint64_t offset,
                                                              uint64_t length,
                                                              const Limits& limits);
  ~ZstdFrameReader() override;

  // Also verifies the frame's checksum.
  absl::Status CheckFinished() override;

 private:
  ZstdFrameReader(const ByteSource* source, uint64_t offset, uint64_t length,
                  const Limits& limits, void* dctx);
  absl::Status Step() override;

  void* dctx_;  // ZSTD_DCtx*
  bool output_was_full_ = false;  // The decoder may hold more to flush.
  bool frame_done_ = false;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_ZSTD_CODEC_H_
