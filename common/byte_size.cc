#include "common/byte_size.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

std::optional<uint64_t> CgroupMemoryLimit(absl::string_view proc_self_cgroup,
                                          const std::string& cgroup_root) {
  std::optional<uint64_t> lowest;
  // Reads the limit in `file` ("max", or a count of bytes) into `lowest`.
  auto consider = [&](const std::string& file) {
    std::ifstream in(file);
    std::string text;
    uint64_t limit = 0;
    if (in >> text && absl::SimpleAtoi(text, &limit) && limit > 0 &&
        (!lowest || limit < *lowest)) {
      lowest = limit;
    }
  };
  for (absl::string_view line : absl::StrSplit(proc_self_cgroup, '\n', absl::SkipEmpty())) {
    // hierarchy-ID:controller-list:cgroup-path
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(':', 2));
    if (fields.size() != 3 || fields[2].empty() || fields[2][0] != '/' ||
        absl::StrContains(fields[2], "..")) {
      continue;
    }
    std::string dir, file;
    if (fields[0] == "0" && fields[1].empty()) {  // cgroup v2.
      dir = cgroup_root;
      file = "memory.max";
    } else if (absl::c_linear_search(absl::StrSplit(fields[1], ','), "memory")) {  // v1.
      dir = cgroup_root + "/memory";
      file = "memory.limit_in_bytes";
    } else {
      continue;
    }
    std::string path(fields[2]);
    while (true) {
      consider(absl::StrCat(dir, path == "/" ? "" : path, "/", file));
      if (path == "/") break;
      path = path.substr(0, std::max<size_t>(path.rfind('/'), 1));
    }
  }
  return lowest;
}

uint64_t MemoryLimitBytes() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  uint64_t bytes =
      pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
  std::ifstream in("/proc/self/cgroup");
  const std::string cgroups((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::optional<uint64_t> limit = CgroupMemoryLimit(cgroups, "/sys/fs/cgroup");
  if (limit && *limit > 0 && (bytes == 0 || *limit < bytes)) bytes = *limit;
  return bytes;
}

}  // namespace patchfarm
