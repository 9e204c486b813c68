#include "client/token_commands.h"

#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "common/secret_file.h"
#include "common/status_macros.h"
#include "coordinator/token_auth.h"
#include "core/tree/tree_path.h"

namespace patchfarm {
namespace {

constexpr char kUsage[] =
    "usage: patchfarm token new --roles ROLES [--comment TEXT] [--out FILE]\n"
    "       patchfarm token hash --roles ROLES [--comment TEXT] [--token-file FILE]   "
    "(else stdin)\n"
    "       patchfarm token convert --in FILE --out NEW_FILE\n"
    "       patchfarm token check --tokens FILE\n"
    "  ROLES: submit, request, worker, admin, comma-separated. The coordinator's "
    "--tokens file\n"
    "  holds 'sha256:<hex> <roles> [comment]' lines; clients keep the token itself "
    "(--token-file).\n";

constexpr size_t kNewTokenBytes = 32;

int Usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

int Fail(const absl::Status& status) {
  // Escaped: messages name paths from packages and text from servers.
  std::fprintf(stderr, "patchfarm token: %s\n", EscapeControls(status.message()).c_str());
  return 1;
}

// --name value pairs; false on anything else.
bool Parse(const std::vector<std::string>& args, const std::set<std::string>& with_value,
           std::map<std::string, std::string>* out) {
  for (size_t i = 1; i < args.size(); ++i) {  // args[0] is the subcommand.
    if (with_value.count(args[i]) == 0 || i + 1 >= args.size() || out->count(args[i]) != 0) {
      return false;
    }
    (*out)[args[i]] = args[i + 1];
    ++i;
  }
  return true;
}

// Creates `path` (never replacing a file) with `data`, mode 0600, whole and
// durable or not at all: written and synced under a temporary name, then
// linked to `path` (which fails if anything has the name).
absl::Status WriteNewPrivateFile(const std::string& path, absl::string_view data) {
  const auto exists = [&] {
    return absl::AlreadyExistsError(absl::StrCat(path, " exists; refusing to replace it"));
  };
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) return exists();
  FileSystem* fs = DefaultFileSystem();
  std::string temp;
  PF_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                      fs->CreateTemporary(path + ".tmp-", 0600, &temp));
  absl::Status written = file->Append(data);
  if (written.ok()) written = file->Sync();
  if (absl::Status closed = file->Close(); written.ok()) written = closed;
  if (written.ok() && link(temp.c_str(), path.c_str()) != 0) {
    written = errno == EEXIST ? exists() : ErrnoToStatus(errno, "link", path);
  }
  fs->Unlink(temp).IgnoreError();
  PF_RETURN_IF_ERROR(written);
  return fs->SyncDirectory(DirName(path));
}

int New(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  if (!Parse(args, {"--roles", "--comment", "--out"}, &f) || f["--roles"].empty())
    return Usage();
  unsigned char random[kNewTokenBytes];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return Fail(
        absl::InternalError("the system's random generator failed (OpenSSL RAND_bytes)"));
  }
  const std::string token = absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(random), sizeof(random)));
  auto line = TokenFileLine(token, f["--roles"], f["--comment"]);
  if (!line.ok()) return Fail(line.status());
  if (!f["--out"].empty()) {
    absl::Status written = WriteNewPrivateFile(f["--out"], token + "\n");
    if (!written.ok()) return Fail(written);
    std::printf("%s\n", line->c_str());
    std::fprintf(
        stderr,
        "patchfarm token: wrote the token to %s (mode 0600: the client's --token-file); "
        "the line above goes into the coordinator's --tokens file\n",
        f["--out"].c_str());
    return 0;
  }
  std::printf("%s\n%s\n", token.c_str(), line->c_str());
  std::fprintf(
      stderr,
      "patchfarm token: line 1 is the token (the client's --token-file, mode 0600); "
      "line 2 goes into the coordinator's --tokens file\n");
  return 0;
}

int Hash(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  if (!Parse(args, {"--roles", "--comment", "--token-file"}, &f) || f["--roles"].empty())
    return Usage();
  std::string token;
  if (!f["--token-file"].empty()) {
    auto read = ReadTokenFile(f["--token-file"]);
    if (!read.ok()) return Fail(read.status());
    token = *read;
  } else {
    std::getline(std::cin, token);
    absl::StripAsciiWhitespace(&token);
    if (token.empty()) return Fail(absl::InvalidArgumentError("no token on stdin"));
  }
  auto line = TokenFileLine(token, f["--roles"], f["--comment"]);
  if (!line.ok()) return Fail(line.status());
  std::printf("%s\n", line->c_str());
  return 0;
}

int Convert(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  if (!Parse(args, {"--in", "--out"}, &f) || f["--in"].empty() || f["--out"].empty())
    return Usage();
  auto text = ReadSecretFile(f["--in"], "the tokens file");
  if (!text.ok()) return Fail(text.status());
  auto hashed = HashTokensFile(*text);
  if (!hashed.ok())
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(f["--in"], ": ", hashed.status().message())));
  absl::Status written = WriteNewPrivateFile(f["--out"], *hashed);
  if (!written.ok()) return Fail(written);
  std::printf(
      "wrote %s: hashed tokens for the coordinator's --tokens; clients keep their token "
      "files\n",
      f["--out"].c_str());
  return 0;
}

int Check(const std::vector<std::string>& args) {
  std::map<std::string, std::string> f;
  if (!Parse(args, {"--tokens"}, &f) || f["--tokens"].empty()) return Usage();
  auto auth = TokenAuth::Load(f["--tokens"]);
  if (!auth.ok()) return Fail(auth.status());
  std::printf("%s: %zu token(s), ok\n", f["--tokens"].c_str(), (*auth)->size());
  return 0;
}

}  // namespace

int RunTokenCommand(const std::vector<std::string>& args) {
  if (args.empty()) return Usage();
  if (args[0] == "new") return New(args);
  if (args[0] == "hash") return Hash(args);
  if (args[0] == "convert") return Convert(args);
  if (args[0] == "check") return Check(args);
  return Usage();
}

}  // namespace patchfarm
