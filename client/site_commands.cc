#include "client/site_commands.h"

#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/byte_size.h"
#include "common/ed25519.h"
#include "common/file.h"
#include "common/flags.h"
#include "common/grpc_channel.h"
#include "common/status_macros.h"
#include "core/tree/tree_path.h"
#include "client/cli_args.h"
#include "client/retention_commands.h"
#include "publisher/publisher.h"

namespace patchfarm {
int RunKeygenCommand(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  if (!ParseArgs(args, {"--out"}, {}, &f) || f["--out"].empty()) return Usage("keygen --out KEYFILE");
  auto keys = GenerateEd25519KeyPair();
  if (!keys.ok()) return Fail(keys.status());
  // Neither is replaced (a dangling symlink counts): the public key may be
  // the one pinned in every updater.
  for (const std::string& path : {f["--out"], f["--out"] + ".pub"}) {
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
      return Fail(absl::AlreadyExistsError(path + " exists; refusing to replace a signing key"));
    }
  }
  absl::Status status = WriteFileAtomically(f["--out"], keys->private_pem, 0600);
  if (status.ok()) status = WriteFileAtomically(f["--out"] + ".pub", keys->public_pem, 0644);
  if (!status.ok()) return Fail(status);
  std::printf("wrote %s (private, keep it secret) and %s.pub (pin it in updaters)\n",
              f["--out"].c_str(), f["--out"].c_str());
  return 0;
}

int RunPublishCommand(const std::vector<std::string>& args) {
  static const char* kUsage =
      "publish --coordinator HOST:PORT --product P --key KEYFILE --out SITE_DIR [--motd TEXT] "
      "[--valid-days N] [--max-memory SIZE] [--dry-run]";
  std::map<std::string, std::string> f;
  if (!ParseArgs(args, {"--coordinator", "--product", "--key", "--out", "--motd", "--valid-days", "--token-file",
              "--tls-ca", "--tls-cert", "--tls-key", "--max-memory"},
             {"--dry-run"}, &f) ||
      f["--coordinator"].empty() || f["--product"].empty() || f["--key"].empty() || f["--out"].empty()) {
    return Usage(kUsage);
  }
  PublishOptions options;
  options.coordinator = f["--coordinator"];
  options.product = f["--product"];
  options.out_dir = f["--out"];
  options.motd = f["--motd"];
  options.dry_run = f.count("--dry-run") != 0;
  if (!f["--valid-days"].empty()) {
    int64_t days = 0;
    std::string error;
    if (!ParseCount(f["--valid-days"], 1, 3650, &days, &error)) {
      std::fprintf(stderr, "patchfarm: bad value for --valid-days: '%.64s': %s\n",
                   f["--valid-days"].c_str(), error.c_str());
      return Usage(kUsage);
    }
    options.valid_days = static_cast<int>(days);
  }
  if (!f["--max-memory"].empty() && !ParseByteSize(f["--max-memory"], &options.max_memory)) {
    std::fprintf(stderr, "patchfarm: bad value for --max-memory: '%.64s'\n",
                 f["--max-memory"].c_str());
    return Usage(kUsage);
  }
  auto key = ReadFileToString(f["--key"]);
  if (!key.ok()) return Fail(key.status());
  options.private_key_pem = *key;
  if (!f["--token-file"].empty()) {
    auto token = ReadTokenFile(f["--token-file"]);
    if (!token.ok()) return Fail(token.status());
    options.token = *token;
  }
  ChannelOptions tls;
  absl::Status loaded = LoadTlsFiles(f["--tls-ca"], f["--tls-cert"], f["--tls-key"], &tls);
  if (!loaded.ok()) return Fail(loaded);
  options.tls_ca_pem = tls.tls_ca_pem;
  options.tls_cert_pem = tls.tls_cert_pem;
  options.tls_key_pem = tls.tls_key_pem;
  auto report = Publish(options);
  if (!report.ok()) return Fail(report.status());
  if (options.dry_run) {
    std::printf("dry run: %s would get serial %llu, %d channel(s)\n", report->site.c_str(),
                static_cast<unsigned long long>(report->serial), report->channels);
    for (const auto& [what, names] : {std::pair<const char*, const std::vector<std::string>*>{
                                          "add", &report->added},
                                      {"replace", &report->replaced},
                                      {"keep", &report->kept},
                                      {"remove", &report->removed}}) {
      for (const std::string& name : *names) std::printf("%s %s\n", what, name.c_str());
    }
  } else {
    std::printf("published %s: serial %llu, %d channel(s), %d files, %llu bytes, %d package(s) "
                "checked by applying them\n",
                report->site.c_str(), static_cast<unsigned long long>(report->serial),
                report->channels, report->files, static_cast<unsigned long long>(report->bytes),
                report->checked);
  }
  for (const std::string& note : report->notes) {
    std::printf("note: %s\n", EscapeControls(note).c_str());
  }
  if (options.dry_run) {
    std::printf("%s", SizesText(report->sizes, report->gated).c_str());
    std::printf("dry run: nothing under %s was changed\n", options.out_dir.c_str());
  } else {
    for (const GatedPackage& g : report->gated) {
      std::printf("not published: %s/%s (%llu bytes; the full package of %s is %llu bytes)\n",
                  g.channel.c_str(), g.name.c_str(), static_cast<unsigned long long>(g.bytes),
                  g.to_version.c_str(), static_cast<unsigned long long>(g.full_bytes));
    }
    for (const RefusedPackage& r : report->refused) {
      std::printf("refused: %s/%s (job %s) does not rebuild %s from %s: %s; the job: %s\n",
                  r.channel.c_str(), r.name.c_str(), r.job_id.c_str(), r.to_version.c_str(),
                  r.from_version.c_str(), EscapeControls(r.reason).c_str(),
                  EscapeControls(r.rerun).c_str());
    }
  }
  return 0;
}

}  // namespace patchfarm
