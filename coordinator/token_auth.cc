#include "coordinator/token_auth.h"

#include <openssl/crypto.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/secret_file.h"
#include "common/status_macros.h"

namespace patchfarm {
namespace {

constexpr absl::string_view kHashPrefix = "sha256:";

unsigned Bit(Role role) { return 1u << static_cast<unsigned>(role); }

// "submit,request" -> bit set. InvalidArgument naming an unknown role.
absl::StatusOr<unsigned> ParseRoles(absl::string_view text) {
  unsigned roles = 0;
  for (absl::string_view role : absl::StrSplit(text, ',')) {
    if (role == "submit") {
      roles |= Bit(Role::kSubmit);
    } else if (role == "request") {
      roles |= Bit(Role::kRequest);
    } else if (role == "worker") {
      roles |= Bit(Role::kWorker);
    } else if (role == "admin") {
      roles |= Bit(Role::kAdmin);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown role '", role, "' (roles: submit, request, worker, admin)"));
    }
  }
  return roles;
}

// A line cut into its first field, its second, and the rest (the comment).
struct Fields {
  absl::string_view first, second, rest;
};

Fields SplitLine(absl::string_view line) {
  Fields f;
  std::pair<absl::string_view, absl::string_view> a =
      absl::StrSplit(line, absl::MaxSplits(absl::ByAnyChar(" \t"), 1));
  f.first = a.first;
  std::pair<absl::string_view, absl::string_view> b =
      absl::StrSplit(absl::StripLeadingAsciiWhitespace(a.second),
                     absl::MaxSplits(absl::ByAnyChar(" \t"), 1));
  f.second = b.first;
  f.rest = absl::StripAsciiWhitespace(b.second);
  return f;
}

// 64 hex digits -> digest; false if malformed.
bool ParseHexDigest(absl::string_view hex, Digest* digest) {
  if (hex.size() != 2 * digest->size()) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), digest->begin());
  return true;
}

std::string LineError(int line_number, absl::string_view message) {
  return absl::StrCat("tokens line ", line_number, ": ", message);
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::Load(const std::string& path) {
  PF_ASSIGN_OR_RETURN(std::string text, ReadSecretFile(path, "the tokens file"));
  absl::StatusOr<std::unique_ptr<TokenAuth>> auth = Parse(text);
  if (!auth.ok())
    return absl::Status(auth.status().code(),
                        absl::StrCat(path, ": ", auth.status().message()));
  return auth;
}

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::Parse(absl::string_view text) {
  auto auth = std::make_unique<TokenAuth>();
  std::vector<int> entry_lines;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    Fields f = SplitLine(line);
    if (!absl::StartsWith(f.first, kHashPrefix)) {
      // The token itself is not repeated: error messages end up in logs.
      return absl::InvalidArgumentError(LineError(
          line_number,
          absl::StrCat(
              "a token in clear text; the tokens file holds SHA-256 hashes of tokens "
              "(\"sha256:<64 hex digits> <roles> [comment]\"). Convert the whole file "
              "with "
              "`patchfarm token convert --in FILE --out NEW_FILE`, or replace this line "
              "with "
              "the output of `patchfarm token hash --roles ",
              f.second.empty() ? "ROLES" : f.second,
              "` given the token on stdin; clients keep their token files as they are")));
    }
    Entry entry;
    if (!ParseHexDigest(f.first.substr(kHashPrefix.size()), &entry.hash)) {
      return absl::InvalidArgumentError(LineError(
          line_number,
          "malformed hash: want sha256: and 64 hex digits (patchfarm token hash)"));
    }
    if (f.second.empty()) {
      return absl::InvalidArgumentError(LineError(
          line_number, "no roles: want 'sha256:<64 hex digits> <roles> [comment]'"));
    }
    absl::StatusOr<unsigned> roles = ParseRoles(f.second);
    if (!roles.ok())
      return absl::InvalidArgumentError(LineError(line_number, roles.status().message()));
    entry.roles = *roles;
    for (size_t i = 0; i < auth->entries_.size(); ++i) {
      if (auth->entries_[i].hash == entry.hash) {
        return absl::InvalidArgumentError(LineError(
            line_number, absl::StrCat("the same token as line ", entry_lines[i])));
      }
    }
    auth->entries_.push_back(entry);
    entry_lines.push_back(line_number);
  }
  if (auth->entries_.empty())
    return absl::InvalidArgumentError("the tokens file has no token");
  return auth;
}

grpc::Status TokenAuth::Check(const grpc::ServerContext* context,
                              std::initializer_list<Role> roles) const {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return CheckHeader(nullptr, roles);
  const absl::string_view value(it->second.data(), it->second.size());
  return CheckHeader(&value, roles);
}

grpc::Status TokenAuth::CheckHeader(const absl::string_view* authorization,
                                    std::initializer_list<Role> roles) const {
  if (authorization == nullptr) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "a bearer token is required");
  }
  absl::string_view value = *authorization;
  if (!absl::ConsumePrefix(&value, "Bearer ")) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization must be 'Bearer <token>'");
  }
  return CheckToken(value, roles);
}

grpc::Status TokenAuth::CheckToken(absl::string_view token,
                                   std::initializer_list<Role> roles) const {
  const Digest hash = Sha256Of(token);
  // Every entry is compared, in constant time, whatever matched before.
  unsigned held = 0;
  unsigned known = 0;
  for (const Entry& entry : entries_) {
    const unsigned equal =
        CRYPTO_memcmp(hash.data(), entry.hash.data(), hash.size()) == 0 ? 1u : 0u;
    held |= entry.roles & (0u - equal);
    known |= equal;
  }
  if (!known) return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "unknown token");
  if (held & Bit(Role::kAdmin)) return grpc::Status::OK;
  for (Role role : roles) {
    if (held & Bit(role)) return grpc::Status::OK;
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                      "this token's roles do not allow this call");
}

absl::StatusOr<std::string> TokenFileLine(absl::string_view token,
                                          absl::string_view roles,
                                          absl::string_view comment) {
  if (token.size() < kMinTokenLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("a token must have ", kMinTokenLength,
                     " characters or more (patchfarm token new makes one)"));
  }
  for (char c : token) {
    if (c <= ' ' || c > '~') {
      return absl::InvalidArgumentError("a token is printable ASCII without spaces");
    }
  }
  if (roles.empty())
    return absl::InvalidArgumentError("no roles (submit, request, worker, admin)");
  PF_RETURN_IF_ERROR(ParseRoles(roles).status());
  if (absl::StrContains(comment, '\n') || absl::StrContains(comment, '\r')) {
    return absl::InvalidArgumentError("a comment is one line");
  }
  std::string line = absl::StrCat(kHashPrefix, DigestToHex(Sha256Of(token)), " ", roles);
  comment = absl::StripAsciiWhitespace(comment);
  if (!comment.empty()) absl::StrAppend(&line, " ", comment);
  return line;
}

absl::StatusOr<std::string> HashTokensFile(absl::string_view text) {
  std::string out;
  int line_number = 0;
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // The final newline.
  for (absl::string_view raw : lines) {
    ++line_number;
    absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line[0] == '#' || absl::StartsWith(line, kHashPrefix)) {
      absl::StrAppend(&out, raw, "\n");
      continue;
    }
    Fields f = SplitLine(line);
    absl::StatusOr<std::string> hashed = TokenFileLine(f.first, f.second, f.rest);
    if (!hashed.ok())
      return absl::InvalidArgumentError(
          LineError(line_number, hashed.status().message()));
    absl::StrAppend(&out, *hashed, "\n");
  }
  PF_RETURN_IF_ERROR(TokenAuth::Parse(out).status());
  return out;
}

}  // namespace patchfarm
