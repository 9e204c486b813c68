// glibc's malloc tuned for the processes that stream blobs over gRPC (the
// coordinator, the workers and the farm verbs of the CLI). Every chunk of a
// blob sent or received (1 MiB) is allocated and freed on gRPC's threads;
// with glibc's defaults (a trim threshold that follows the largest chunk
// freed) a thread arena hands the freed pages back to the kernel (madvise)
// and the next chunk faults them in again: the coordinator spent about half
// its CPU there while it served segment jobs' ranged reads
// (bench/farm_segments.sh). With this, allocations below 16 MiB come from
// the arenas, which keep up to 128 MiB free at their top for the next ones.
#ifndef PATCHFARM_COMMON_STREAMING_MALLOC_H_
#define PATCHFARM_COMMON_STREAMING_MALLOC_H_

namespace patchfarm {

// Call once at the start of main, before any other thread runs.
void TuneMallocForStreaming();

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_STREAMING_MALLOC_H_
