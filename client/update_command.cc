#include "client/update_command.h"

#include <cstdio>
#include <map>

#include "client/cli_args.h"
#include "common/file.h"
#include "updater/updater.h"

namespace patchfarm {

int RunUpdateCommand(const std::vector<std::string>& args) {
  static const char* kUsage =
      "update --index URL --pubkey KEYFILE.pub --install DIR [--check] [--platform X]\n"
      "       [--product P] [--channel C]";
  std::map<std::string, std::string> f;
  if (!ParseArgs(args, {"--index", "--pubkey", "--install", "--platform", "--product", "--channel"},
                 {"--check"}, &f) ||
      f["--index"].empty() || f["--pubkey"].empty() || f["--install"].empty()) {
    return Usage(kUsage);
  }
  UpdateOptions options;
  options.index_url = f["--index"];
  options.install_dir = f["--install"];
  options.platform = f["--platform"];
  options.product = f["--product"];
  options.channel = f["--channel"];
  options.check_only = f.count("--check") != 0;
  options.log = [](const std::string& line) {
    std::fprintf(stderr, "%s\n", line.c_str());
  };
  auto key = ReadFileToString(f["--pubkey"]);
  if (!key.ok()) return Fail(key.status());
  options.public_key_pem = *key;
  auto report = RunUpdate(options);
  if (!report.ok()) return Fail(report.status());
  if (options.check_only) {
    std::printf("installed: %s\nnewest: %s\nmotd: %s\ndownload: %llu bytes (%s)\n",
                report->installed.empty() ? "none" : report->installed.c_str(),
                report->newest.c_str(), report->motd.c_str(),
                static_cast<unsigned long long>(report->download_bytes),
                report->way.empty() ? "up to date" : report->way.c_str());
    if (!report->path.empty()) std::printf("path: %s\n", report->path.c_str());
  } else if (report->updated) {
    std::printf("updated %s -> %s (%s, %llu bytes)\n",
                report->installed.empty() ? "nothing" : report->installed.c_str(),
                report->newest.c_str(), report->way.c_str(),
                static_cast<unsigned long long>(report->download_bytes));
  } else {
    std::printf("up to date: %s\n", report->newest.empty() ? "(self-update disabled)" : report->newest.c_str());
  }
  return 0;
}

}  // namespace patchfarm
