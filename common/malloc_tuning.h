// glibc's malloc tuned per kind of process. With glibc's defaults, freeing a
// large buffer raises the mmap and trim thresholds to its size, so that
// later buffers of that size come from the heap and freed space stays
// resident; neither suits our processes.
#ifndef PATCHFARM_COMMON_MALLOC_TUNING_H_
#define PATCHFARM_COMMON_MALLOC_TUNING_H_

namespace patchfarm {

// For the processes that stream blobs over gRPC (the coordinator, the workers
// and the farm verbs of the CLI). Every chunk of a blob sent or received
// (1 MiB) is allocated and freed on gRPC's threads; with the defaults a
// thread arena hands the freed pages back to the kernel (madvise) and the
// next chunk faults them in again: the coordinator spent about half its CPU
// there while it served segment jobs' ranged reads (bench/farm_segments.sh).
// With this, allocations below 16 MiB come from the arenas, which keep up to
// 128 MiB free at their top for the next ones.
// Call once at the start of main, before any other thread runs.
void TuneMallocForStreaming();

// For the one-shot verbs of the CLI (diff, apply), which allocate a few
// large buffers phase by phase (copies of old and new, suffix arrays, model
// tables): fixed thresholds, so that buffers of 128 KiB and more are mapped
// and unmapped whole, and free space over 1 MiB at an arena's top is
// returned. patchfarm diff of two esbuild builds otherwise held 16-20 MB of
// freed memory at its peak (84 against 68 MB resident).
// Call once at the start of main, before any other thread runs.
void TuneMallocForPhases();

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_MALLOC_TUNING_H_
