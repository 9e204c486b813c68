// patchfarm-coordinator --listen HOST:PORT --data DIR [--window N]
//     [--lease-seconds S] [--port-file FILE]
// Serves the farm's gRPC API until SIGTERM or SIGINT. Prints the address it
// listens on (port 0 picks a free one), and writes it to --port-file if given.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "common/file.h"
#include "coordinator/server.h"

namespace {

constexpr char kUsage[] =
    "usage: patchfarm-coordinator --listen HOST:PORT --data DIR [--window N] "
    "[--lease-seconds S] [--port-file FILE]\n";

}  // namespace

int main(int argc, char** argv) {
  patchfarm::ServerOptions options;
  std::string port_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--listen") {
      options.listen = value();
    } else if (arg == "--data") {
      options.data_dir = value();
    } else if (arg == "--port-file") {
      port_file = value();
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
  if (options.data_dir.empty() || options.listen.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
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
  std::fflush(stdout);
  if (!port_file.empty()) {
    absl::Status s = patchfarm::WriteFileAtomically(port_file, (*server)->address() + "\n");
    if (!s.ok()) std::fprintf(stderr, "patchfarm-coordinator: %s\n", std::string(s.message()).c_str());
  }
  int sig = 0;
  sigwait(&signals, &sig);
  std::printf("patchfarm-coordinator: signal %d, shutting down\n", sig);
  server->reset();
  return 0;
}
