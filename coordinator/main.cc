// patchfarm-coordinator --listen HOST:PORT --data DIR [flags; --help lists them]
// Serves the farm's gRPC API until SIGTERM or SIGINT. Prints the address it
// listens on (port 0 picks a free one), and writes it to --port-file if given.
// With --site and --key it publishes each product whenever its jobs finish.
// With --http-listen it serves /metrics (Prometheus) and / (status page).
// Without --tokens it listens only on loopback, unless --insecure-no-auth.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "common/file.h"
#include "common/flags.h"
#include "common/log_writer.h"
#include "common/malloc_tuning.h"
#include "common/open_file_limit.h"
#include "coordinator/auto_publisher.h"
#include "coordinator/server.h"

using Window = patchfarm::Count<1, 1000>;
using MibPerSecond = patchfarm::Count<0, (1 << 20)>;
using Streams = patchfarm::Count<1, 100000>;

ABSL_FLAG(std::string, listen, "", "host:port to serve the gRPC API on (port 0 picks a free one)");
ABSL_FLAG(std::string, data, "", "directory of the coordinator's state (RocksDB) and blobs");
ABSL_FLAG(std::string, port_file, "", "file to write the address listened on to");
ABSL_FLAG(std::string, http_listen, "",
          "host:port to serve /metrics (Prometheus) and / (status page) on; plaintext");
ABSL_FLAG(std::string, tokens, "",
          "file of hashed bearer tokens with roles (patchfarm token new), required on every call");
ABSL_FLAG(bool, insecure_no_auth, false,
          "listen off loopback without --tokens: every client is admin");
ABSL_FLAG(std::string, tls_cert, "", "server certificate (PEM); with --tls-key");
ABSL_FLAG(std::string, tls_key, "", "server private key (PEM)");
ABSL_FLAG(std::string, tls_client_ca, "", "CA (PEM) that client certificates must chain to");
ABSL_FLAG(bool, plaintext, false, "serve without TLS (loopback only)");
ABSL_FLAG(Window, window, Window{10},
          "cumulative patches from the last N formal versions (a product's policy overrides it)");
ABSL_FLAG(patchfarm::Seconds, lease_seconds, patchfarm::Seconds{absl::Seconds(30)},
          "a worker silent this long loses its jobs");
ABSL_FLAG(MibPerSecond, upload_mib_per_second, MibPerSecond{0},
          "upload limit per client address in MiB/s; 0: unlimited");
ABSL_FLAG(patchfarm::ByteSize, segment_size, patchfarm::ByteSize{uint64_t{1} << 30},
          "split file pairs whose new file is larger (also a tree release's file at the same "
          "path in both trees) into segment jobs of about this many bytes of new, run by "
          "several workers at once (64G or more: never)");
ABSL_FLAG(patchfarm::ByteSize, index_part_size, patchfarm::ByteSize{uint64_t{1} << 30},
          "a split pair's old file is indexed in parts of this many bytes (at least 1M), one "
          "index job each, run by several workers at once before its segment jobs");
ABSL_FLAG(patchfarm::ByteSize, min_free_disk, patchfarm::ByteSize{uint64_t{1} << 30},
          "refuse uploads that would leave less free on --data's disk (its own writes need room)");
ABSL_FLAG(Streams, max_streams_per_client, Streams{64}, "concurrent calls per connection");
ABSL_FLAG(std::string, site, "", "publish each product here whenever its jobs finish; with --key");
ABSL_FLAG(std::string, key, "", "Ed25519 private key (patchfarm keygen) that signs the site");
ABSL_FLAG(std::string, motd, "", "message of the day of the published site");
ABSL_FLAG(patchfarm::ByteSize, publish_max_memory, patchfarm::ByteSize{0},
          "memory a publish may take to build a full package: larger files are compressed in "
          "bounded memory, as publish --max-memory does (default: half the memory the coordinator "
          "may use, the machine's or its container's limit)");

namespace {

const patchfarm::DaemonFlags kFlags{
    "patchfarm-coordinator",
    "usage: patchfarm-coordinator --listen HOST:PORT --data DIR [--tokens FILE]\n"
    "       [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] | [--plaintext]\n"
    "       [--site DIR --key KEYFILE] [flags below]\n",
    "coordinator/main.cc"};

}  // namespace

int main(int argc, char** argv) {
  if (std::optional<int> exit_code = kFlags.Parse(argc, argv)) return *exit_code;
  patchfarm::TuneMallocForStreaming();
  patchfarm::RaiseOpenFileLimit();
  patchfarm::ServerOptions options;
  options.listen = absl::GetFlag(FLAGS_listen);
  options.data_dir = absl::GetFlag(FLAGS_data);
  options.http_listen = absl::GetFlag(FLAGS_http_listen);
  options.tokens_file = absl::GetFlag(FLAGS_tokens);
  options.insecure_no_auth = absl::GetFlag(FLAGS_insecure_no_auth);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.plaintext = absl::GetFlag(FLAGS_plaintext);
  options.coordinator.policy.cumulative_window = static_cast<int>(absl::GetFlag(FLAGS_window).value);
  options.coordinator.lease = absl::GetFlag(FLAGS_lease_seconds).duration;
  options.coordinator.segment_bytes = absl::GetFlag(FLAGS_segment_size).bytes;
  options.coordinator.index_part_bytes = absl::GetFlag(FLAGS_index_part_size).bytes;
  options.upload_bytes_per_second = static_cast<uint64_t>(absl::GetFlag(FLAGS_upload_mib_per_second).value) << 20;
  options.min_free_disk_bytes = absl::GetFlag(FLAGS_min_free_disk).bytes;
  options.max_streams_per_client = static_cast<int>(absl::GetFlag(FLAGS_max_streams_per_client).value);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  const std::string site = absl::GetFlag(FLAGS_site);
  const std::string key_file = absl::GetFlag(FLAGS_key);
  const std::string motd = absl::GetFlag(FLAGS_motd);
  if (options.data_dir.empty() || options.listen.empty()) return kFlags.UsageError("--listen and --data are required");
  if (site.empty() != key_file.empty()) return kFlags.UsageError("--site and --key go together");
  if (options.coordinator.index_part_bytes < (uint64_t{1} << 20)) {
    return kFlags.UsageError(absl::StrCat("bad value for --index-part-size: ",
                                          options.coordinator.index_part_bytes,
                                          " bytes: at least 1M"));
  }
  // The coordinator logs under its state's lock: never on a stalled stdout.
  patchfarm::LogWriter log_writer(stdout, "patchfarm-coordinator: ");
  options.coordinator.log = [&log_writer](const std::string& line) { log_writer.Write(line); };
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
    publish.max_memory = absl::GetFlag(FLAGS_publish_max_memory).bytes;
    publisher = std::make_unique<patchfarm::AutoPublisher>(
        (*server)->coordinator(), (*server)->blobs(), publish, options.coordinator.log);
  }
  int sig = 0;
  sigwait(&signals, &sig);
  if (publisher) publisher->Stop();
  std::printf("patchfarm-coordinator: signal %d, shutting down\n", sig);
  server->reset();
  return 0;
}
