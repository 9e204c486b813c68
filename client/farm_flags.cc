#include "client/farm_flags.h"

#include <chrono>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "common/grpc_channel.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace farm_cli {

bool Flags::Parse(const std::vector<std::string>& args, const std::set<std::string>& with_value,
                  const std::set<std::string>& without_value) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (with_value.count(a) != 0) {
      // Given twice: which one was meant? (`--out prod ... --out test`)
      if (i + 1 >= args.size() || values.count(a) != 0) return false;
      values[a] = args[++i];
    } else if (without_value.count(a) != 0) {
      switches.insert(a);
    } else if (a.size() > 1 && a[0] == '-') {
      return false;
    } else {
      positional.push_back(a);
    }
  }
  return true;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

int Usage(const char* usage) {
  std::fprintf(stderr,
               "usage: patchfarm %s\n"
               "  with a secured coordinator: [--token-file FILE] [--tls-ca FILE "
               "[--tls-cert FILE --tls-key FILE]]\n",
               usage);
  return 2;
}

int Fail(const absl::Status& status) {
  // Escaped: messages name paths from packages and text from servers.
  std::fprintf(stderr, "patchfarm: %s\n", EscapeControls(status.message()).c_str());
  return 1;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Connect(const Flags& f) {
  ChannelOptions options;
  if (!f.Get("--token-file").empty()) {
    PF_ASSIGN_OR_RETURN(options.token, ReadTokenFile(f.Get("--token-file")));
  }
  PF_RETURN_IF_ERROR(LoadTlsFiles(f.Get("--tls-ca"), f.Get("--tls-cert"), f.Get("--tls-key"), &options));
  return MakeChannel(f.Get("--coordinator"), options);
}

std::unique_ptr<grpc::ClientContext> Context(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (seconds > 0) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  }
  return context;
}

absl::Status WithWhere(const std::string& where, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(where, ": ", status.message()));
}

int Run(const std::vector<std::string>& args, const char* usage,
        const std::set<std::string>& with_value, const std::set<std::string>& switches,
        const std::vector<std::string>& required, size_t positional,
        absl::Status (*command)(const Flags&)) {
  Flags f;
  std::set<std::string> values = with_value;
  for (const char* v : {"--token-file", "--tls-ca", "--tls-cert", "--tls-key"}) {
    values.insert(v);  // Every farm verb may carry a token and TLS settings.
  }
  if (!f.Parse(args, values, switches) || f.positional.size() != positional) return Usage(usage);
  for (const std::string& name : required) {
    if (f.Get(name).empty()) return Usage(usage);
  }
  absl::Status status = command(f);
  return status.ok() ? 0 : Fail(status);
}

}  // namespace farm_cli
}  // namespace patchfarm
