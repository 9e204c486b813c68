#include "proto/patchfarm/v1/policy_proto_convert.h"

#include <algorithm>

#include "common/status_macros.h"

namespace patchfarm {

absl::StatusOr<Policy> MergePolicy(const Policy& base, const v1::PolicyRequest& request) {
  Policy policy = base;
  // Range checks before the narrowing: 2^32-1 must not wrap into range.
  auto narrow = [](uint32_t v) { return v > 1000000 ? 1000000 : static_cast<int>(v); };
  if (request.has_cumulative_window()) policy.cumulative_window = narrow(request.cumulative_window());
  if (request.has_keep_chain()) policy.keep_chain = narrow(request.keep_chain());
  if (request.has_keep_days()) policy.keep_days = narrow(request.keep_days());
  if (request.has_max_patch_ratio()) policy.max_patch_ratio = request.max_patch_ratio();
  PF_RETURN_IF_ERROR(ValidatePolicy(policy));
  return policy;
}

v1::PolicyRequest PolicyToRequest(const std::string& product, const Policy& policy) {
  v1::PolicyRequest request;
  request.set_product(product);
  request.set_cumulative_window(static_cast<uint32_t>(policy.cumulative_window));
  request.set_keep_chain(static_cast<uint32_t>(policy.keep_chain));
  request.set_keep_days(static_cast<uint32_t>(policy.keep_days));
  request.set_max_patch_ratio(policy.max_patch_ratio);
  return request;
}

v1::PolicyResponse PolicyToProto(const Policy& policy) {
  v1::PolicyResponse response;
  response.set_cumulative_window(static_cast<uint32_t>(policy.cumulative_window));
  response.set_keep_chain(static_cast<uint32_t>(policy.keep_chain));
  response.set_keep_days(static_cast<uint32_t>(policy.keep_days));
  response.set_max_patch_ratio(policy.max_patch_ratio);
  return response;
}

Policy PolicyFromProto(const v1::PolicyResponse& response) {
  Policy policy;
  if (response.cumulative_window() != 0) {
    policy.cumulative_window = static_cast<int>(std::min<uint32_t>(response.cumulative_window(), 1000000));
  }
  if (response.keep_chain() != 0) {
    policy.keep_chain = static_cast<int>(std::min<uint32_t>(response.keep_chain(), 1000000));
  }
  // keep_days 0 is a real value, but a response without a ratio comes from a
  // coordinator that knew neither field.
  if (response.max_patch_ratio() != 0) {
    policy.keep_days = static_cast<int>(std::min<uint32_t>(response.keep_days(), 1000000));
    policy.max_patch_ratio = response.max_patch_ratio();
  }
  return policy;
}

}  // namespace patchfarm
