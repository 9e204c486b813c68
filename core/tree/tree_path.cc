#include "core/tree/tree_path.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace patchfarm {

absl::Status ValidateTreePath(absl::string_view path) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("path ", QuotePath(path), ": ", why));
  };
  if (path.empty()) return bad("empty");
  if (path.size() > kMaxTreePathBytes) return bad("too long");
  if (path.find('\0') != absl::string_view::npos) return bad("contains NUL");
  if (path.front() == '/') return bad("absolute paths are not allowed");
  bool first = true;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty()) return bad("empty component");
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
    if (part.size() > kMaxNameBytes) return bad("component too long");
    if (first && part == kStateDirName) return bad("'.patchfarm' is reserved");
    first = false;
  }
  return absl::OkStatus();
}

absl::Status ValidateSymlinkTarget(absl::string_view link_path, absl::string_view target) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("symlink ", QuotePath(link_path), " -> ",
                                                   QuotePath(target), ": ", why));
  };
  if (target.empty()) return bad("empty target");
  if (target.size() > kMaxTreePathBytes) return bad("target too long");
  if (target.find('\0') != absl::string_view::npos) return bad("target contains NUL");
  if (target.front() == '/') return bad("absolute targets are not allowed");
  // ".." only leads: it climbs through the link's own parents, which are real
  // directories of the tree. After a name, which may itself be a symlink of
  // the tree, ".." could climb out ("x/y/.." with y -> ..).
  int depth = PathDepth(link_path) - 1;  // Directories above the link, up to the root.
  bool descended = false;
  for (absl::string_view part : absl::StrSplit(target, '/')) {
    if (part.empty() || part == ".") continue;
    if (part != "..") {
      descended = true;
    } else if (descended) {
      return bad("'..' after a name is not allowed");
    } else if (--depth < 0) {
      return bad("target leaves the tree");
    }
  }
  return absl::OkStatus();
}

absl::string_view ParentPath(absl::string_view path) {
  size_t slash = path.rfind('/');
  return slash == absl::string_view::npos ? absl::string_view() : path.substr(0, slash);
}

int PathDepth(absl::string_view path) {
  if (path.empty()) return 0;
  int depth = 1;
  for (char c : path) depth += c == '/';
  return depth;
}

std::string JoinPath(absl::string_view root, absl::string_view relative) {
  return absl::StrCat(root, "/", relative);
}

std::string QuotePath(absl::string_view path) {
  std::string out = "'";
  for (unsigned char c : path) {
    if (c < 0x20 || c == 0x7f || c == '\\' || c == '\'') {
      absl::StrAppendFormat(&out, "\\x%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('\'');
  return out;
}

absl::Status ValidateHotfixName(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("hotfix name ", ShortPath(name), ": ", why));
  };
  if (name.empty()) return bad("empty");
  if (name.size() > kMaxNameBytes) return bad("longer than 255 bytes");
  if (Utf8Prefix(name, name.size()).size() != name.size()) return bad("not UTF-8");
  if (name.front() == '.') return bad("may not start with '.'");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return bad("holds a control byte");
    if (c == '/' || c == ',' || c == ':') return bad("may not hold '/', ',' or ':'");
  }
  return absl::OkStatus();
}

bool IsTemporaryFileName(absl::string_view name) {
  const size_t at = name.rfind(".tmp-");
  return at != absl::string_view::npos && at != 0 && name.size() - at == 11;
}

absl::Status ValidateNewHotfixName(absl::string_view name) {
  if (absl::Status valid = ValidateHotfixName(name); !valid.ok()) return valid;
  if (IsTemporaryFileName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("hotfix name ", ShortPath(name),
                     ": ends like a temporary file (.tmp-XXXXXX), which updaters remove"));
  }
  if (name.size() == 24 && absl::StartsWith(name, "replace-") &&
      name.find_first_not_of("0123456789abcdef", 8) == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("hotfix name ", ShortPath(name),
                     ": named like the site file of a replacement (replace-<16 hex digits>)"));
  }
  return absl::OkStatus();
}

std::string ShortPath(absl::string_view text) {
  constexpr size_t kShown = 64;
  if (text.size() <= kShown) return QuotePath(text);
  size_t shown = kShown;
  while (shown > 0 && (static_cast<unsigned char>(text[shown]) & 0xc0) == 0x80) --shown;
  return absl::StrCat(QuotePath(text.substr(0, shown)), "... (", text.size(), " bytes)");
}

std::string EscapeControls(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xc2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9f;
    if (c1) {
      absl::StrAppend(&out, "\\xc2\\x", absl::Hex(static_cast<unsigned char>(text[++i]), absl::kZeroPad2));
    } else if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, "\\x", absl::Hex(c, absl::kZeroPad2));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

absl::string_view Utf8Prefix(absl::string_view text, size_t max_bytes) {
  size_t at = 0;
  while (at < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[at]);
    // The character's length and the smallest and largest second byte.
    size_t length = 1;
    unsigned char low = 0x80, high = 0xbf;
    if (c < 0x80) {
      length = 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) low = 0xa0;   // Not overlong.
      if (c == 0xed) high = 0x9f;  // Not a surrogate.
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) low = 0x90;   // Not overlong.
      if (c == 0xf4) high = 0x8f;  // Not above U+10FFFF.
    } else {
      break;
    }
    if (at + length > text.size() || at + length > max_bytes) break;
    bool valid = true;
    for (size_t k = 1; k < length && valid; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[at + k]);
      valid = k == 1 ? next >= low && next <= high : (next & 0xc0) == 0x80;
    }
    if (!valid) break;
    at += length;
  }
  return text.substr(0, std::min(at, max_bytes));
}

}  // namespace patchfarm
