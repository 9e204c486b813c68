// A cheap similarity index over file contents, to pick a delta source for a new
// file that has no same-path twin (renamed-and-edited, moved, split files).
// Each file is summarised by a bottom-k sketch of content-defined samples: a
// rolling hash over 64-byte windows, sampled where its top 6 bits are zero
// (one position in 64 on average, so insertions shift samples with the
// content), keeping the kSketchSize smallest distinct values. Two files score
// the number of values their sketches share.
//
// A lookup costs at most kSketchSize x kMaxFilesPerValue votes, however many
// files share content: a value is listed for the first kMaxFilesPerValue
// files added with it, and beyond that it is common (licence headers,
// boilerplate, copies) and votes only for those. Candidates are ranked by the
// votes of their uncommon values first, so a renamed file still finds its old
// self among thousands that share its boilerplate; the best few are then
// scored exactly.
// Not thread-safe for Add; Score and BestMatch may run concurrently.
#ifndef PATCHFARM_CORE_TREE_SIMILARITY_H_
#define PATCHFARM_CORE_TREE_SIMILARITY_H_

#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "absl/strings/string_view.h"

namespace patchfarm {

using Sketch = std::vector<uint64_t>;  // Sorted, distinct.

inline constexpr size_t kSketchSize = 1024;

Sketch SketchOf(absl::string_view data);

// SketchOf over data given in pieces, in memory bounded whatever its size
// (a few times kSketchSize values): the same sketch as SketchOf of the
// pieces concatenated.
class SketchBuilder {
 public:
  void Update(absl::string_view piece);
  Sketch Finish();

 private:
  void Trim();

  uint64_t hash_ = 0;
  uint64_t position_ = 0;
  Sketch samples_;  // Unsorted; trimmed to the kSketchSize smallest as it grows.
};

class SimilarityIndex {
 public:
  struct Match {
    uint32_t id = 0;
    uint32_t score = 0;  // Shared sketch values, > 0.
  };

  void Add(uint32_t id, const Sketch& sketch);
  // Shared sketch values between `sketch` and file `id` (0 if never added).
  uint32_t Score(uint32_t id, const Sketch& sketch) const;
  // A file sharing values with `sketch`, if any does: of the kRescored
  // files with the most shared uncommon values (then common ones, then the
  // smallest id), the one with the highest Score (ties: the smallest id).
  // Without common values this is the added file with the highest Score.
  std::optional<Match> BestMatch(const Sketch& sketch) const;

  static constexpr size_t kMaxFilesPerValue = 32;
  static constexpr size_t kRescored = 8;

 private:
  struct Files {
    std::vector<uint32_t> ids;  // The first kMaxFilesPerValue added with the value.
    bool common = false;        // More were added with it.
  };

  std::unordered_map<uint64_t, Files> files_by_value_;
  std::unordered_map<uint32_t, Sketch> sketches_;
};

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_TREE_SIMILARITY_H_
