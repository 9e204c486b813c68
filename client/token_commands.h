// The `patchfarm token` verb: makes bearer tokens and the lines of the
// coordinator's tokens file, which holds SHA-256 hashes of tokens, never the
// tokens (coordinator/token_auth.h). Takes the words after the verb and
// returns the exit code (0 success, 1 failure, 2 usage error).
//
//   token new --roles ROLES [--comment TEXT] [--out FILE]
//       A new random token (32 bytes, 64 hex digits). With --out it is written
//       to FILE (mode 0600; FILE must not exist) and stdout gets the tokens-file
//       line only; without, stdout gets the token, then the line.
//   token hash --roles ROLES [--comment TEXT] [--token-file FILE]
//       The tokens-file line for an existing token, read from FILE (as clients
//       read it: mode checked) or from the first line of stdin.
//   token convert --in FILE --out NEW_FILE
//       A clear-text tokens file ("<token> <roles> [comment]" lines) converted
//       to hashed lines, written to NEW_FILE (mode 0600; must not exist).
//   token check --tokens FILE
//       Loads FILE as the coordinator does (mode, every line) and prints how
//       many tokens it holds: a check before restarting the coordinator.
#ifndef PATCHFARM_CLIENT_TOKEN_COMMANDS_H_
#define PATCHFARM_CLIENT_TOKEN_COMMANDS_H_

#include <string>
#include <vector>

namespace patchfarm {

int RunTokenCommand(const std::vector<std::string>& args);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_TOKEN_COMMANDS_H_
