// patchfarm: the command-line entry point. Dispatches on the verb.
//
// This binary links only the engine (verbs diff, apply, info, recover), so
// that making and applying patches starts in a few milliseconds and a few MiB
// (gRPC, RocksDB and curl add about 50 shared libraries and 20 MiB resident).
// `update` runs in patchfarm-update (the updater and curl, no gRPC nor
// RocksDB), every other verb in patchfarm-farm; both must lie in the same
// directory as this binary, which is replaced by the one it needs, with the
// same arguments.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "client/delta_commands.h"
#include "client/interrupt.h"
#include "common/malloc_tuning.h"
#include "common/open_file_limit.h"

namespace {

constexpr char kHelp[] =
    "usage: patchfarm VERB ARGS...\n"
    "\n"
    "  diff OLD NEW PATCH        make a patch that turns OLD into NEW (two files, or\n"
    "                            two directories: a tree package)\n"
    "       [--fast-apply] [--level N] [--threads N] [--no-prefix] [--max-memory SIZE]\n"
    "  apply OLD PATCH... OUT    rebuild the newest version as OUT through a chain of\n"
    "                            patches (verified; OUT appears only on success)\n"
    "  apply --in-place INSTALL_DIR PACKAGE...\n"
    "                            update an install atomically (old or new, never a mix)\n"
    "  info PATCH                print a patch's header, or a package's entries\n"
    "  recover INSTALL_DIR       finish or undo an interrupted in-place apply\n"
    "\n"
    "  submit --coordinator HOST:PORT --product P --platform X --version V\n"
    "         [--channel C] [--intermediate] [--wait] PATH\n"
    "                            upload a release build (file or directory) and plan its patches\n"
    "  status --coordinator HOST:PORT [--product P] [--json]\n"
    "  status --coordinator HOST:PORT --product P --sizes [--json]\n"
    "                            what an update from each older version downloads\n"
    "  request --coordinator HOST:PORT --product P --platform X [--channel C]\n"
    "          --from A --to B -o PACKAGE\n"
    "                            a one-off patch between two stored versions\n"
    "  workers --coordinator HOST:PORT [--drain WORKER_ID]\n"
    "  policy --coordinator HOST:PORT --product P [--window N] [--keep-chain N]\n"
    "         [--keep-days D] [--max-patch-ratio R]\n"
    "                            a product's cumulative window (default: the coordinator's --window),\n"
    "                            chain retention (default 100 versions or 365 days, whichever keeps\n"
    "                            more) and size gate (default 0.9 of the full package); no flag: show it\n"
    "  serve --data DIR [--listen HOST:PORT] [--workers N] [--port-file FILE]\n"
    "                            coordinator and workers in one process\n"
    "\n"
    "  keygen --out KEYFILE      an Ed25519 signing key (KEYFILE) and its public half (KEYFILE.pub)\n"
    "  publish --coordinator HOST:PORT --product P --key KEYFILE --out SITE_DIR\n"
    "          [--motd TEXT] [--valid-days N] [--max-memory SIZE] [--dry-run]\n"
    "                            write the product's signed update site\n"
    "  update --index URL --pubkey KEYFILE.pub --install DIR [--check] [--platform X]\n"
    "         [--product P] [--channel C]\n"
    "                            update an install from a published site\n"
    "  hotfix --coordinator HOST:PORT --product P --platform X --version V [--channel C]\n"
    "         [--replace RELATIVE_PATH FILE]... [PATH...]\n"
    "                            files for installs at exactly one version (in <install>/hotfix/)\n"
    "\n"
    "  token new --roles ROLES [--comment TEXT] [--out FILE]\n"
    "                            a new bearer token and its line for the coordinator's --tokens file\n"
    "  token hash --roles ROLES [--comment TEXT] [--token-file FILE]\n"
    "                            the --tokens line (sha256:<hex> ROLES) of a token (stdin by default)\n"
    "  token convert --in FILE --out NEW_FILE\n"
    "                            a clear-text tokens file converted to hashes\n"
    "  token check --tokens FILE check a tokens file as the coordinator loads it\n";

// Replaces this process with the binary `name` from this binary's directory
// (never a search of PATH); returns only on failure, with the exit status.
int ExecSibling(const char* name, char** argv) {
  std::string self(4096, '\0');
  ssize_t n = readlink("/proc/self/exe", self.data(), self.size());
  if (n <= 0 || static_cast<size_t>(n) >= self.size()) {
    std::fprintf(stderr, "patchfarm: cannot find this binary's directory: %s\n",
                 std::strerror(errno));
    return 1;
  }
  self.resize(n);
  std::string sibling = self.substr(0, self.rfind('/') + 1) + name;
  argv[0] = sibling.data();
  execv(sibling.c_str(), argv);
  std::fprintf(stderr, "patchfarm: verb '%s' needs %s: %s\n", argv[1], sibling.c_str(),
               std::strerror(errno));
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::fputs(kHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string verb = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  patchfarm::TuneMallocForPhases();
  patchfarm::RaiseOpenFileLimit();
  if (verb == "diff" || verb == "apply") patchfarm::RemoveTemporariesOnInterrupt("patchfarm");
  if (verb == "diff") return patchfarm::RunDiffCommand(args);
  if (verb == "apply") return patchfarm::RunApplyCommand(args);
  if (verb == "info") return patchfarm::RunInfoCommand(args);
  if (verb == "recover") return patchfarm::RunRecoverCommand(args);
  if (verb == "update") return ExecSibling("patchfarm-update", argv);
  return ExecSibling("patchfarm-farm", argv);
}
