// The decoded content of one compressed stream stored in a range of a
// ByteSource, read in bounded memory: what the zstd and LZMA readers share
// (an input buffer over the range, an output buffer refilled by the codec's
// Step). Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_STREAM_READER_H_
#define PATCHFARM_CORE_DELTA_STREAM_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"

namespace patchfarm {

class StreamReader {
 public:
  virtual ~StreamReader() = default;

  // Fills `dst` with exactly `n` bytes. DataLoss on corruption or if the
  // stream ends early.
  absl::Status Read(char* dst, size_t n);
  // Reads a LEB128 varint. DataLoss if malformed or past the end.
  absl::StatusOr<uint64_t> ReadVarint();
  // True when every byte of the content has been read.
  bool AtEnd() const { return produced_ == content_size_ && out_pos_ == out_end_; }
  // OK if the whole stream was consumed (its end marker and checksum, where
  // the codec has them, verified) and nothing follows it in its range.
  virtual absl::Status CheckFinished() = 0;

 protected:
  // The stream occupies [offset, offset + length) of `source` and decodes to
  // exactly `content_size` bytes.
  StreamReader(const ByteSource* source, uint64_t offset, uint64_t length,
               uint64_t content_size, size_t in_bytes, size_t out_bytes);

  // Runs the decoder once: consumes input from in_buf_[in_pos_, in_end_)
  // (ReadInput refills it) and puts output in out_buf_, then calls Produced.
  virtual absl::Status Step() = 0;
  // Makes input available if none is left. DataLoss at the end of the range.
  absl::Status ReadInput();
  // Records that the last Step left `n` bytes at the start of out_buf_.
  // DataLoss if the content grows past content_size.
  absl::Status Produced(size_t n);
  // OK if the content was read exactly: the first half of CheckFinished.
  absl::Status CheckContentRead() const;
  // True once every byte of the range has been given to the decoder.
  bool InputConsumed() const { return in_pos_ == in_end_ && next_in_ == end_in_; }

  std::string in_buf_;
  size_t in_pos_ = 0, in_end_ = 0;
  std::string out_buf_;

 private:
  // Steps until some output is available.
  absl::Status Refill();

  const ByteSource* source_;
  uint64_t next_in_;  // Next source offset to read.
  uint64_t end_in_;
  uint64_t content_size_;
  size_t out_pos_ = 0, out_end_ = 0;
  uint64_t produced_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_STREAM_READER_H_
