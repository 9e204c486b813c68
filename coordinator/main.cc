// patchfarm-coordinator --listen HOST:PORT --data DIR [--window N]
//     [--lease-seconds S] [--port-file FILE] [--http-listen HOST:PORT] [--tokens FILE]
//     [--insecure-no-auth]
//     [--site DIR --key KEYFILE [--motd TEXT]]
// Serves the farm's gRPC API until SIGTERM or SIGINT. Prints the address it
// listens on (port 0 picks a free one), and writes it to --port-file if given.
// With --site and --key it publishes each product whenever its jobs finish.
// With --http-listen it serves /metrics (Prometheus) and / (status page).
// Without --tokens it listens only on loopback, unless --insecure-no-auth.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "common/file.h"
#include "common/grpc_channel.h"
#include "coordinator/auto_publisher.h"
#include "coordinator/server.h"

namespace {

constexpr char kUsage[] =
    "usage: patchfarm-coordinator --listen HOST:PORT --data DIR [--window N] "
    "[--lease-seconds S] [--port-file FILE] [--http-listen HOST:PORT]\n"
    "       [--tokens FILE]   (bearer tokens with roles, required on every call)\n"
    "       [--insecure-no-auth]  (listen off loopback without --tokens: every client is admin)\n"
    "       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] | [--plaintext]  (loopback only)\n"
    "       [--upload-mib-per-second N] [--max-streams-per-client N]   (per client limits)\n"
    "       [--site DIR --key KEYFILE [--motd TEXT]]\n"
    "                         (publish after each release)\n";

}  // namespace

int main(int argc, char** argv) {
  patchfarm::ServerOptions options;
  std::string port_file, site, key_file, motd;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--listen") {
      options.listen = value();
    } else if (arg == "--data") {
      options.data_dir = value();
    } else if (arg == "--port-file") {
      port_file = value();
    } else if (arg == "--plaintext") {
      options.plaintext = true;
      continue;
    } else if (arg == "--insecure-no-auth") {
      options.insecure_no_auth = true;
      continue;
    } else if (arg == "--tls-cert") {
      options.tls_cert_file = value();
    } else if (arg == "--tls-key") {
      options.tls_key_file = value();
    } else if (arg == "--tls-client-ca") {
      options.tls_client_ca_file = value();
    } else if (arg == "--upload-mib-per-second") {
      uint64_t mib = 0;
      if (!absl::SimpleAtoi(value(), &mib)) {
        std::fputs(kUsage, stderr);
        return 2;
      }
      options.upload_bytes_per_second = mib << 20;
    } else if (arg == "--max-streams-per-client") {
      if (!absl::SimpleAtoi(value(), &options.max_streams_per_client) || options.max_streams_per_client < 1) {
        std::fputs(kUsage, stderr);
        return 2;
      }
    } else if (arg == "--tokens") {
      options.tokens_file = value();
    } else if (arg == "--http-listen") {
      options.http_listen = value();
    } else if (arg == "--site") {
      site = value();
    } else if (arg == "--key") {
      key_file = value();
    } else if (arg == "--motd") {
      motd = value();
    } else if (arg == "--window") {
      if (!absl::SimpleAtoi(value(), &options.coordinator.policy.cumulative_window)) {
        std::fputs(kUsage, stderr);
        return 2;
      }
    } else if (arg == "--lease-seconds") {
      if (!absl::SimpleAtod(value(), &options.coordinator.lease_seconds)) {
        std::fputs(kUsage, stderr);
        return 2;
      }
    } else {
      std::fputs(kUsage, stderr);
      return 2;
    }
  }
  if (options.data_dir.empty() || options.listen.empty() || site.empty() != key_file.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  options.coordinator.log = [](const std::string& line) {
    std::printf("patchfarm-coordinator: %s\n", line.c_str());
    std::fflush(stdout);
  };
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // Threads started below inherit it.
  std::signal(SIGPIPE, SIG_IGN);
  auto server = patchfarm::CoordinatorServer::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "patchfarm-coordinator: %s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  std::printf("patchfarm-coordinator: listening on %s, data in %s\n",
              (*server)->address().c_str(), options.data_dir.c_str());
  if (!options.http_listen.empty()) {
    std::printf("patchfarm-coordinator: metrics and status page on http://%s/\n",
                (*server)->http_address().c_str());
  }
  std::fflush(stdout);
  if (!port_file.empty()) {
    absl::Status s = patchfarm::WriteFileAtomically(port_file, (*server)->address() + "\n");
    if (!s.ok()) std::fprintf(stderr, "patchfarm-coordinator: %s\n", std::string(s.message()).c_str());
  }
  std::unique_ptr<patchfarm::AutoPublisher> publisher;
  if (!site.empty()) {
    auto key = patchfarm::ReadFileToString(key_file);
    if (!key.ok()) {
      std::fprintf(stderr, "patchfarm-coordinator: %s\n", std::string(key.status().message()).c_str());
      return 1;
    }
    patchfarm::PublishOptions publish;
    publish.private_key_pem = *key;
    publish.out_dir = site;
    publish.motd = motd;
    publisher = std::make_unique<patchfarm::AutoPublisher>((*server)->coordinator(),
                                                           (*server)->blobs(), publish);
  }
  int sig = 0;
  sigwait(&signals, &sig);
  if (publisher) publisher->Stop();
  std::printf("patchfarm-coordinator: signal %d, shutting down\n", sig);
  server->reset();
  return 0;
}
