#include "updater/marker.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file.h"
#include "core/tree/tree_path.h"

namespace patchfarm {

std::string Marker::Get(const std::string& key) const {
  auto it = fields.find(key);
  return it == fields.end() ? "" : it->second;
}

absl::StatusOr<Marker> ReadMarker(const std::string& path) {
  Marker marker;
  auto file = MappedFile::Open(path);
  if (!file.ok()) {
    if (absl::IsNotFound(file.status())) return marker;
    return file.status();
  }
  for (absl::string_view line :
       absl::StrSplit((*file)->data(), '\n', absl::SkipEmpty())) {
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos)
      return absl::DataLossError(absl::StrCat(path, ": bad line"));
    marker.fields[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
  }
  return marker;
}

absl::StatusOr<std::string> EncodeMarker(const Marker& marker) {
  std::string out;
  for (const auto& [key, value] : marker.fields) {
    if (key.find_first_of("=\n") != std::string::npos ||
        value.find('\n') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("marker field ", ShortPath(key),
                       ": a key holds '=' or a newline, or its value a newline"));
    }
    absl::StrAppend(&out, key, "=", value, "\n");
  }
  return out;
}

}  // namespace patchfarm
