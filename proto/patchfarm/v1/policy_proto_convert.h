// Conversion between Policy (core/release/policy.h) and its wire and stored
// form, v1::PolicyRequest / v1::PolicyResponse (farm.proto). Used by the
// coordinator, the publisher and the CLI. Pure functions; thread-safe.
#ifndef PATCHFARM_PROTO_PATCHFARM_V1_POLICY_PROTO_CONVERT_H_
#define PATCHFARM_PROTO_PATCHFARM_V1_POLICY_PROTO_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/release/policy.h"
#include "proto/patchfarm/v1/farm.pb.h"

namespace patchfarm {

// `base` with the fields `request` sets replaced (the product is ignored).
// InvalidArgument (ValidatePolicy) if the result is out of range.
absl::StatusOr<Policy> MergePolicy(const Policy& base, const v1::PolicyRequest& request);

// The request that sets every field to `policy`'s (the stored record).
v1::PolicyRequest PolicyToRequest(const std::string& product, const Policy& policy);

v1::PolicyResponse PolicyToProto(const Policy& policy);
// The policy a response states. Fields a coordinator from before they
// existed leaves at 0 take their defaults; the result is not validated.
Policy PolicyFromProto(const v1::PolicyResponse& response);

}  // namespace patchfarm

#endif  // PATCHFARM_PROTO_PATCHFARM_V1_POLICY_PROTO_CONVERT_H_
