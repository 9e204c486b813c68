#include "core/tree/journal.h"

#include <charconv>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

constexpr char kHeader[] = "patchfarm journal v1";

// An octal permission (at most 0777).
bool ParseMode(absl::string_view text, uint32_t* mode) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *mode, 8);
  return ec == std::errc() && ptr == end && *mode <= 0777;
}

// Percent-encodes bytes that would break the line format.
std::string Escape(absl::string_view path) {
  std::string out;
  for (unsigned char c : path) {
    if (c <= 0x20 || c == '%' || c >= 0x7f) {
      absl::StrAppendFormat(&out, "%%%02x", c);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

absl::StatusOr<std::string> Unescape(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    int value = 0;
    if (i + 2 >= text.size() ||
        !absl::SimpleHexAtoi(text.substr(i + 1, 2), &value)) {
      return absl::DataLossError("journal: bad escape");
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

absl::Status Bad(absl::string_view line) {
  return absl::DataLossError(absl::StrCat("journal: bad line '", line, "'"));
}

}  // namespace

std::string EncodeJournal(const Journal& journal) {
  std::string out = absl::StrCat(kHeader, "\nstate ", journal.committed ? "committed" : "prepared",
                                 "\n");
  for (const JournalOp& op : journal.ops) {
    std::string path = Escape(op.path);
    switch (op.kind) {
      case JournalOp::Kind::kRemove:
        absl::StrAppend(&out, "remove ", op.id, " ", path, "\n");
        break;
      case JournalOp::Kind::kRemoveDirectory:
        absl::StrAppendFormat(&out, "rmdir %o %s\n", op.old_mode, path);
        break;
      case JournalOp::Kind::kMakeDirectory:
        absl::StrAppend(&out, "mkdir ", path, "\n");
        break;
      case JournalOp::Kind::kReplace:
        absl::StrAppend(&out, "replace ", op.id, " ", op.existed ? 1 : 0, " ", path, "\n");
        break;
      case JournalOp::Kind::kChmod:
        absl::StrAppendFormat(&out, "%s %o %o %s\n", op.directory ? "chmod-dir" : "chmod",
                              op.old_mode, op.new_mode, path);
        break;
    }
  }
  absl::StrAppend(&out, "end ", DigestToHex(Sha256Of(out)), "\n");
  return out;
}

absl::StatusOr<Journal> DecodeJournal(absl::string_view text) {
  size_t end = text.rfind("end ");
  if (end == absl::string_view::npos || text.back() != '\n' ||
      (end > 0 && text[end - 1] != '\n') ||
      text.substr(end + 4, text.size() - end - 5) != DigestToHex(Sha256Of(text.substr(0, end)))) {
    return absl::DataLossError("journal: incomplete or corrupt");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text.substr(0, end), '\n', absl::SkipEmpty());
  if (lines.size() < 2 || lines[0] != kHeader) return absl::DataLossError("journal: bad header");
  Journal journal;
  if (lines[1] == "state committed") {
    journal.committed = true;
  } else if (lines[1] != "state prepared") {
    return Bad(lines[1]);
  }
  for (size_t i = 2; i < lines.size(); ++i) {
    std::vector<absl::string_view> f = absl::StrSplit(lines[i], ' ');
    JournalOp op;
    bool ok = true;
    size_t path_field = f.size() - 1;
    if (f[0] == "remove" && f.size() == 3) {
      op.kind = JournalOp::Kind::kRemove;
      ok = absl::SimpleAtoi(f[1], &op.id);
    } else if (f[0] == "rmdir" && f.size() == 3) {
      op.kind = JournalOp::Kind::kRemoveDirectory;
      ok = ParseMode(f[1], &op.old_mode);
    } else if (f[0] == "mkdir" && f.size() == 2) {
      op.kind = JournalOp::Kind::kMakeDirectory;
    } else if (f[0] == "replace" && f.size() == 4 && (f[2] == "0" || f[2] == "1")) {
      op.kind = JournalOp::Kind::kReplace;
      op.existed = f[2] == "1";
      ok = absl::SimpleAtoi(f[1], &op.id);
    } else if ((f[0] == "chmod" || f[0] == "chmod-dir") && f.size() == 4) {
      op.kind = JournalOp::Kind::kChmod;
      op.directory = f[0] == "chmod-dir";
      ok = ParseMode(f[1], &op.old_mode) && ParseMode(f[2], &op.new_mode);
    } else {
      ok = false;
    }
    if (!ok) return Bad(lines[i]);
    PF_ASSIGN_OR_RETURN(op.path, Unescape(f[path_field]));
    if (!ValidateTreePath(op.path).ok()) return Bad(lines[i]);
    journal.ops.push_back(std::move(op));
  }
  return journal;
}

}  // namespace patchfarm
