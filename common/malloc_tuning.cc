#include "common/malloc_tuning.h"

#include <malloc.h>

namespace patchfarm {

void TuneMallocForStreaming() {
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

void TuneMallocForPhases() {
  // Setting either threshold turns off glibc's dynamic adjustment of both.
  mallopt(M_MMAP_THRESHOLD, 128 << 10);
  mallopt(M_TRIM_THRESHOLD, 1 << 20);
}

}  // namespace patchfarm
