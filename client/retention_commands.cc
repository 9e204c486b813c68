#include "client/retention_commands.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <optional>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/sha256.h"
#include "common/status_macros.h"
#include "proto/patchfarm/v1/policy_proto_convert.h"
#include "proto/patchfarm/v1/farm.grpc.pb.h"
#include "publisher/site_plan.h"
#include "publisher/update_sizes.h"

namespace patchfarm {
namespace {

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string PolicyText(const std::string& product, const v1::PolicyResponse& p) {
  return absl::StrFormat(
      "%s:\n"
      "  cumulative window: the last %u formal versions (for releases submitted from now on)\n"
      "  chain kept: from the last %u formal versions or those of the last %u days, whichever "
      "keeps more\n"
      "  size gate: packages above %g of the full package of the release they make are not "
      "published\n",
      product, p.cumulative_window(), p.keep_chain(), p.keep_days(), p.max_patch_ratio());
}

}  // namespace

absl::Status PolicyCommand(const farm_cli::Flags& f) {
  v1::PolicyRequest request;
  request.set_product(f.Get("--product"));
  for (const auto& [flag, set] :
       std::vector<std::pair<std::string, void (v1::PolicyRequest::*)(uint32_t)>>{
           {"--window", &v1::PolicyRequest::set_cumulative_window},
           {"--keep-chain", &v1::PolicyRequest::set_keep_chain},
           {"--keep-days", &v1::PolicyRequest::set_keep_days}}) {
    if (f.values.count(flag) == 0) continue;
    uint32_t value = 0;
    if (!absl::SimpleAtoi(f.Get(flag), &value)) {
      return absl::InvalidArgumentError(absl::StrCat(flag, " must be a whole number, not '",
                                                     f.Get(flag), "'"));
    }
    (request.*set)(value);
  }
  if (f.values.count("--max-patch-ratio") != 0) {
    double ratio = 0;
    if (!absl::SimpleAtod(f.Get("--max-patch-ratio"), &ratio) || !std::isfinite(ratio)) {
      return absl::InvalidArgumentError(absl::StrCat("--max-patch-ratio must be a number, not '",
                                                     f.Get("--max-patch-ratio"), "'"));
    }
    request.set_max_patch_ratio(ratio);
  }
  PF_ASSIGN_OR_RETURN(auto channel, farm_cli::Connect(f));
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  v1::PolicyResponse response;
  PF_RETURN_IF_ERROR(farm_cli::WithWhere(
      "policy", FromGrpcStatus(coordinator->SetPolicy(farm_cli::Context(60).get(), request, &response))));
  std::printf("%s", PolicyText(request.product(), response).c_str());
  return absl::OkStatus();
}

absl::Status SizesCommand(const farm_cli::Flags& f) {
  PF_ASSIGN_OR_RETURN(auto channel, farm_cli::Connect(f));
  auto coordinator = v1::CoordinatorService::NewStub(channel);
  v1::StatusRequest request;
  request.set_product(f.Get("--product"));
  v1::StatusResponse status;
  PF_RETURN_IF_ERROR(FromGrpcStatus(coordinator->Status(farm_cli::Context(60).get(), request, &status)));
  const Policy policy = PolicyFromProto(status.policy());
  // Full packages as the last publish recorded them; unknown ones neither
  // gate nor offer a way.
  FullSizeFn recorded = [](const v1::ReleaseStatus& r) -> absl::StatusOr<std::optional<uint64_t>> {
    if (r.full_package_size() == 0) return std::optional<uint64_t>();
    return std::optional<uint64_t>(r.full_package_size());
  };
  PF_ASSIGN_OR_RETURN(std::vector<PlatformPlan> plans,
                      PlanSite(status, policy, status.now_unix_seconds(), recorded));
  std::vector<UpdateSize> sizes;
  std::vector<GatedPackage> gated;
  for (const PlatformPlan& plan : plans) {
    std::map<std::string, v1::SiteFile> fulls;
    for (const v1::ReleaseStatus* r : plan.full) {
      Digest digest;
      if (r->full_package_size() == 0 || !ParseDigest(r->full_package_digest(), &digest).ok()) continue;
      v1::SiteFile& file = fulls[r->release_id()];
      file.set_url(FullPackageName(plan.platform, r->release().version()));
      file.set_size(r->full_package_size());
      file.set_sha256(DigestToHex(digest));
    }
    for (UpdateSize& row : UpdateSizes(plan, PreviewPlatform(plan, fulls))) sizes.push_back(std::move(row));
    gated.insert(gated.end(), plan.gated.begin(), plan.gated.end());
  }
  if (f.Has("--json")) {
    std::printf("%s", SizesJson(request.product(), policy, sizes, gated).c_str());
  } else if (plans.empty()) {
    std::printf("%s: no finished formal tree release: nothing to publish yet\n",
                request.product().c_str());
  } else {
    std::printf("%s", SizesText(sizes, gated).c_str());
  }
  return absl::OkStatus();
}

std::string SizesText(const std::vector<UpdateSize>& sizes, const std::vector<GatedPackage>& gated) {
  std::string out;
  std::string group;
  for (const UpdateSize& row : sizes) {
    const std::string here = absl::StrCat(row.channel, " ", row.platform);
    if (here != group) {
      group = here;
      absl::StrAppend(&out, here, ": updates to ", row.newest, ", full package ",
                      row.full_bytes > 0 ? absl::StrCat(row.full_bytes, " bytes")
                                         : std::string("not recorded yet (publish records it)"),
                      "\n");
    }
    absl::StrAppend(&out, "  ", row.version, row.intermediate ? " (test build)" : "", ": ");
    if (!row.reachable) {
      absl::StrAppend(&out, "no way known\n");
      continue;
    }
    absl::StrAppend(&out, row.bytes, " bytes by ", row.way, " (full package ",
                    row.full_bytes > 0 ? absl::StrCat(row.full_bytes, " bytes") : std::string("unknown"),
                    "): ", row.path, "\n");
  }
  for (const GatedPackage& g : gated) {
    absl::StrAppend(&out, "not offered: ", g.channel, "/", g.name, " (", g.from_version, " -> ",
                    g.to_version, ", ", g.bytes, " bytes; the full package of ", g.to_version, " is ",
                    g.full_bytes, " bytes)\n");
  }
  return out;
}

std::string SizesJson(const std::string& product, const Policy& policy,
                      const std::vector<UpdateSize>& sizes, const std::vector<GatedPackage>& gated) {
  std::string out = absl::StrCat(
      "{\n  \"product\": ", JsonString(product), ",\n  \"policy\": {\"cumulative_window\": ",
      policy.cumulative_window, ", \"keep_chain\": ", policy.keep_chain, ", \"keep_days\": ",
      policy.keep_days, ", \"max_patch_ratio\": ", policy.max_patch_ratio, "},\n  \"sizes\": [");
  for (size_t i = 0; i < sizes.size(); ++i) {
    const UpdateSize& r = sizes[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"channel\": ", JsonString(r.channel),
                    ", \"platform\": ", JsonString(r.platform), ", \"version\": ", JsonString(r.version),
                    ", \"intermediate\": ", r.intermediate ? "true" : "false",
                    ", \"newest\": ", JsonString(r.newest), ", \"reachable\": ",
                    r.reachable ? "true" : "false", ", \"bytes\": ", r.bytes,
                    ", \"packages\": ", r.packages, ", \"way\": ", JsonString(r.way),
                    ", \"path\": ", JsonString(r.path), ", \"full_package_bytes\": ", r.full_bytes, "}");
  }
  absl::StrAppend(&out, sizes.empty() ? "" : "\n  ", "],\n  \"not_offered\": [");
  for (size_t i = 0; i < gated.size(); ++i) {
    const GatedPackage& g = gated[i];
    absl::StrAppend(&out, i == 0 ? "\n" : ",\n", "    {\"channel\": ", JsonString(g.channel),
                    ", \"platform\": ", JsonString(g.platform), ", \"name\": ", JsonString(g.name),
                    ", \"from\": ", JsonString(g.from_version), ", \"to\": ", JsonString(g.to_version),
                    ", \"bytes\": ", g.bytes, ", \"full_package_bytes\": ", g.full_bytes, "}");
  }
  absl::StrAppend(&out, gated.empty() ? "" : "\n  ", "]\n}\n");
  return out;
}

}  // namespace patchfarm
