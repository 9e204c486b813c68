// patchfarm-farm: the verbs of patchfarm that talk to or run a farm, sign and
// publish sites and manage tokens. Users run them as
// `patchfarm VERB`, which executes this binary (see patchfarm_main.cc).
#include <cstdio>
#include <string>
#include <vector>

#include "client/farm_commands.h"
#include "client/site_commands.h"
#include "client/token_commands.h"
#include "common/malloc_tuning.h"
#include "common/open_file_limit.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs("usage: patchfarm VERB ARGS... (patchfarm --help lists the verbs)\n", stderr);
    return 2;
  }
  patchfarm::TuneMallocForStreaming();
  patchfarm::RaiseOpenFileLimit();
  std::string verb = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (verb == "submit") return patchfarm::RunSubmitCommand(args);
  if (verb == "status") return patchfarm::RunStatusCommand(args);
  if (verb == "request") return patchfarm::RunRequestCommand(args);
  if (verb == "workers") return patchfarm::RunWorkersCommand(args);
  if (verb == "serve") return patchfarm::RunServeCommand(args);
  if (verb == "hotfix") return patchfarm::RunHotfixCommand(args);
  if (verb == "policy") return patchfarm::RunPolicyCommand(args);
  if (verb == "keygen") return patchfarm::RunKeygenCommand(args);
  if (verb == "publish") return patchfarm::RunPublishCommand(args);
  if (verb == "token") return patchfarm::RunTokenCommand(args);
  std::fprintf(stderr, "patchfarm: unknown verb '%s' (patchfarm --help lists the verbs)\n",
               verb.c_str());
  return 2;
}
