// The diff model: codes the diff stream (see FORMAT.md, method 3) with context
// mixing instead of zstd. Diff bytes are mostly zero; the non-zero ones sit where
// old holds pointers and displacements that moved, and often repeat the same
// delta. So the model codes, per byte, "zero or not" (one decision per 8 bytes
// inside long zero runs), then the value of a non-zero byte bit by bit, with
// contexts made of the old bytes under it and the recent diff bytes. Encoder and
// decoder run the same model code. Memory: up to 17 or 33 MiB of tables (below),
// all resident, except for an encoder of a short stream (only the pages it
// reaches).
// Objects are single-threaded.
#ifndef PATCHFARM_CORE_DELTA_DIFF_MODEL_H_
#define PATCHFARM_CORE_DELTA_DIFF_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/byte_io.h"
#include "core/delta/cm.h"
#include "core/delta/format.h"

namespace patchfarm {

class DiffModel;

// The model's hashed tables hold 2^hash_bits slots each (8 tables of 4-byte
// slots, plus about 1.3 MiB of small ones): FixedModelBits (format.h) for
// methods 3 to 10, the diff stream's head's for methods 11 and 12
// (SizedModelBits).

// The table size writers of methods 11 and 12 pick for parts of which the
// larger codes `coded_bytes` diff bytes: 2^19 slots (17 MiB of tables) from
// 16 MiB coded, 2^18 from 8 MiB, else 2^17 (4.3 MiB). (2^16 cost the corpus'
// prettier tars 4-6% of their patches, 2^17 2-3%.)
int SizedModelBits(uint64_t coded_bytes);

// Bytes of one model's tables (encoder or decoder) with 2^hash_bits slots.
uint64_t DiffModelBytes(int hash_bits);

// Old bytes past a piece that coders show the model when they code an op in
// pieces: it looks at most 40 bytes ahead (an 8-byte block 32 bytes on, whose
// slots it fetches early), so pieces with this look-ahead (or up to the op's
// end) code the same bits as the op whole.
inline constexpr size_t kDiffModelLookahead = 64;

// The diff bytes from which an encoder's tables are eager (cm.h's Counters:
// written through at once, in huge pages from 2 MiB). A shorter stream
// reaches a fraction of their 4 KiB pages, and only those count in the
// resident set. A decoder's tables are always eager: apply is timed, and its
// memory is bounded by the tables' size.
inline constexpr uint64_t kEagerTablesFromBytes = uint64_t{1} << 20;

// Encodes diff bytes, one op's region at a time, in op order. The model's
// tables are made at the first Encode (an encoder given nothing to code
// allocates none), as are the decoder's at its first Decode.
class DiffModelEncoder {
 public:
  // `coded_bytes`: about how many diff bytes it will code (kEagerTablesFromBytes);
  // the coded bits do not depend on it.
  DiffModelEncoder(int hash_bits, uint64_t coded_bytes);
  ~DiffModelEncoder();
  // Codes diff[0, n); old[0, n) are the old bytes under them.
  void Encode(const uint8_t* old_bytes, const uint8_t* diff, size_t n);
  // The same for a piece of an op: diff[0, lookahead) and old[0, lookahead)
  // are the bytes of the piece and after it within the op (lookahead >= n);
  // diff[0, n) is coded (a block decision may look at the bytes after it).
  // Coding an op in pieces, each with the bytes of the next 64 or up to the
  // op's end, codes the same bits as coding it whole.
  void Encode(const uint8_t* old_bytes, size_t lookahead, const uint8_t* diff, size_t n);
  // Returns the coded stream. The encoder is then spent.
  std::string Finish();

 private:
  const int hash_bits_;
  const bool eager_;
  std::unique_ptr<DiffModel> model_;
  cm::ArithmeticEncoder coder_;
};

// Decodes a stream made by DiffModelEncoder from [offset, offset + length) of a
// ByteSource, reading it in bounded chunks.
class DiffModelDecoder {
 public:
  DiffModelDecoder(const ByteSource* source, uint64_t offset, uint64_t length, int hash_bits);
  ~DiffModelDecoder();
  // Decodes n diff bytes into `diff`. old[0, lookahead) are the old bytes under
  // them and after them within the same op (lookahead >= n).
  absl::Status Decode(const uint8_t* old_bytes, size_t lookahead, uint8_t* diff, size_t n);
  // OK if exactly the whole stream was consumed.
  absl::Status CheckFinished() { return coder_.CheckFinished(); }

 private:
  const int hash_bits_;
  std::unique_ptr<DiffModel> model_;
  cm::ArithmeticDecoder coder_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_DIFF_MODEL_H_
