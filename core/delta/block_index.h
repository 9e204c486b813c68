// Content-defined chunks of a file and an index of the old file's chunks by
// content: what bounded-memory diff (bounded_diff.h) uses to find, for each
// segment of new, the regions of old it draws from, wherever they lie.
//
// Chunks are cut by a gear hash (FastCDC's rolling hash: each byte shifts the
// hash left and adds a random constant for the byte, so a cut depends on the
// last 64 bytes only): a chunk of at least min_length bytes ends after the
// first byte where the top `bits` bits of the hash are zero, or at max_length.
// Equal content is cut at the same places once both sides have passed a cut,
// whatever its offset, so moved data is found after at most one chunk.
// Chunk identity is a 64-bit hash of its bytes; a collision only costs patch
// size (a region of old is read that does not help), never correctness.
//
// The index is an open-addressing table of (hash, old offset) pairs of fixed
// size chosen up front, so memory is bounded whatever the old size: the chunk
// size grows with old so that the chunks fit half the table. Where equal
// chunks repeat, the first one is kept. Not thread-safe while adding; Find is
// safe for concurrent readers.
#ifndef PATCHFARM_CORE_DELTA_BLOCK_INDEX_H_
#define PATCHFARM_CORE_DELTA_BLOCK_INDEX_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/byte_io.h"

namespace patchfarm {

class Chunker {
 public:
  // Chunks of 2^avg_log bytes on average (min a quarter, max four times that).
  explicit Chunker(int avg_log);

  // The length of the chunk starting at data[0] given the `n` bytes that
  // follow; 0 if it cannot tell yet (no cut within n bytes, n below the
  // maximum, and `at_end` false: more input is coming).
  size_t Next(const uint8_t* data, size_t n, bool at_end) const;
  size_t max_length() const { return max_; }

  // The 64-bit content hash of a chunk (never 0).
  static uint64_t Hash(const uint8_t* data, size_t n);

 private:
  size_t min_, max_;
  int shift_;  // Cut where hash >> shift_ == 0.
};

class BlockIndex {
 public:
  // An empty index for an old file of `old_size` bytes using at most
  // `max_bytes` of table (at least 64 KiB is used). Chunking starts afresh
  // at every multiple of `part_bytes` (> 0) of old, so that the chunks of
  // each such part can be found apart (by different workers at once:
  // index_parts.h) and joined into the index AddAll makes.
  BlockIndex(uint64_t old_size, uint64_t max_bytes, uint64_t part_bytes);

  // Indexes old, part after part, read through `old` in pieces of at most
  // 4 MiB plus a chunk, handing every byte once and in order to `observe` (to
  // hash old on the way).
  absl::Status AddAll(const ByteSource& old,
                      const std::function<void(absl::string_view)>& observe);
  // Indexes the part of old that starts at `begin` (a multiple of
  // part_bytes() below old's size) as AddAll does. InvalidArgument for
  // another `begin`.
  absl::Status AddPart(const ByteSource& old, uint64_t begin,
                       const std::function<void(absl::string_view)>& observe);
  // Where a chunk of `hash` starts in old, or -1.
  int64_t Find(uint64_t hash) const;

  const Chunker& chunker() const { return chunker_; }
  uint64_t memory_bytes() const { return table_.size() * sizeof(Slot); }
  uint64_t slots() const { return table_.size(); }
  int chunk_log() const { return avg_log_; }
  uint64_t part_bytes() const { return part_bytes_; }
  // What the index's content depends on besides old: its table, chunk and
  // part size (part of its cache key, IndexStore in diff.h).
  std::string Parameters() const;
  // Parameters() of BlockIndex(old_size, max_bytes, part_bytes), without
  // making its table.
  static std::string ParametersFor(uint64_t old_size, uint64_t max_bytes, uint64_t part_bytes);

  // The index as bytes, to cache it or send a part of it: its chunks as
  // (hash, offset) pairs of little-endian 64-bit words, by offset.
  std::string Serialize() const;
  // Adds the chunks of bytes that Serialize gave for an index of the same old
  // size and Parameters, whole or of one part; parts restored one after the
  // other, in order, make the index AddAll makes (a chunk equal to one of an
  // earlier part is not added: the first is kept). DataLoss for other bytes
  // (a length not a multiple of 16, a zero hash, an offset past old or not
  // after the one before, in these bytes or those restored before, the same
  // hash twice, more chunks than the table takes); the index is then empty.
  absl::Status Restore(absl::string_view bytes);

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty.
    uint64_t pos = 0;
  };
  // The slot that holds `hash` once added at `pos`: a new one, or the one
  // of an equal chunk added before; nullptr if the table is full.
  const Slot* Add(uint64_t hash, uint64_t pos);
  uint64_t TableCapacity() const;  // Chunks the table takes (three quarters of its slots).

  std::vector<Slot> table_;
  uint64_t max_bytes_;
  uint64_t mask_;
  uint64_t used_ = 0;
  uint64_t old_size_;
  uint64_t part_bytes_;
  uint64_t restored_end_ = 0;  // One past the last offset Restore added.
  int avg_log_;
  Chunker chunker_;
};

// The chunk size BlockIndex picks: 2^log, at least 256 bytes.
int BlockIndexAvgLog(uint64_t old_size, uint64_t max_bytes);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_BLOCK_INDEX_H_
