// Random bytes for the delta engine's tests.
#ifndef PATCHFARM_CORE_DELTA_TEST_BYTES_H_
#define PATCHFARM_CORE_DELTA_TEST_BYTES_H_

#include <cstddef>
#include <random>
#include <string>

namespace patchfarm {

// n bytes drawn from `rng`, each below `alphabet` (at most 256).
inline std::string RandomBytes(std::mt19937_64& rng, size_t n, int alphabet = 256) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() % alphabet);
  return s;
}

}  // namespace patchfarm

#endif  // PATCHFARM_CORE_DELTA_TEST_BYTES_H_
