// A suffix array of the old file (libdivsufsort) answering "longest prefix of
// this text that occurs in old, and where". Built once per old file, then
// queried by several matcher threads: const methods are thread-safe.
// Memory: 4 bytes per old byte (8 above 2 GiB - 1), plus a 512 KiB bucket table.
#ifndef PATCHFARM_CORE_DELTA_SUFFIX_INDEX_H_
#define PATCHFARM_CORE_DELTA_SUFFIX_INDEX_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// Length of the common prefix of a and b.
int64_t CommonPrefix(const char* a, const char* b, int64_t max_len);

class SuffixIndex {
 public:
  // Indexes `old`, which must outlive the index, sorting it on up to
  // `threads` threads (parallel_suffix_sort.h: from 1 MiB, below 2 GiB).
  // ResourceExhausted if the suffix sort fails.
  static absl::StatusOr<SuffixIndex> Build(absl::string_view old, int threads = 1);

  // The suffix array as bytes, to cache it (IndexStore in diff.h): a view of
  // the index's own array, valid while the index is. Empty for old files of
  // 2 GiB and more, whose index is not cached.
  absl::string_view Serialize() const;
  // An index of `old` from Serialize()'s bytes, which it keeps as its array
  // (no copy), checking that they fit `old` (length and range; a wrong order
  // only costs patch size, never correctness: LongestMatch may then report
  // matches that are not, but its answers stay within old and the needle).
  // DataLoss if they do not.
  static absl::StatusOr<SuffixIndex> Deserialize(absl::string_view old, std::string bytes);

  // Returns the length of the longest prefix of `needle` found in old and sets
  // `*pos` to where it starts (0 and 0 when nothing matches). Among equally
  // long matches the one taken is fixed by the suffix array; patches depend on
  // it, so it must not change. Reads about the match length plus up to a few
  // hundred bytes for each of the log2(old size) steps of a binary search;
  // more only where the needle sorts just past several suffixes that share a
  // long prefix with it (up to the match length for each step among them).
  int64_t LongestMatch(absl::string_view needle, int64_t* pos) const;

 private:
  template <typename Index>
  int64_t Search(const Index* sa, absl::string_view needle, int64_t* pos) const;
  const int32_t* sa32() const { return reinterpret_cast<const int32_t*>(sa32_.data()); }
  void BuildBuckets();

  absl::string_view old_;
  // The suffix array: 4-byte entries in sa32_'s bytes when old is below
  // 2 GiB (the heap's 16-byte alignment, or below 16 bytes libstdc++'s
  // buffer inside the string, 8-byte aligned), else 8-byte ones in sa64_.
  std::string sa32_;
  std::vector<int64_t> sa64_;
  // For each 2-byte prefix p, its suffixes occupy [bucket_[p], bucket_[p + 1])
  // of the suffix array, except the final 1-byte suffix, which no bucket holds.
  std::vector<int64_t> bucket_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_SUFFIX_INDEX_H_
