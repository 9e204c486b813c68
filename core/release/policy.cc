#include "core/release/policy.h"

#include "absl/strings/str_cat.h"

namespace patchfarm {

absl::Status ValidatePolicy(const Policy& policy) {
  if (policy.cumulative_window < 1 || policy.cumulative_window > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the cumulative window must be 1-1000 versions, not ", policy.cumulative_window));
  }
  if (policy.keep_chain < 1 || policy.keep_chain > 100000) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep-chain must be 1-100000 versions, not ", policy.keep_chain));
  }
  if (policy.keep_days < 0 || policy.keep_days > 36500) {
    return absl::InvalidArgumentError(
        absl::StrCat("keep-days must be 0-36500 days, not ", policy.keep_days));
  }
  // Written so that NaN fails too.
  if (!(policy.max_patch_ratio > 0 && policy.max_patch_ratio <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the maximum patch ratio must be above 0 and at most 1, not ", policy.max_patch_ratio));
  }
  return absl::OkStatus();
}

}  // namespace patchfarm
