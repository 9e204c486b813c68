// Byte sources and sinks: the seams through which the engine reads patches and
// writes outputs without knowing whether they are files, memory or sockets.
// Implementations are not thread-safe unless they say so.
#ifndef PATCHFARM_COMMON_BYTE_IO_H_
#define PATCHFARM_COMMON_BYTE_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// Random-access input of known size.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Reads up to `n` bytes at `offset` into `buf`. Returns the count read, which is
  // less than `n` only at the end of the source (0 at or past the end).
  virtual absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const = 0;
};

// A ByteSource over memory the caller keeps alive. Safe for concurrent reads.
class StringSource : public ByteSource {
 public:
  explicit StringSource(absl::string_view data) : data_(data) {}
  uint64_t size() const override { return data_.size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

 private:
  absl::string_view data_;
};

// The bytes [offset, offset + length) of another source, which the caller keeps
// alive. Reads past the slice's end return 0. Thread-safe if `base` is.
class SliceSource : public ByteSource {
 public:
  SliceSource(const ByteSource* base, uint64_t offset, uint64_t length)
      : base_(base), offset_(offset), length_(length) {}
  uint64_t size() const override { return length_; }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

 private:
  const ByteSource* base_;
  uint64_t offset_;
  uint64_t length_;
};

// The concatenation of other sources, which the caller keeps alive; their
// sizes are taken once, at construction. FailedPrecondition if a part comes
// back short (it shrank). Thread-safe if the parts are.
class ConcatSource : public ByteSource {
 public:
  explicit ConcatSource(std::vector<const ByteSource*> parts);
  uint64_t size() const override { return ends_.empty() ? 0 : ends_.back(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

 private:
  std::vector<const ByteSource*> parts_;
  std::vector<uint64_t> ends_;  // ends_[i]: the end of part i in the whole.
};

// Sequential output.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual absl::Status Append(absl::string_view data) = 0;
};

// A ByteSink appending to a string the caller owns.
class StringSink : public ByteSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  absl::Status Append(absl::string_view data) override {
    out_->append(data.data(), data.size());
    return absl::OkStatus();
  }

 private:
  std::string* out_;
};

// Appends every byte of `from` to `to`, in pieces of at most 1 MiB.
// FailedPrecondition if `from` comes back short; errors of either.
absl::Status CopySource(const ByteSource& from, ByteSink* to);

// Counts what passes through to another sink, which the caller keeps alive.
class CountingSink : public ByteSink {
 public:
  explicit CountingSink(ByteSink* out) : out_(out) {}
  absl::Status Append(absl::string_view data) override {
    bytes_ += data.size();
    return out_->Append(data);
  }
  uint64_t bytes() const { return bytes_; }

 private:
  ByteSink* out_;
  uint64_t bytes_ = 0;
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_BYTE_IO_H_
