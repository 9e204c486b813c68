// Channels from the CLI, workers and the publisher to a coordinator: message
// size limits, keepalive pings, and the caller's bearer token (read from a
// file, never from the command line) sent on every call.
//
// Keepalive: while a call is open the channel pings the coordinator every
// `keepalive` and fails the call UNAVAILABLE when a ping goes unanswered for
// `keepalive`. A call without a deadline (a publish, a one-off request, an
// upload) would otherwise wait for good on a coordinator that hangs or a
// network path that drops packets without a reset, holding what the caller
// holds (a product's publish lock). Coordinators accept pings that far apart
// (kMinPingInterval); they ping their clients too (coordinator/server.h).
#ifndef PATCHFARM_COMMON_GRPC_CHANNEL_H_
#define PATCHFARM_COMMON_GRPC_CHANNEL_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"

namespace patchfarm {

// The shortest interval between a client's pings that a coordinator accepts
// while no data flows; ChannelOptions::keepalive must not be shorter.
inline constexpr absl::Duration kMinPingInterval = absl::Seconds(10);

struct ChannelOptions {
  std::string token;  // Sent as "authorization: Bearer <token>" if set.
  // TLS: the CA that signed the coordinator's certificate (PEM). Empty:
  // plaintext, which coordinators accept on loopback only.
  std::string tls_ca_pem;
  // Mutual TLS: this client's certificate and key (PEM), if the coordinator
  // requires one.
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Ping interval and ping timeout while calls are open (tests shorten it).
  absl::Duration keepalive = absl::Seconds(20);
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
