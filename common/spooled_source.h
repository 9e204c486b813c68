// A ByteSource that keeps a copy of what it reads from another (a remote
// blob) in a scratch file, and serves later reads of those bytes from there.
// The farm's segment jobs read the same ranges of old and new twice (to match
// them, then to code the streams): with this, the second read stays on the
// worker's disk instead of going to the coordinator again.
//
// Reads of less than kMinSpooledBytes that miss go to the source alone (the
// remote source caches small reads itself). A read that is partly kept takes
// the kept bytes from the front of it and the rest from the source. Kept
// copies stop growing at `max_spooled_bytes`; later misses go to the source.
// If the scratch file fails (a full disk), every later read goes to the
// source: a failing disk costs reads, never a read's result.
// Thread-safe.
#ifndef PATCHFARM_COMMON_SPOOLED_SOURCE_H_
#define PATCHFARM_COMMON_SPOOLED_SOURCE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "common/byte_io.h"
#include "common/file.h"

namespace patchfarm {

class SpooledSource : public ByteSource {
 public:
  static constexpr size_t kMinSpooledBytes = size_t{64} << 10;

  // `source` must outlive this. The scratch file is made in `scratch_dir` and
  // removed with this object.
  static absl::StatusOr<std::unique_ptr<SpooledSource>> Create(const ByteSource* source,
                                                               const std::string& scratch_dir,
                                                               uint64_t max_spooled_bytes);

  uint64_t size() const override { return source_->size(); }
  absl::StatusOr<size_t> ReadAt(uint64_t offset, char* buf, size_t n) const override;

  // Bytes served from the scratch file so far.
  uint64_t bytes_reread() const;

 private:
  struct Kept {
    uint64_t end;          // Source offsets [key, end) are kept,
    uint64_t spool_begin;  // from here in the scratch file.
  };

  SpooledSource(const ByteSource* source, std::unique_ptr<ScratchFile> spool,
                uint64_t max_spooled_bytes)
      : source_(source), spool_(std::move(spool)), max_spooled_bytes_(max_spooled_bytes) {}
  // Copies the kept bytes from `offset` on (up to n) into buf; returns how
  // many, stopping at the first byte not kept. REQUIRES: mu_ held.
  absl::StatusOr<size_t> ReadKept(uint64_t offset, char* buf, size_t n) const;

  const ByteSource* source_;
  const std::unique_ptr<ScratchFile> spool_;
  const uint64_t max_spooled_bytes_;
  mutable std::mutex mu_;
  mutable std::map<uint64_t, Kept> kept_;  // By source offset; ranges may overlap.
  mutable uint64_t bytes_reread_ = 0;
  mutable bool failed_ = false;  // The scratch file failed once: not used again.
};

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_SPOOLED_SOURCE_H_
