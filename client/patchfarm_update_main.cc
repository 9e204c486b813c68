// patchfarm-update: the `update` verb of patchfarm (update_command.h), which
// `patchfarm update` executes.
#include <cstdio>
#include <string>
#include <vector>

#include "client/update_command.h"
#include "common/malloc_tuning.h"
#include "common/open_file_limit.h"

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "update") {
    std::fputs("usage: patchfarm update ARGS... (patchfarm --help lists the verbs)\n", stderr);
    return 2;
  }
  patchfarm::TuneMallocForPhases();
  patchfarm::RaiseOpenFileLimit();
  return patchfarm::RunUpdateCommand(std::vector<std::string>(argv + 2, argv + argc));
}
