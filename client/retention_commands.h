// The retention side of the `patchfarm` CLI: `policy` (a product's window,
// chain retention and size gate) and `status --sizes` (what an update from
// each older version downloads over the packages a publish would offer),
// and the size tables `publish --dry-run` prints too.
#ifndef PATCHFARM_CLIENT_RETENTION_COMMANDS_H_
#define PATCHFARM_CLIENT_RETENTION_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/farm_flags.h"
#include "core/release/policy.h"
#include "publisher/publisher.h"

namespace patchfarm {

// policy --coordinator HOST:PORT --product P [--window N] [--keep-chain N]
//        [--keep-days D] [--max-patch-ratio R]
// Sets the flags given (none: prints the policy in effect) and prints it.
absl::Status PolicyCommand(const farm_cli::Flags& f);

// status --coordinator HOST:PORT --product P --sizes [--json]
absl::Status SizesCommand(const farm_cli::Flags& f);

// The size table: per channel and platform, each older version's download
// beside the newest's full package, and the packages the gate kept off.
std::string SizesText(const std::vector<UpdateSize>& sizes, const std::vector<GatedPackage>& gated);
// The same as one JSON object: {"policy": ..., "sizes": [...], "not_offered": [...]}.
std::string SizesJson(const std::string& product, const Policy& policy,
                      const std::vector<UpdateSize>& sizes, const std::vector<GatedPackage>& gated);

}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_RETENTION_COMMANDS_H_
