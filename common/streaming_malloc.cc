#include "common/streaming_malloc.h"

#include <malloc.h>

namespace patchfarm {

void TuneMallocForStreaming() {
  mallopt(M_MMAP_THRESHOLD, 16 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace patchfarm
