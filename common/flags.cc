#include "common/flags.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/byte_size.h"

namespace patchfarm {
namespace {

std::string Dashed(absl::string_view name) { return absl::StrReplaceAll(name, {{"_", "-"}}); }

// The flags of `defined_in` by their dashed names.
std::map<std::string, absl::CommandLineFlag*> FlagsOf(absl::string_view defined_in) {
  std::map<std::string, absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::EndsWith(flag->Filename(), defined_in)) flags[Dashed(name)] = flag;
  }
  return flags;
}

}  // namespace

absl::StatusOr<bool> ParseFlags(int argc, char** argv, absl::string_view defined_in) {
  const std::map<std::string, absl::CommandLineFlag*> flags = FlagsOf(defined_in);
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return true;
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", arg.substr(0, 64), "'"));
    }
    const size_t equals = arg.find('=');
    const std::string name = Dashed(arg.substr(2, equals == absl::string_view::npos ? arg.npos : equals - 2));
    auto it = flags.find(name);
    if (it == flags.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag '--", name.substr(0, 64), "'"));
    }
    absl::CommandLineFlag* flag = it->second;
    std::string value;
    if (equals != absl::string_view::npos) {
      value = std::string(arg.substr(equals + 1));
    } else if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      // absl puts "Illegal value '...' specified for flag '...'; " before the type's reason.
      if (absl::StartsWith(error, "Illegal value") && error.find("; ") != std::string::npos) {
        error = error.substr(error.find("; ") + 2);
      }
      return absl::InvalidArgumentError(absl::StrCat("bad value for --", name, ": '",
                                                     absl::string_view(value).substr(0, 64), "'",
                                                     error.empty() ? "" : ": ", error));
    }
  }
  return false;
}

std::string FlagsHelp(absl::string_view defined_in) {
  std::string help;
  for (const auto& [name, flag] : FlagsOf(defined_in)) {
    const std::string default_value = flag->DefaultValue();
    // Bools default to off; a help text that speaks of its default says it best.
    absl::StrAppend(&help, "  --", name, "  ", flag->Help(),
                    default_value.empty() || flag->IsOfType<bool>() ||
                            absl::StrContains(flag->Help(), "default")
                        ? ""
                        : absl::StrCat(" (default: ", default_value, ")"),
                    "\n");
  }
  return help;
}

std::optional<int> DaemonFlags::Parse(int argc, char** argv) const {
  absl::StatusOr<bool> help = ParseFlags(argc, argv, defined_in);
  if (!help.ok()) return UsageError(help.status().message());
  if (!*help) return std::nullopt;
  std::printf("%s%s", usage.c_str(), FlagsHelp(defined_in).c_str());
  return 0;
}

int DaemonFlags::UsageError(absl::string_view error) const {
  std::fprintf(stderr, "%s: %.*s\n%s%s", program.c_str(), static_cast<int>(error.size()),
               error.data(), usage.c_str(), FlagsHelp(defined_in).c_str());
  return 2;
}

bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error) {
  if (ParseByteSize(text, &size->bytes)) return true;
  *error = "not a size in bytes (a count, or with K, M, G or T), above 0";
  return false;
}

std::string AbslUnparseFlag(ByteSize size) {
  for (const auto& [shift, unit] : {std::pair<int, char>{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}}) {
    if (size.bytes != 0 && size.bytes % (uint64_t{1} << shift) == 0) {
      return absl::StrCat(size.bytes >> shift, std::string(1, unit));
    }
  }
  return std::to_string(size.bytes);
}

bool ParseCount(absl::string_view text, int64_t min, int64_t max, int64_t* value,
                std::string* error) {
  int64_t parsed = 0;
  if (!absl::SimpleAtoi(text, &parsed) || parsed < min || parsed > max) {
    *error = absl::StrCat("not a whole number from ", min, " to ", max);
    return false;
  }
  *value = parsed;
  return true;
}

bool AbslParseFlag(absl::string_view text, Seconds* seconds, std::string* error) {
  double parsed = 0;
  constexpr double kYear = 365.0 * 24 * 3600;
  if (!absl::SimpleAtod(text, &parsed) || !std::isfinite(parsed) || parsed <= 0 || parsed > kYear) {
    *error = "not a number of seconds above 0 and at most a year";
    return false;
  }
  seconds->duration = absl::Seconds(parsed);
  return true;
}

std::string AbslUnparseFlag(Seconds seconds) {
  return absl::StrCat(absl::ToDoubleSeconds(seconds.duration));
}

}  // namespace patchfarm
