// The single-file verbs of the `patchfarm` CLI: diff, apply and info. Each takes
// the words after the verb and returns the process exit code (0 success, 1
// failure, 2 usage error), printing results to stdout and errors to stderr.
#ifndef PATCHFARM_CLIENT_DELTA_COMMANDS_H_
#define PATCHFARM_CLIENT_DELTA_COMMANDS_H_

#include <string>
#include <vector>

namespace patchfarm {

// diff [--level N] [--threads N] [--no-prefix] [--fast-apply] OLD NEW PATCH
int RunDiffCommand(const std::vector<std::string>& args);
// apply OLD PATCH OUT
int RunApplyCommand(const std::vector<std::string>& args);
// info PATCH
int RunInfoCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_DELTA_COMMANDS_H_
