#include "common/open_file_limit.h"

#include <sys/resource.h>

namespace patchfarm {

void RaiseOpenFileLimit() {
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) return;
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);  // Best effort: the soft limit stays as it was.
}

}  // namespace patchfarm
