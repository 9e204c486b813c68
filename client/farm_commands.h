// The farm verbs of the `patchfarm` CLI: submit, status, request, workers and
// serve (coordinator and workers in one process). Each takes the words after
// the verb and returns the exit code (0 success, 1 failure, 2 usage error).
#ifndef PATCHFARM_CLIENT_FARM_COMMANDS_H_
#define PATCHFARM_CLIENT_FARM_COMMANDS_H_

#include <string>
#include <vector>

namespace patchfarm {

// submit --coordinator HOST:PORT --product P --platform X --version V
//        [--channel C] [--intermediate] [--wait] PATH
int RunSubmitCommand(const std::vector<std::string>& args);
// status --coordinator HOST:PORT [--product P] [--json]
// status --coordinator HOST:PORT --product P --sizes [--json]
int RunStatusCommand(const std::vector<std::string>& args);
// request --coordinator HOST:PORT --product P --platform X [--channel C]
//         --from A --to B -o PACKAGE
int RunRequestCommand(const std::vector<std::string>& args);
// workers --coordinator HOST:PORT [--drain WORKER_ID]
int RunWorkersCommand(const std::vector<std::string>& args);
// hotfix --coordinator HOST:PORT --product P --platform X --version V
//        [--channel C] PATH...
int RunHotfixCommand(const std::vector<std::string>& args);
// policy --coordinator HOST:PORT --product P [--window N] [--keep-chain N]
//        [--keep-days D] [--max-patch-ratio R]
int RunPolicyCommand(const std::vector<std::string>& args);
// serve --data DIR [--listen HOST:PORT] [--workers N] [--port-file FILE]
int RunServeCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_FARM_COMMANDS_H_
