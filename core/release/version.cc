#include "core/release/version.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

bool IsNumber(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Numbers compare by value (any length), below any non-number; non-numbers
// compare as bytes.
int CompareIdentifiers(absl::string_view a, absl::string_view b) {
  bool an = IsNumber(a), bn = IsNumber(b);
  if (an && bn) {
    while (a.size() > 1 && a[0] == '0') a.remove_prefix(1);
    while (b.size() > 1 && b[0] == '0') b.remove_prefix(1);
    if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  } else if (an != bn) {
    return an ? -1 : 1;
  }
  int c = a.compare(b);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

}  // namespace

int CompareVersions(absl::string_view a, absl::string_view b) {
  a = a.substr(0, a.find('+'));
  b = b.substr(0, b.find('+'));
  size_t ad = a.find('-'), bd = b.find('-');
  std::vector<absl::string_view> x = absl::StrSplit(a.substr(0, ad), '.');
  std::vector<absl::string_view> y = absl::StrSplit(b.substr(0, bd), '.');
  for (size_t i = 0; i < std::max(x.size(), y.size()); ++i) {
    int c = CompareIdentifiers(i < x.size() ? x[i] : "0", i < y.size() ? y[i] : "0");
    if (c != 0) return c;
  }
  bool a_pre = ad != absl::string_view::npos, b_pre = bd != absl::string_view::npos;
  if (a_pre != b_pre) return a_pre ? -1 : 1;  // A pre-release comes before its release.
  if (!a_pre) return 0;
  std::vector<absl::string_view> p = absl::StrSplit(a.substr(ad + 1), '.');
  std::vector<absl::string_view> q = absl::StrSplit(b.substr(bd + 1), '.');
  for (size_t i = 0; i < std::min(p.size(), q.size()); ++i) {
    int c = CompareIdentifiers(p[i], q[i]);
    if (c != 0) return c;
  }
  return p.size() == q.size() ? 0 : p.size() < q.size() ? -1 : 1;
}

absl::Status ValidateName(absl::string_view what, absl::string_view value) {
  if (value.empty() || value.size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be 1-128 characters"));
  }
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '+' &&
        c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " ", ShortPath(value), " may hold only letters, digits and . _ + -"));
    }
  }
  if (value.front() == '.') {  // ".", "..", and a site's .cache or .published.
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", ShortPath(value), " may not start with '.'"));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
