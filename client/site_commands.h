// The publishing verbs of the `patchfarm` CLI: keygen and publish.
// Each takes the words after the verb and returns the exit code (0 success,
// 1 failure, 2 usage error).
#ifndef PATCHFARM_CLIENT_SITE_COMMANDS_H_
#define PATCHFARM_CLIENT_SITE_COMMANDS_H_

#include <string>
#include <vector>

namespace patchfarm {

// keygen --out KEYFILE   (writes KEYFILE, mode 0600, and KEYFILE.pub)
int RunKeygenCommand(const std::vector<std::string>& args);
// publish --coordinator HOST:PORT --product P --key KEYFILE --out SITE_DIR
//         [--motd TEXT] [--valid-days N] [--dry-run]
int RunPublishCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_SITE_COMMANDS_H_
