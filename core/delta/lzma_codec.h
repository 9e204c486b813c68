// LZMA2 compression of patch streams (methods 9 to 12, FORMAT.md) and its
// bounded-memory streaming decompression from a range of a ByteSource. The
// only place that talks to liblzma. Streams are raw LZMA2 (no .xz container:
// the patch's stream table holds sizes and checksums) with a dictionary of
// LzmaDictionaryBytes(raw size). Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_LZMA_CODEC_H_
#define PATCHFARM_CORE_DELTA_LZMA_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"
#include "core/delta/stream_reader.h"

namespace patchfarm {

// The dictionary of a stream of `raw_size` bytes: the raw size rounded up to
// a power of two, at least 4 KiB and at most 8 MiB. Writer and reader derive
// it alike; it bounds the decoder's memory to about 8 MiB.
uint32_t LzmaDictionaryBytes(uint64_t raw_size);

// Compresses `data` into one raw LZMA2 stream (end marker included) with
// liblzma's preset `preset` (0-9) and the dictionary above.
absl::StatusOr<std::string> LzmaCompress(absl::string_view data, int preset);

// Pieces of kLzmaStoredPiece bytes (LZMA2's largest uncompressed chunk).
inline constexpr size_t kLzmaStoredPiece = 64 << 10;
// Stored runs are at least this long: each one breaks the encoding.
inline constexpr size_t kLzmaMinStoredRun = 1 << 20;
// Coded runs are cut in the fewest about equal parts of at most this (give
// or take a piece: cuts fall at whole pieces), coded apart (on threads); the
// encoder of each part after the first reads the kLzmaPrimerBytes before it
// first (its first chunk keeps the dictionary).
inline constexpr size_t kLzmaMaxCodedRun = 16 << 20;
// Reading costs an encoder nearly what coding does: on a 1 GiB game pack's
// extra stream, primers of 8 MiB took 2 of its 8 seconds (2 threads), and
// 2 MiB costs 18 KB of its 55 MB (1 MiB: 50 KB); on biome 2.5.4 -> 2.5.15's
// (new code, 7.2 MB coded) 1 of 5.8 seconds, for 45 KB (4 MiB: 16 KB).
inline constexpr size_t kLzmaPrimerBytes = 2 << 20;

// As LzmaCompress, except that runs of at least kLzmaMinStoredRun bytes of
// pieces that `stored` marks (piece i is data[i * kLzmaStoredPiece, ...); the
// caller found them incompressible: fresh random or already compressed bytes)
// go into LZMA2's uncompressed chunks, without the encoder's search, and each
// run between them is encoded afresh (its first chunk resets the dictionary).
// It is one LZMA2 stream to any reader. Without a stored run or a coded run
// over kLzmaMaxCodedRun, the bytes of LzmaCompress. `stored` has one entry
// per piece, the last one short. The coded parts take up to `threads`
// threads; the bytes are the same for any.
absl::StatusOr<std::string> LzmaCompressStoring(absl::string_view data, int preset,
                                                const std::vector<bool>& stored, int threads);

// Reads one raw LZMA2 stream occupying exactly [offset, offset + length) of a
// ByteSource that decodes to exactly `content_size` bytes.
class LzmaStreamReader : public StreamReader {
 public:
  static absl::StatusOr<std::unique_ptr<LzmaStreamReader>> Open(const ByteSource* source,
                                                               uint64_t offset,
                                                               uint64_t length,
                                                               uint64_t content_size);
  ~LzmaStreamReader() override;

  // Also verifies the stream's end marker.
  absl::Status CheckFinished() override;

 private:
  LzmaStreamReader(const ByteSource* source, uint64_t offset, uint64_t length,
                   uint64_t content_size);
  absl::Status Step() override;

  struct Decoder;
  std::unique_ptr<Decoder> decoder_;
  bool output_was_full_ = false;
  bool stream_done_ = false;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_LZMA_CODEC_H_
