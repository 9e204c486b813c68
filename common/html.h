// Escaping text for HTML pages (the status page, the download fragment).
// Stateless; thread-safe.
#ifndef PATCHFARM_COMMON_HTML_H_
#define PATCHFARM_COMMON_HTML_H_

#include <string>

#include "absl/strings/string_view.h"

namespace patchfarm {

// `text` with &, <, > and " replaced by entities.
inline std::string HtmlEscape(absl::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_HTML_H_
