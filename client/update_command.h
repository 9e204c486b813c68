// The updater's verb of the `patchfarm` CLI, in a binary of its own
// (patchfarm-update: the updater, curl and the tree apply, no gRPC nor
// RocksDB), which `patchfarm update` executes: what a player's machine runs
// stays small.
#ifndef PATCHFARM_CLIENT_UPDATE_COMMAND_H_
#define PATCHFARM_CLIENT_UPDATE_COMMAND_H_

#include <string>
#include <vector>

namespace patchfarm {

// update --index URL --pubkey KEYFILE.pub --install DIR [--check] [--platform X]
// Returns the exit code: 0 success, 1 failure, 2 usage error.
int RunUpdateCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_UPDATE_COMMAND_H_
