// patchfarm: the command-line entry point. Dispatches on the verb.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/delta_commands.h"

namespace {

constexpr char kHelp[] =
    "usage: patchfarm VERB ARGS...\n"
    "\n"
    "  diff OLD NEW PATCH      make a patch that turns OLD into NEW\n"
    "       [--fast-apply] [--level N] [--threads N] [--no-prefix]\n"
    "  apply OLD PATCH OUT     rebuild NEW as OUT (verified; OUT appears only on success)\n"
    "  info PATCH              print a patch's header: sizes, digests, streams\n";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string verb = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (verb == "diff") return patchfarm::RunDiffCommand(args);
  if (verb == "apply") return patchfarm::RunApplyCommand(args);
  if (verb == "info") return patchfarm::RunInfoCommand(args);
  std::fprintf(stderr, "patchfarm: unknown verb '%s'\n\n%s", verb.c_str(), kHelp);
  return 2;
}
