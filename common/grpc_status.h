// absl::Status <-> grpc::Status. Both use the google.rpc.Code numbering, so
// the conversion is a cast. The only place the two meet.
#ifndef PATCHFARM_COMMON_GRPC_STATUS_H_
#define PATCHFARM_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace patchfarm {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
}

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_GRPC_STATUS_H_
