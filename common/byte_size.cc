#include "common/byte_size.h"

#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace patchfarm {

bool ParseByteSize(absl::string_view text, uint64_t* bytes) {
  if (absl::EndsWithIgnoreCase(text, "ib")) {
    text.remove_suffix(2);
  } else if (absl::EndsWithIgnoreCase(text, "b")) {
    text.remove_suffix(1);
  }
  int shift = 0;
  if (!text.empty()) {
    switch (absl::ascii_toupper(static_cast<unsigned char>(text.back()))) {
      case 'K': shift = 10; break;
      case 'M': shift = 20; break;
      case 'G': shift = 30; break;
      case 'T': shift = 40; break;
    }
    if (shift != 0) text.remove_suffix(1);
  }
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value == 0) return false;
  if (value > (uint64_t{1} << (62 - shift))) return false;
  *bytes = value << shift;
  return true;
}

uint64_t PhysicalMemoryBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

}  // namespace patchfarm
