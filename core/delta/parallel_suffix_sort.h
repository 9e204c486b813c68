// The suffix array of a text below 2 GiB on several threads: libdivsufsort's
// algorithm (Yuta Mori's two-stage sort, version 2.0.1, the Debian package)
// with its costliest step spread over threads, as the library's own OpenMP
// build does (Debian's is built without it).
//
// How divsufsort works: a suffix is of type A if it is greater than the
// suffix after it, else of type B; a type-B suffix followed by a type-A one
// is B*. Stage 1 sorts only the B* suffixes: it buckets them by their first
// two bytes, sorts the B* substrings within each bucket (sssort), then ranks
// them and finishes their order by their ranks (trsort). Stage 2 induces the
// order of every other suffix from theirs in two scans of the array.
// The buckets of stage 1 are independent ranges of the array, each sorted with
// its own share of the free part of the array as a merge buffer: those sorts
// (60-90% of the time on release builds) run on the threads, largest bucket
// first. The rest is serial. sssort and trsort are the library's own
// (exported by libdivsufsort.so.3); this file is the driver around them that
// divsufsort() runs on one thread. The array is the same as divsufsort's (a
// suffix array is unique).
#ifndef PATCHFARM_CORE_DELTA_PARALLEL_SUFFIX_SORT_H_
#define PATCHFARM_CORE_DELTA_PARALLEL_SUFFIX_SORT_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace patchfarm {

// Writes the suffix array of `text` to sa[0, text.size()) (initialised, to
// any values: the sort reads entries ahead of writing them) using up to
// `threads` threads (the caller's among them; fewer if the system starts
// fewer). InvalidArgument if text is 2^31 - 1 bytes or more. With a
// libdivsufsort other than 2.0.1, whose internals may differ, it is
// divsufsort() on one thread.
absl::Status ParallelSuffixSort(absl::string_view text, int32_t* sa, int threads);

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_PARALLEL_SUFFIX_SORT_H_
