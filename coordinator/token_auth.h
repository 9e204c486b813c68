// Bearer tokens with roles, checked on every RPC by the gRPC adapters. The
// tokens file (patchfarm-coordinator --tokens FILE, mode 600) has one token per
// line: "<token> <role>[,<role>...] [comment]", roles submit, request, worker
// and admin (admin may do everything); '#' starts a comment line. Clients send
// "authorization: Bearer <token>" (common/grpc_channel.h). Thread-safe after
// Load.
#ifndef PATCHFARM_COORDINATOR_TOKEN_AUTH_H_
#define PATCHFARM_COORDINATOR_TOKEN_AUTH_H_

#include <initializer_list>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"

namespace patchfarm {

enum class Role { kSubmit, kRequest, kWorker, kAdmin };

class TokenAuth {
 public:
  static absl::StatusOr<std::unique_ptr<TokenAuth>> Load(const std::string& path);
  static absl::StatusOr<std::unique_ptr<TokenAuth>> Parse(const std::string& text);

  // OK if the call's token holds one of `roles` (or admin). UNAUTHENTICATED
  // without a known token, PERMISSION_DENIED without the role.
  grpc::Status Check(const grpc::ServerContext* context, std::initializer_list<Role> roles) const;

 private:
  std::map<std::string, unsigned> roles_;  // Token -> bit set of roles.
};

// auth->Check(...), or OK when no tokens are configured (auth is null).
inline grpc::Status Authorize(const TokenAuth* auth, const grpc::ServerContext* context,
                              std::initializer_list<Role> roles) {
  return auth == nullptr ? grpc::Status::OK : auth->Check(context, roles);
}

}  // namespace patchfarm

#endif  // PATCHFARM_COORDINATOR_TOKEN_AUTH_H_
