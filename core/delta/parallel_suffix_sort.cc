// The stages below follow divsufsort.c of libdivsufsort 2.0.1, Copyright (c)
// 2003-2008 Yuta Mori, under the MIT licence (the Debian package's
// copyright file has its text); what is ours is the split of the bucket
// sorts over threads.
#include "core/delta/parallel_suffix_sort.h"

#include <divsufsort.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

extern "C" {
// libdivsufsort 2.0.1's internal sorts (divsufsort_private.h there), exported
// by the shared library. sssort sorts the B* substrings in [first, last) by
// their bytes from `depth` on (PA: the B* positions; buf: scratch space);
// trsort finishes the order of the B* suffixes from their ranks in ISA.
void sssort(const sauchar_t* Td, const saidx_t* PA, saidx_t* first, saidx_t* last, saidx_t* buf,
            saidx_t bufsize, saidx_t depth, saidx_t n, saint_t lastsuffix);
void trsort(saidx_t* ISA, saidx_t* SA, saidx_t n, saidx_t depth);
}

namespace patchfarm {
namespace {

constexpr int kAlphabet = 256;

// Bucket bounds by first byte (A) and by first two bytes (B, and B* in the
// same table at the transposed index, as divsufsort lays them out).
class Buckets {
 public:
  int32_t& A(int c) { return a_[c]; }
  int32_t& B(int c0, int c1) { return b_[c1 << 8 | c0]; }
  int32_t& BStar(int c0, int c1) { return b_[c0 << 8 | c1]; }

 private:
  std::vector<int32_t> a_ = std::vector<int32_t>(kAlphabet);
  std::vector<int32_t> b_ = std::vector<int32_t>(kAlphabet * kAlphabet);
};

struct Range {
  int32_t first, last;
};

// Sorts the B* substrings of every bucket in `ranges` (disjoint ranges of sa)
// on up to `threads` threads, each with its own part of `buf` as scratch
// space. A thread that cannot be started leaves its share to the others.
void SortBuckets(const uint8_t* t, const int32_t* pab, int32_t* sa, int32_t n, int32_t m,
                 std::vector<Range> ranges, int32_t* buf, int32_t buf_size, int threads) {
  std::sort(ranges.begin(), ranges.end(), [](const Range& x, const Range& y) {
    return x.last - x.first > y.last - y.first;
  });
  // No more threads than buckets: each one's buffer share is then larger.
  threads = static_cast<int>(std::min<size_t>(threads, std::max<size_t>(ranges.size(), 1)));
  std::atomic<size_t> next{0};
  const int32_t share = buf_size / threads;
  auto work = [&](int k) {
    for (size_t r; (r = next.fetch_add(1)) < ranges.size();) {
      const Range& range = ranges[r];
      sssort(t, pab, sa + range.first, sa + range.last, buf + int64_t{k} * share, share, 2, n,
             sa[range.first] == m - 1);
    }
  };
  std::vector<std::thread> helpers;
  helpers.reserve(threads - 1);
  for (int k = 1; k < threads; ++k) {
    try {
      helpers.emplace_back(work, k);
    } catch (...) {  // std::system_error, or std::bad_alloc for its state.
      break;
    }
  }
  work(0);
  for (std::thread& helper : helpers) helper.join();
}

// Stage 1: sorts the B* suffixes and leaves them at their places in sa, with
// the buckets' bounds set for stage 2. Returns their count.
int32_t SortTypeBStar(const uint8_t* t, int32_t* sa, int32_t n, int threads, Buckets* bk) {
  // Count the suffixes of each type by first byte(s); put B* positions at the
  // end of sa.
  int32_t m = n;
  for (int32_t i = n - 1, c0 = t[n - 1], c1; 0 <= i;) {
    do {
      ++bk->A(c1 = c0);
    } while (0 <= --i && (c0 = t[i]) >= c1);
    if (0 <= i) {
      ++bk->BStar(c0, c1);
      sa[--m] = i;
      for (--i, c1 = c0; 0 <= i && (c0 = t[i]) <= c1; --i, c1 = c0) ++bk->B(c0, c1);
    }
  }
  m = n - m;
  // Bucket start (A) and end (B*) points.
  for (int32_t c0 = 0, i = 0, j = 0; c0 < kAlphabet; ++c0) {
    const int32_t after_a = i + bk->A(c0);
    bk->A(c0) = i + j;
    i = after_a + bk->B(c0, c0);
    for (int c1 = c0 + 1; c1 < kAlphabet; ++c1) {
      j += bk->BStar(c0, c1);
      bk->BStar(c0, c1) = j;
      i += bk->B(c0, c1);
    }
  }
  if (m == 0) return m;

  // B* suffixes by their first two bytes: sa[0, m) gets indexes into pab.
  int32_t* pab = sa + n - m;
  int32_t* isab = sa + m;
  for (int32_t i = m - 2; 0 <= i; --i) {
    const int32_t p = pab[i];
    sa[--bk->BStar(t[p], t[p + 1])] = i;
  }
  const int32_t last = pab[m - 1];
  sa[--bk->BStar(t[last], t[last + 1])] = m - 1;

  // Each bucket's B* substrings, in the order divsufsort visits them.
  std::vector<Range> ranges;
  for (int32_t c0 = kAlphabet - 2, j = m, i; 0 < j; --c0) {
    for (int32_t c1 = kAlphabet - 1; c0 < c1; j = i, --c1) {
      i = bk->BStar(c0, c1);
      if (1 < j - i) ranges.push_back({i, j});
    }
  }
  SortBuckets(t, pab, sa, n, m, std::move(ranges), sa + m, n - 2 * m, threads);

  // Ranks of the B* substrings (equal ones share a rank; sssort left each
  // group of equals as a non-negative head and negated members).
  for (int32_t i = m - 1; 0 <= i; --i) {
    if (0 <= sa[i]) {
      const int32_t j = i;
      do {
        isab[sa[i]] = i;
      } while (0 <= --i && 0 <= sa[i]);
      sa[i + 1] = i - j;
      if (i <= 0) break;
    }
    const int32_t j = i;
    do {
      isab[sa[i] = ~sa[i]] = j;
    } while (sa[--i] < 0);
    isab[sa[i]] = j;
  }
  trsort(isab, sa, m, 1);

  // The B* suffixes in sorted order (from their inverse in isab).
  for (int32_t i = n - 1, j = m, c0 = t[n - 1], c1; 0 <= i;) {
    for (--i, c1 = c0; 0 <= i && (c0 = t[i]) >= c1; --i, c1 = c0) {
    }
    if (0 <= i) {
      const int32_t p = i;
      for (--i, c1 = c0; 0 <= i && (c0 = t[i]) <= c1; --i, c1 = c0) {
      }
      sa[isab[--j]] = (p == 0 || 1 < p - i) ? p : ~p;
    }
  }

  // Bucket end points; each bucket's B* suffixes moved to its end.
  bk->B(kAlphabet - 1, kAlphabet - 1) = n;
  for (int32_t c0 = kAlphabet - 2, k = m - 1; 0 <= c0; --c0) {
    int32_t i = bk->A(c0 + 1) - 1;
    for (int32_t c1 = kAlphabet - 1; c0 < c1; --c1) {
      const int32_t start = i - bk->B(c0, c1);
      bk->B(c0, c1) = i;
      const int32_t first = bk->BStar(c0, c1);
      for (i = start; first <= k; --i, --k) sa[i] = sa[k];
    }
    bk->BStar(c0, c0 + 1) = i - bk->B(c0, c0) + 1;
    bk->B(c0, c0) = i;
  }
  return m;
}

// Stage 2 reads the text before each suffix its scans meet, at random
// places: they start loading those of the entry this many entries ahead, so
// that the loads overlap instead of each waiting for memory (2.0 -> 1.1 s
// on 150 MB of a game pack). An entry ahead that is not final yet costs a
// wasted load, never a wrong result.
constexpr int32_t kPrefetchAhead = 64;

__attribute__((always_inline)) inline void PrefetchBefore(const uint8_t* t, int32_t n,
                                                          int32_t s) {
  if (s > 1 && s <= n) __builtin_prefetch(t + s - 2);
}

// Stage 2: the order of the type-B suffixes from the B* ones (right to left),
// then of the type-A suffixes from those (left to right).
void ConstructSuffixArray(const uint8_t* t, int32_t* sa, int32_t n, int32_t m, Buckets* bk) {
  if (0 < m) {
    for (int32_t c1 = kAlphabet - 2; 0 <= c1; --c1) {
      int32_t* k = nullptr;
      int32_t c2 = -1;
      for (int32_t *i = sa + bk->BStar(c1, c1 + 1), *j = sa + bk->A(c1 + 1) - 1; i <= j; --j) {
        if (j - i >= kPrefetchAhead) PrefetchBefore(t, n, j[-kPrefetchAhead]);
        int32_t s = *j;
        if (0 < s) {
          *j = ~s;
          const int32_t c0 = t[--s];
          if (0 < s && t[s - 1] > c0) s = ~s;
          if (c0 != c2) {
            if (0 <= c2) bk->B(c2, c1) = static_cast<int32_t>(k - sa);
            k = sa + bk->B(c2 = c0, c1);
          }
          *k-- = s;
        } else {
          *j = ~s;
        }
      }
    }
  }
  int32_t c2 = t[n - 1];
  int32_t* k = sa + bk->A(c2);
  *k++ = t[n - 2] < c2 ? ~(n - 1) : n - 1;
  for (int32_t *i = sa, *j = sa + n; i < j; ++i) {
    if (j - i > kPrefetchAhead) PrefetchBefore(t, n, i[kPrefetchAhead]);
    int32_t s = *i;
    if (0 < s) {
      const int32_t c0 = t[--s];
      if (s == 0 || t[s - 1] < c0) s = ~s;
      if (c0 != c2) {
        bk->A(c2) = static_cast<int32_t>(k - sa);
        k = sa + bk->A(c2 = c0);
      }
      *k++ = s;
    } else {
      *i = ~s;
    }
  }
}

}  // namespace

absl::Status ParallelSuffixSort(absl::string_view text, int32_t* sa, int threads) {
  if (text.size() >= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError("parallel suffix sort: text of 2 GiB or more");
  }
  const auto* t = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(text.size());
  if (n == 0) return absl::OkStatus();
  // sssort and trsort are internals of the library: another version may
  // take other arguments. Short texts need no stages.
  static const bool known_library = std::strcmp(divsufsort_version(), "2.0.1") == 0;
  if (n < 3 || !known_library) {
    return divsufsort(t, sa, n) == 0 ? absl::OkStatus()
                                     : absl::ResourceExhaustedError("suffix sort failed");
  }
  Buckets buckets;
  const int32_t m = SortTypeBStar(t, sa, n, std::max(threads, 1), &buckets);
  ConstructSuffixArray(t, sa, n, m, &buckets);
  return absl::OkStatus();
}

}  // namespace patchfarm
