// Anchors: the long exact matches between old and new, found without a suffix
// sort, so that matching (matcher.h's MatchAnchored: whole-file diff and
// bounded diff's windows) only sorts the part of old that no anchor covers,
// and only one copy of what old repeats. Between two builds of the same
// program 15-60% of old lies under anchors of 4 KiB or more, and sorting it
// was up to half of the diff's time.
//
// How: both files are cut into content-defined chunks (block_index.h's
// Chunker, 256 bytes on average); each chunk of new found in old (by content
// hash, then compared) is extended both ways byte by byte, and the scan of new
// goes on after the extended match. Anchors shorter than a minimum are
// dropped. Stateless functions; thread-safe.
#ifndef PATCHFARM_CORE_DELTA_ANCHORS_H_
#define PATCHFARM_CORE_DELTA_ANCHORS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace patchfarm {

struct Anchor {
  int64_t new_pos = 0;
  int64_t old_pos = 0;
  int64_t length = 0;  // new[new_pos, +length) == old[old_pos, +length).
};

// A chunk of old whose bytes appear earlier in old.
struct Repeat {
  int64_t old_pos = 0;
  int64_t length = 0;
  int64_t first_pos = 0;  // Where they appear first.
};

// The exact matches of at least `min_length` bytes that the chunks find,
// sorted by new_pos, disjoint in new (their old ranges may overlap). If
// `repeats` is given, it gets old's chunks whose bytes appear whole earlier
// in old, by old_pos.
std::vector<Anchor> FindAnchors(absl::string_view old_data, absl::string_view new_data,
                                int64_t min_length, std::vector<Repeat>* repeats = nullptr);

// The bytes of old under at least one of `anchors`.
uint64_t AnchoredOldBytes(const std::vector<Anchor>& anchors);

// Runs of repeated chunks shorter than this stay in the suffix sort: each
// run removed may cut a match in two ops.
inline constexpr int64_t kMinRepeatRun = 4096;

// Old without the bytes under anchors, nor runs of kMinRepeatRun or more of
// `repeats` whose first copies lie under no anchor: what the suffix sort
// still indexes. A match into a removed repeat is found in its first copy
// (the same bytes); packages repeat whole files (a third of prettier's tar),
// which the sort spends the most time on (libdivsufsort's trsort).
class ReducedOld {
 public:
  ReducedOld(absl::string_view old_data, const std::vector<Anchor>& anchors,
             const std::vector<Repeat>& repeats = {});

  const std::string& bytes() const { return bytes_; }
  // Where bytes()[pos] lies in old; `*left` gets the bytes from there to the
  // end of its piece (a match found in bytes() is only one in old that far).
  int64_t ToOld(int64_t pos, int64_t* left) const;

 private:
  struct Piece {
    int64_t reduced_pos;  // Start in bytes_.
    int64_t old_pos;      // Start in old.
  };
  std::string bytes_;
  std::vector<Piece> pieces_;  // By reduced_pos; pieces_[i] ends where i + 1 starts.
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_ANCHORS_H_
