#include "coordinator/token_auth.h"

#include <sys/stat.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

unsigned Bit(Role role) { return 1u << static_cast<unsigned>(role); }

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::Load(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoToStatus(errno, "stat", path);
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(path, ": the tokens file must be mode 600"));
  }
  PF_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  return Parse(std::string(file->data()));
}

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::Parse(const std::string& text) {
  auto auth = std::make_unique<TokenAuth>();
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (fields.size() < 2 || fields[0].size() < 16) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokens line ", line_number, ": want '<token of 16+ characters> <roles> [comment]'"));
    }
    unsigned roles = 0;
    for (absl::string_view role : absl::StrSplit(fields[1], ',')) {
      if (role == "submit") roles |= Bit(Role::kSubmit);
      else if (role == "request") roles |= Bit(Role::kRequest);
      else if (role == "worker") roles |= Bit(Role::kWorker);
      else if (role == "admin") roles |= Bit(Role::kAdmin);
      else return absl::InvalidArgumentError(absl::StrCat("tokens line ", line_number, ": unknown role '", role, "'"));
    }
    auth->roles_[std::string(fields[0])] = roles;
  }
  if (auth->roles_.empty()) return absl::InvalidArgumentError("the tokens file has no token");
  return auth;
}

grpc::Status TokenAuth::Check(const grpc::ServerContext* context, std::initializer_list<Role> roles) const {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a bearer token is required");
  }
  absl::string_view value(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "authorization must be 'Bearer <token>'");
  }
  auto found = roles_.find(std::string(value));
  if (found == roles_.end()) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  if (found->second & Bit(Role::kAdmin)) return grpc::Status::OK;
  for (Role role : roles) {
    if (found->second & Bit(role)) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "this token's roles do not allow this call");
}

}  // namespace patchfarm
