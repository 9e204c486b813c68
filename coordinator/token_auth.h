// Bearer tokens with roles, checked on every RPC by the gRPC adapters. Over
// TLS the server (server.h) also refuses a call whose token is unknown while
// it processes the call's metadata, before it reads the request.
//
// The tokens file (patchfarm-coordinator --tokens FILE; mode 0600 or 0400, see
// common/secret_file.h) holds the SHA-256 of each token, never the token, one
// per line:
//   sha256:<64 hex digits> <role>[,<role>...] [comment]
// roles submit, request, worker and admin (admin may do everything); '#'
// starts a comment line. `patchfarm token new`, `token hash` and `token
// convert` (client/token_commands.h) write such lines. Clients keep sending
// the token itself, "authorization: Bearer <token>" (common/grpc_channel.h);
// Check hashes it and compares the hash with every entry in constant time
// (CRYPTO_memcmp, no early exit), so neither the file nor the time a call
// takes gives a token away. A line in the older clear-text form
// "<token> <roles> [comment]" is refused when the file is loaded.
//
// Thread-safe after Load or Parse.
#ifndef PATCHFARM_COORDINATOR_TOKEN_AUTH_H_
#define PATCHFARM_COORDINATOR_TOKEN_AUTH_H_

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/sha256.h"
#include "grpcpp/server_context.h"

namespace patchfarm {

enum class Role { kSubmit, kRequest, kWorker, kAdmin };

// Tokens are at least this long (`patchfarm token new` makes 64 hex digits).
inline constexpr size_t kMinTokenLength = 16;

class TokenAuth {
 public:
  // Reads the tokens file at `path` (ReadSecretFile: PermissionDenied, naming
  // the file and its mode, if others may read it) and parses it as Parse does.
  static absl::StatusOr<std::unique_ptr<TokenAuth>> Load(const std::string& path);
  // InvalidArgument, naming the line, for a token in clear text (the message
  // says how to convert it, and does not repeat the token), a malformed hash,
  // a missing or unknown role, a token given twice; or if there is no token.
  static absl::StatusOr<std::unique_ptr<TokenAuth>> Parse(absl::string_view text);

  // OK if the call's token holds one of `roles` (or admin). UNAUTHENTICATED
  // without a known token, PERMISSION_DENIED without the role.
  grpc::Status Check(const grpc::ServerContext* context,
                     std::initializer_list<Role> roles) const;
  // The same for the value of a call's "authorization" header (null if the
  // call has none).
  grpc::Status CheckHeader(const absl::string_view* authorization,
                           std::initializer_list<Role> roles) const;
  // The same for a bare token (the value after "Bearer ").
  grpc::Status CheckToken(absl::string_view token,
                          std::initializer_list<Role> roles) const;
  // How many tokens the file holds.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Digest hash;     // SHA-256 of the token.
    unsigned roles;  // Bit set of Role.
  };
  std::vector<Entry> entries_;
};

// auth->Check(...), or OK when no tokens are configured (auth is null).
inline grpc::Status Authorize(const TokenAuth* auth, const grpc::ServerContext* context,
                              std::initializer_list<Role> roles) {
  return auth == nullptr ? grpc::Status::OK : auth->Check(context, roles);
}

// The tokens-file line for `token`: "sha256:<hex> <roles>", then " <comment>"
// if there is one. InvalidArgument if the token is shorter than
// kMinTokenLength or holds anything but printable ASCII without spaces, if
// `roles` is empty or names an unknown role, or if `comment` spans lines.
absl::StatusOr<std::string> TokenFileLine(absl::string_view token,
                                          absl::string_view roles,
                                          absl::string_view comment);

// Converts a tokens file of the clear-text form to the hashed form: every
// "<token> <roles> [comment]" line becomes TokenFileLine(token, roles,
// comment); comment lines, blank lines and hashed lines stay as they are. The
// result parses (Parse). InvalidArgument naming the line otherwise.
absl::StatusOr<std::string> HashTokensFile(absl::string_view text);

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_TOKEN_AUTH_H_
