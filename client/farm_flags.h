// Flag parsing and the connection to the coordinator shared by the farm verbs
// of the `patchfarm` CLI (farm_commands.cc, retention_commands.cc). Not
// thread-safe.
#ifndef PATCHFARM_CLIENT_FARM_FLAGS_H_
#define PATCHFARM_CLIENT_FARM_FLAGS_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace patchfarm {
namespace farm_cli {

// --name value pairs, --switches and positional words.
struct Flags {
  std::map<std::string, std::string> values;
  std::set<std::string> switches;
  std::vector<std::string> positional;

  // False if a word is not allowed, a value is missing or a --name is
  // given twice.
  bool Parse(const std::vector<std::string>& args, const std::set<std::string>& with_value,
             const std::set<std::string>& without_value);
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  bool Has(const std::string& name) const { return switches.count(name) != 0; }
};

// Prints the usage line (and the secured-coordinator flags); returns 2.
int Usage(const char* usage);
// Prints "patchfarm: <message>"; returns 1.
int Fail(const absl::Status& status);

// A channel to --coordinator carrying the --token-file's token, over TLS with
// --tls-ca (and --tls-cert/--tls-key for mutual TLS), if given.
absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Flags& f);

// A grpc::ClientContext that gives up on a coordinator that does not answer
// within `seconds` (0: waits as long as it takes).
std::unique_ptr<grpc::ClientContext> Context(int seconds);

// `status` with "<where>: " before its message (OK stays OK).
absl::Status WithWhere(const std::string& where, const absl::Status& status);

// Parses `args` (every verb also takes --token-file, --tls-ca, --tls-cert and
// --tls-key), checks that `required` values and `positional` words are
// there, runs `command` and returns the exit code: 0, 1 (printed error) or 2
// (usage).
int Run(const std::vector<std::string>& args, const char* usage,
        const std::set<std::string>& with_value, const std::set<std::string>& switches,
        const std::vector<std::string>& required, size_t positional,
        absl::Status (*command)(const Flags&));

}  // namespace farm_cli
}  // namespace patchfarm

#endif  // PATCHFARM_CLIENT_FARM_FLAGS_H_
