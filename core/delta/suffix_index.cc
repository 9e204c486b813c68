#include "core/delta/suffix_index.h"

#include <divsufsort.h>
#include <divsufsort64.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/base/optimization.h"
#include "core/delta/parallel_suffix_sort.h"

namespace patchfarm {
namespace {

constexpr int kBuckets = 1 << 16;

// Below this, threads cost more than they save.
constexpr uint64_t kParallelSortMinBytes = uint64_t{1} << 20;

inline int Bucket(const char* p) {
  return (static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]);
}

// Search starts a comparison past the bytes it knows to match only from this
// many on (see there).
constexpr int64_t kMinSkip = 256;

// CommonPrefix of a and b, given that their first `from` bytes are equal, that
// also sets *a_first to whether a is smaller at the first difference (false if
// there is none).
inline int64_t ComparePrefix(const char* a, const char* b, int64_t from, int64_t max_len,
                             bool* a_first) {
  int64_t i = from;
  while (i + 8 <= max_len) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) {
      const int shift = __builtin_ctzll(x ^ y) & ~7;  // The first differing byte's.
      *a_first = ((x >> shift) & 0xff) < ((y >> shift) & 0xff);
      return i + shift / 8;
    }
    i += 8;
  }
  while (i < max_len && a[i] == b[i]) ++i;
  *a_first = i < max_len && static_cast<uint8_t>(a[i]) < static_cast<uint8_t>(b[i]);
  return i;
}

}  // namespace

int64_t CommonPrefix(const char* a, const char* b, int64_t max_len) {
  int64_t i = 0;
  while (i + 8 <= max_len) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    if (x != y) return i + __builtin_ctzll(x ^ y) / 8;
    i += 8;
  }
  while (i < max_len && a[i] == b[i]) ++i;
  return i;
}

absl::StatusOr<SuffixIndex> SuffixIndex::Build(absl::string_view old, int threads) {
  SuffixIndex index;
  index.old_ = old;
  if (old.empty()) return index;
  const auto* text = reinterpret_cast<const sauchar_t*>(old.data());
  if (old.size() < static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    index.sa32_.resize(old.size() * sizeof(int32_t));
    auto* sa = reinterpret_cast<int32_t*>(index.sa32_.data());
    if (threads > 1 && old.size() >= kParallelSortMinBytes) {
      absl::Status sorted = ParallelSuffixSort(old, sa, threads);
      if (!sorted.ok()) return sorted;
    } else if (divsufsort(text, sa, static_cast<saidx_t>(old.size())) != 0) {
      return absl::ResourceExhaustedError("suffix sort of the old file failed");
    }
  } else {
    index.sa64_.resize(old.size());
    if (divsufsort64(text, index.sa64_.data(), static_cast<saidx64_t>(old.size())) != 0) {
      return absl::ResourceExhaustedError("suffix sort of the old file failed");
    }
  }
  index.BuildBuckets();
  return index;
}

absl::string_view SuffixIndex::Serialize() const { return sa32_; }

absl::StatusOr<SuffixIndex> SuffixIndex::Deserialize(absl::string_view old, std::string bytes) {
  if (old.empty() || old.size() >= static_cast<uint64_t>(std::numeric_limits<int32_t>::max()) ||
      bytes.size() != old.size() * sizeof(int32_t)) {
    return absl::DataLossError("cached suffix array does not fit the old file");
  }
  SuffixIndex index;
  index.old_ = old;
  index.sa32_ = std::move(bytes);
  const int32_t n = static_cast<int32_t>(old.size());
  for (const int32_t* v = index.sa32(); v < index.sa32() + n; ++v) {
    if (*v < 0 || *v >= n) return absl::DataLossError("cached suffix array out of range");
  }
  index.BuildBuckets();
  return index;
}

void SuffixIndex::BuildBuckets() {
  const int64_t n = static_cast<int64_t>(old_.size());
  std::vector<int64_t> count(kBuckets, 0);
  for (int64_t i = 0; i + 1 < n; ++i) ++count[Bucket(old_.data() + i)];
  bucket_.assign(kBuckets + 1, 0);
  const int last_byte = static_cast<uint8_t>(old_[n - 1]);
  int64_t at = 0;
  for (int p = 0; p < kBuckets; ++p) {
    // The 1-byte suffix sorts just before every longer suffix with its first byte.
    if ((p & 0xff) == 0 && (p >> 8) == last_byte) ++at;
    bucket_[p] = at;
    at += count[p];
  }
  bucket_[kBuckets] = at;
}

// The binary search for the needle among the suffixes of old, as it always
// was, minus the bytes every comparison would find equal (Manber and Myers,
// "Suffix arrays: a new method for on-line string searches", 1993). lcp_lo and
// lcp_hi are the common prefix lengths of the needle with the suffixes at lo
// and hi: exact once that bound has been compared, lower bounds before. The
// suffixes between lo and hi sort between them, so they share the needle's
// first min(lcp_lo, lcp_hi) bytes and a comparison may start there. Each step
// makes the decision a whole memcmp would make, so every step, and the length
// and position returned, are those of the plain search; only the bytes read
// shrink, from up to the match length at every step to about the match length
// once. The exception: while one bound keeps a short common prefix and steps
// land among suffixes with long ones (the needle sorts just past several
// copies of a long block), each such step still compares up to the match
// length. An LCP array would remove it, at 4 to 8 more bytes per old byte.
//
// Two details keep the common case, short matches, as fast as the plain
// search. A comparison that starts at a known prefix length cannot begin
// before the previous step has finished; one that starts at 0 runs ahead on
// the predicted branch as the plain search's memcmp does, so short known
// prefixes (below kMinSkip) are not skipped. And each step prefetches the old
// bytes of the two suffixes the next step may compare and the four suffix
// array entries the step after may read.
template <typename Index>
int64_t SuffixIndex::Search(const Index* sa, absl::string_view needle,
                            int64_t* pos) const {
  const int64_t n = static_cast<int64_t>(old_.size());
  const int64_t m = static_cast<int64_t>(needle.size());
  const char* const text = old_.data();
  const char* const pattern = needle.data();
  int64_t lo = 0, hi = n - 1;  // Inclusive range of the suffix array.
  int64_t lcp_lo = 0, lcp_hi = 0;
  if (m >= 2) {
    int b = Bucket(pattern);
    if (bucket_[b] < bucket_[b + 1]) {
      lo = bucket_[b];
      hi = bucket_[b + 1] - 1;
      lcp_lo = lcp_hi = 2;  // Every suffix of the bucket starts with those 2 bytes.
    }
  }
  // The common prefix of the needle and the suffix at `start`, given that
  // their first `known` bytes match, and in *before whether the suffix sorts
  // first: smaller at the first difference, or a proper prefix of the needle.
  // The clamp only matters for a wrong-order array from Deserialize, where
  // `known` may not hold: it keeps reads within old.
  auto compare = [&](int64_t start, int64_t known, bool* before) {
    const int64_t limit = std::min(n - start, m);
    const int64_t same =
        ComparePrefix(text + start, pattern, std::min(known, limit), limit, before);
    if (same == limit) *before = limit < m;
    return same;
  };
  while (hi - lo >= 2) {
    const int64_t mid = lo + (hi - lo) / 2;
    const int64_t start = sa[mid];
    __builtin_prefetch(text + start);
    // Two steps ahead: the entries the next step may read were fetched by
    // this step's predecessor, so their old bytes can be fetched now, and the
    // entries of the step after.
    const int64_t left = lo + (mid - lo) / 2, right = mid + (hi - mid) / 2;
    __builtin_prefetch(text + sa[left]);
    __builtin_prefetch(text + sa[right]);
    __builtin_prefetch(&sa[lo + (left - lo) / 2]);
    __builtin_prefetch(&sa[left + (mid - left) / 2]);
    __builtin_prefetch(&sa[mid + (right - mid) / 2]);
    __builtin_prefetch(&sa[right + (hi - right) / 2]);
    const int64_t skip = std::min(lcp_lo, lcp_hi);
    bool before;
    int64_t same;
    if (ABSL_PREDICT_FALSE(skip >= kMinSkip)) {
      same = compare(start, skip, &before);
    } else {
      same = compare(start, 0, &before);
    }
    if (before) {
      lo = mid;
      lcp_lo = same;
    } else {
      hi = mid;
      lcp_hi = same;
    }
  }
  bool unused;
  const int64_t x = compare(sa[lo], lcp_lo, &unused);
  const int64_t y = compare(sa[hi], lcp_hi, &unused);
  if (x >= y) {
    *pos = sa[lo];
    return x;
  }
  *pos = sa[hi];
  return y;
}

int64_t SuffixIndex::LongestMatch(absl::string_view needle, int64_t* pos) const {
  *pos = 0;
  if (old_.empty() || needle.empty()) return 0;
  return sa32_.empty() ? Search(sa64_.data(), needle, pos) : Search(sa32(), needle, pos);
}

}  // namespace patchfarm
