// Daemon flags: absl flags (ABSL_FLAG in a main file) on the command line as
// operators write them, GNU style: "--lease-seconds 30", "--lease-seconds=30"
// (absl names flags with underscores and refuses dashes, so the names are
// matched with dashes read as underscores; the underscore spelling works
// too), a bool flag alone ("--plaintext") or with "=true|false". Each value
// is parsed by its flag's own type, so the types below validate: a refusal
// names the flag as written and says why. Also the --help text, generated
// from the flags' help strings and defaults.
#ifndef PATCHFARM_COMMON_FLAGS_H_
#define PATCHFARM_COMMON_FLAGS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace patchfarm {

// Sets the flags defined in files whose path ends with `defined_in` from
// argv[1..]. Returns whether --help was given (nothing else is then parsed).
// InvalidArgument naming the flag for an unknown flag (or one defined
// elsewhere), a missing value, a value its type refuses, and for any
// argument that is not a flag.
absl::StatusOr<bool> ParseFlags(int argc, char** argv, absl::string_view defined_in);

// One line per flag defined in files ending with `defined_in`, in name
// order: "  --name  help (default: value)"; the default is left out for bool
// flags and for flags whose help already speaks of it.
std::string FlagsHelp(absl::string_view defined_in);

// What a daemon's main does with its flags: describes it as `program` with
// the `usage` synopsis (ending in a newline) and the flags of `defined_in`.
struct DaemonFlags {
  std::string program, usage, defined_in;
  // Parses argv. On --help prints the usage and the flags to stdout and
  // returns 0; on an error, UsageError's 2; else nullopt: go on.
  std::optional<int> Parse(int argc, char** argv) const;
  // Prints "<program>: <error>", the usage and the flags to stderr; returns 2.
  int UsageError(absl::string_view error) const;
};

// A byte count, as common/byte_size.h parses it ("512M", "8G", "1048576").
struct ByteSize {
  uint64_t bytes = 0;
};
bool AbslParseFlag(absl::string_view text, ByteSize* size, std::string* error);
std::string AbslUnparseFlag(ByteSize size);

// A whole number in [kMin, kMax]. Name it with an alias before ABSL_FLAG,
// whose type argument cannot hold a comma.
template <int64_t kMin, int64_t kMax>
struct Count {
  int64_t value = kMin;
};
bool ParseCount(absl::string_view text, int64_t min, int64_t max, int64_t* value,
                std::string* error);
template <int64_t kMin, int64_t kMax>
bool AbslParseFlag(absl::string_view text, Count<kMin, kMax>* count, std::string* error) {
  return ParseCount(text, kMin, kMax, &count->value, error);
}
template <int64_t kMin, int64_t kMax>
std::string AbslUnparseFlag(Count<kMin, kMax> count) {
  return std::to_string(count.value);
}

// A time in seconds, fractions allowed ("30", "0.5"): finite, above zero
// and at most a year.
struct Seconds {
  absl::Duration duration = absl::Seconds(1);
};
bool AbslParseFlag(absl::string_view text, Seconds* seconds, std::string* error);
std::string AbslUnparseFlag(Seconds seconds);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_FLAGS_H_
