#include "client/cli_args.h"

#include <cstdio>

#include "core/tree/tree_path.h"

namespace patchfarm {

int Usage(const char* usage) {
  std::fprintf(stderr, "usage: patchfarm %s\n", usage);
  return 2;
}

int Fail(const absl::Status& status) {
  // Escaped: messages name paths from packages and text from servers.
  std::fprintf(stderr, "patchfarm: %s\n", EscapeControls(status.message()).c_str());
  return 1;
}

bool ParseArgs(const std::vector<std::string>& args, const std::set<std::string>& with_value,
               const std::set<std::string>& switches, std::map<std::string, std::string>* out) {
  for (size_t i = 0; i < args.size(); ++i) {
    if (with_value.count(args[i]) != 0 && i + 1 < args.size() && out->count(args[i]) == 0) {
      (*out)[args[i]] = args[i + 1];
      ++i;
    } else if (switches.count(args[i]) != 0) {
      (*out)[args[i]] = "1";
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace patchfarm
