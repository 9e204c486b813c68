// The plumbing of bounded diff's passes (bounded_diff.cc) and of joining
// segments (segments.cc): exact reads of their sources, the control stream
// kept in a scratch file between the passes (ControlWriter, ControlReader:
// FORMAT.md's method 1 entries), frames of whole sources and of runs of the
// extra stream, and the feed of the diff stream's zstd encoder.
// Not thread-safe, except StreamFeed's own thread.
#ifndef PATCHFARM_CORE_DELTA_BOUNDED_STREAMS_H_
#define PATCHFARM_CORE_DELTA_BOUNDED_STREAMS_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "core/delta/format.h"
#include "core/delta/matcher.h"
#include "core/delta/zstd_codec.h"

namespace patchfarm {

// The pieces in which bounded diff reads, buffers and feeds bytes.
inline constexpr size_t kBoundedPiece = size_t{1} << 20;

// Reads [offset, offset + n) of `source` exactly; FailedPrecondition naming
// `what` ("old", "new") if it comes back short (the file changed).
absl::Status ReadExactly(const ByteSource& source, uint64_t offset, char* buf, size_t n,
                         const char* what);

// Hands every byte of `source` to `fn`, in order, in pieces of at most
// kBoundedPiece. Internal error if it ends early; `fn`'s first error.
absl::Status ForEachPiece(const ByteSource& source,
                          const std::function<absl::Status(absl::string_view)>& fn);

// The table entry of the frame `writer` finished, of `raw_size` bytes.
StreamExtent ExtentOf(const ZstdStreamWriter& writer, uint64_t raw_size);

// Compresses every byte of `raw` into one frame written to `out`; its entry.
absl::StatusOr<StreamExtent> CompressSource(const ByteSource& raw, const ZstdOptions& zstd,
                                            ByteSink* out);

// Compresses `raw` (an extra stream) into frames written back to back to
// `out`, at most `max_frames`: runs of 1 MiB pieces that zstd's fastest level
// cannot shrink by 2% (fresh random or already compressed assets) in frames
// of their own at level 1, which stores them as well as level 19 does without
// its slow search; the rest at zstd.level. Incompressible runs shorter than 4
// MiB (longer ones if the frames would be too many) stay with their
// neighbours. Returns the frames' entries, in order.
absl::StatusOr<std::vector<StreamExtent>> CompressInRuns(const ByteSource& raw,
                                                         const ZstdOptions& zstd,
                                                         size_t max_frames, ByteSink* out);

// An empty zstd frame (content size 0, checksum), and its entry.
absl::StatusOr<std::string> EmptyFrame(StreamExtent* extent);

// Where bounded matching puts its ops, in new's order: `diff_len` bytes
// against old at `old_pos`, then `extra_len` bytes of new's own.
class OpSink {
 public:
  virtual ~OpSink() = default;
  virtual absl::Status Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len) = 0;
};

// Keeps the ops in memory, with their positions in new.
class OpCollector : public OpSink {
 public:
  absl::Status Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len) override;
  std::vector<DeltaOp>& ops() { return ops_; }

 private:
  std::vector<DeltaOp> ops_;
  int64_t new_pos_ = 0;
};

// Writes control entries for the ops to `out`, counting what the streams
// will hold.
class ControlWriter : public OpSink {
 public:
  explicit ControlWriter(ByteSink* out) : out_(out), encoder_(&buf_, /*sparse=*/false) {}
  absl::Status Add(uint64_t old_pos, uint64_t diff_len, uint64_t extra_len) override;
  absl::Status Flush();
  uint64_t ops() const { return ops_; }
  uint64_t raw_bytes() const { return raw_bytes_; }
  uint64_t diff_bytes() const { return diff_bytes_; }
  uint64_t extra_bytes() const { return extra_bytes_; }

 private:
  ByteSink* out_;
  std::string buf_;
  ControlEncoder encoder_;  // Into buf_.
  uint64_t ops_ = 0, raw_bytes_ = 0, diff_bytes_ = 0, extra_bytes_ = 0;
};

// Reads the varints of a control stream back from a source, in pieces.
class ControlReader {
 public:
  explicit ControlReader(const ByteSource* source) : source_(source) {}
  // The next varint; Internal error for a malformed stream.
  absl::StatusOr<uint64_t> Next();
  // Bytes of the source taken so far.
  uint64_t position() const { return offset_ - (end_ - at_); }

 private:
  const ByteSource* source_;
  std::string buf_;
  size_t at_ = 0, end_ = 0;
  uint64_t offset_ = 0;
};

// Feeds a ZstdStreamWriter, on a thread of its own when asked, through a
// queue of a few pieces.
class StreamFeed : public ByteSink {
 public:
  StreamFeed(ZstdStreamWriter* writer, bool threaded);
  ~StreamFeed() override { Close().IgnoreError(); }

  // Blocks while the queue is full. The writer's first error, if any.
  absl::Status Append(absl::string_view data) override;
  // Waits until every piece is written; the writer's first error, if any.
  absl::Status Close();

 private:
  static constexpr size_t kQueuedPieces = 4;
  void Loop();

  ZstdStreamWriter* writer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  bool closed_ = false;
  absl::Status status_;
  std::thread thread_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_BOUNDED_STREAMS_H_
