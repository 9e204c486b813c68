// Argument handling shared by the verbs of the `patchfarm` CLI that talk to
// no farm (delta_commands.cc, site_commands.cc, update_command.cc): no gRPC,
// so that patchfarm and patchfarm-update stay small.
#ifndef PATCHFARM_CLIENT_CLI_ARGS_H_
#define PATCHFARM_CLIENT_CLI_ARGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace patchfarm {

// Prints "usage: patchfarm <usage>"; returns 2.
int Usage(const char* usage);
// Prints "patchfarm: <message>"; returns 1.
int Fail(const absl::Status& status);
// --name value pairs and --switches (set to "1") into *out; false on
// anything else, and for a --name given twice.
bool ParseArgs(const std::vector<std::string>& args, const std::set<std::string>& with_value,
               const std::set<std::string>& switches, std::map<std::string, std::string>* out);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_CLI_ARGS_H_
