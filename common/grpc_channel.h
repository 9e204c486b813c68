// Channels from the CLI, workers and the publisher to a coordinator: message
// size limits, and the caller's bearer token (read from a file, never from the
// command line) sent on every call.
#ifndef PATCHFARM_COMMON_GRPC_CHANNEL_H_
#define PATCHFARM_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/channel.h"

namespace patchfarm {

struct ChannelOptions {
  std::string token;  // Sent as "authorization: Bearer <token>" if set.
  // TLS: the CA that signed the coordinator's certificate (PEM). Empty:
  // plaintext, which coordinators accept on loopback only.
  std::string tls_ca_pem;
  // Mutual TLS: this client's certificate and key (PEM), if the coordinator
  // requires one.
  std::string tls_cert_pem;
  std::string tls_key_pem;
};

// Reads --tls-ca / --tls-cert / --tls-key files into `options` (empty paths
// are skipped).
absl::Status LoadTlsFiles(const std::string& ca, const std::string& cert, const std::string& key,
                          ChannelOptions* options);

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, const ChannelOptions& options);

// The token in `path` (the first line, trimmed). InvalidArgument if empty;
// PermissionDenied if the file's mode lets others at it (0600 and 0400 are
// accepted, and 0440 owned by root as Kubernetes mounts secrets: see
// common/secret_file.h); the message names the file and its mode.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace patchfarm

#endif  // PATCHFARM_COMMON_GRPC_CHANNEL_H_
