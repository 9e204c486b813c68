// The patch verbs of the `patchfarm` CLI: diff, apply, info and recover. Each
// takes the words after the verb and returns the process exit code (0 success,
// 1 failure, 2 usage error), printing results to stdout and errors to stderr.
// Files are handled here; directories and tree packages by tree_commands.h.
#ifndef PATCHFARM_CLIENT_DELTA_COMMANDS_H_
#define PATCHFARM_CLIENT_DELTA_COMMANDS_H_

#include <string>
#include <vector>

namespace patchfarm {

// diff [--level N] [--threads N] [--no-prefix] [--fast-apply] OLD NEW PATCH
// (OLD and NEW both files, or both directories)
int RunDiffCommand(const std::vector<std::string>& args);
// apply OLD PATCH... OUT            (a chain of patches or packages, one pass)
// apply --in-place INSTALL_DIR PACKAGE...
int RunApplyCommand(const std::vector<std::string>& args);
// info PATCH
int RunInfoCommand(const std::vector<std::string>& args);
// recover INSTALL_DIR               (finish or undo an interrupted in-place apply)
int RunRecoverCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_DELTA_COMMANDS_H_
